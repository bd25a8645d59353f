/*
 * bench/fcgi_hello.c - the FastCGI ceiling for the benchmark (row 2): a minimal libfcgi app that
 * answers every request with the same bytes (a file read once at start), preforked like tasklist.
 * Owns: nothing of the product; it is a yardstick. Adapted from /work/shared/recipes/fcgi-hello.c.
 * usage: fcgi_hello --listen SOCKET_PATH WORKERS BODY_FILE [PIDFILE]
 *   The parent opens the unix socket (mode 0666: nginx workers may run as another user), forks
 *   WORKERS children that all FCGX_Accept_r on it, and waits for SIGTERM/SIGINT, then stops them.
 * Built by bench/run.sh with gcc -O2 and pkg-config (not through meson).
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *body;
static int body_len;

static void serve(int listen_fd)
{
    FCGX_Request req;
    FCGX_InitRequest(&req, listen_fd, 0);
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_FPrintF(req.out, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n",
                     body_len);
        FCGX_PutStr(body, body_len, req.out);
        FCGX_Finish_r(&req);
    }
}

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[1], "--listen") != 0) {
        fprintf(stderr, "usage: %s --listen SOCKET_PATH WORKERS BODY_FILE [PIDFILE]\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[4], "rb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    static char buf[1 << 22];
    body_len = (int)fread(buf, 1, sizeof buf, f);
    fclose(f);
    body = buf;

    FCGX_Init();
    unlink(argv[2]);
    int fd = FCGX_OpenSocket(argv[2], 1024);
    if (fd < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[2], 0666);
    int n = atoi(argv[3]);
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    pid_t kids[64];
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigprocmask(SIG_BLOCK, &s, NULL);
    for (int i = 0; i < n; i++) {
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
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGTERM);
    while (wait(NULL) > 0) {
    }
    unlink(argv[2]);
    return 0;
}
