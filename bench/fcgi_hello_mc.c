/*
 * bench/fcgi_hello_mc.c - the floor cost of a cached page for the benchmark (row 2b): the same
 * minimal libfcgi app as fcgi_hello.c, but every request fetches the page with ONE memcached get
 * (binary protocol, SASL PLAIN, TCP_NODELAY) of a value stored once at start. It is what a cached
 * GET / cannot beat: one loopback round trip per request.
 * Owns: nothing of the product. Adapted from /work/shared/recipes/fcgi-hello-memcached.c.
 * usage: fcgi_hello_mc --listen SOCKET_PATH WORKERS BODY_FILE [PIDFILE]
 *   env MC_HOST (127.0.0.1), MC_PORT, MC_USER, MC_PASS
 * Built by bench/run.sh with gcc -O2 and pkg-config (not through meson).
 */
#include <fcgiapp.h>
#include <libmemcached/memcached.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY "bench-floor:page"

static memcached_st *connect_mc(void)
{
    const char *host = getenv("MC_HOST") ? getenv("MC_HOST") : "127.0.0.1";
    const char *port = getenv("MC_PORT") ? getenv("MC_PORT") : "11211";
    memcached_st *mc = memcached_create(NULL);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_server_add(mc, host, (in_port_t)atoi(port));
    if (getenv("MC_USER"))
        memcached_set_sasl_auth_data(mc, getenv("MC_USER"), getenv("MC_PASS") ? getenv("MC_PASS") : "");
    return mc;
}

static void serve(int fd)
{
    memcached_st *mc = connect_mc();
    FCGX_Request req;
    FCGX_InitRequest(&req, fd, 0);
    while (FCGX_Accept_r(&req) >= 0) {
        size_t len = 0;
        uint32_t flags;
        memcached_return_t rc;
        char *v = memcached_get(mc, KEY, strlen(KEY), &len, &flags, &rc);
        if (v) {
            FCGX_FPrintF(req.out, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n",
                         (int)len);
            FCGX_PutStr(v, (int)len, req.out);
            free(v);
        } else {
            FCGX_FPrintF(req.out, "Status: 503\r\nContent-Type: text/plain\r\n\r\nmemcached: %s\n",
                         memcached_strerror(mc, rc));
        }
        FCGX_Finish_r(&req);
    }
    memcached_free(mc);
}

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[1], "--listen") != 0) {
        fprintf(stderr, "usage: %s --listen SOCKET_PATH WORKERS BODY_FILE [PIDFILE]\n", argv[0]);
        return 2;
    }
    static char body[1 << 20];
    size_t n = 0;
    FILE *f = fopen(argv[4], "rb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    n = fread(body, 1, sizeof body, f);
    fclose(f);
    memcached_st *mc = connect_mc();
    memcached_return_t rc = memcached_set(mc, KEY, strlen(KEY), body, n, 0, 0);
    if (rc != MEMCACHED_SUCCESS) {
        fprintf(stderr, "memcached set failed: %s\n", memcached_strerror(mc, rc));
        return 1;
    }
    memcached_free(mc);

    FCGX_Init();
    unlink(argv[2]);
    int fd = FCGX_OpenSocket(argv[2], 1024);
    if (fd < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[2], 0666);
    int k = atoi(argv[3]);
    if (k < 1)
        k = 1;
    if (k > 64)
        k = 64;
    pid_t kids[64];
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigprocmask(SIG_BLOCK, &s, NULL);
    for (int i = 0; i < k; i++) {
        if ((kids[i] = fork()) == 0) {
            sigprocmask(SIG_UNBLOCK, &s, NULL);
            serve(fd);
            _exit(0);
        }
    }
    if (argc > 5) {
        FILE *p = fopen(argv[5], "w");
        if (p) {
            fprintf(p, "%d\n", (int)getpid());
            fclose(p);
        }
    }
    int sig;
    sigwait(&s, &sig);
    for (int i = 0; i < k; i++)
        kill(kids[i], SIGTERM);
    while (wait(NULL) > 0) {
    }
    unlink(argv[2]);
    return 0;
}
