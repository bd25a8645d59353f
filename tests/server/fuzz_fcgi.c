/*
 * tests/server/fuzz_fcgi.c - libFuzzer target for the FastCGI record layer
 *   (server/fcgi.h).
 * Input: (a) the bytes of a PARAMS stream for fcgi_decode_params: every
 *   decoded value must be NUL-terminated at its length; (b) the same bytes as
 *   a whole connection from the web server (at most 64 KiB), read with
 *   fcgi_read_request and fcgi_read_body, then parsed by req_parse (params
 *   off the wire may hold any byte, NUL included, which no test through
 *   libfcgi's C strings could send) with the Host and Origin checks, and
 *   answered with fcgi_write_response.
 * Both ends of the socketpair are non-blocking with 1 MiB buffers: the input
 *   is written at once and the writing end shut down, and a read with nothing
 *   left fails (EAGAIN or EOF), which the layer treats as FCGI_CLOSED, so no
 *   input can hang. fcgi_close is not called (it waits up to 2 s for the peer).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/fcgi.h"
#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(struct arena *a, const uint8_t *data, size_t size)
{
    struct req_kvs kvs;
    const char *why = NULL;
    if (fcgi_decode_params(a, (const char *)data, size, &kvs, &why) != 0) {
        if (!why)
            abort();
        return;
    }
    for (size_t i = 0; i < kvs.n; i++) {
        const struct req_kv *kv = &kvs.v[i];
        if (kv->name.len > size || kv->value.len > size || !kv->value.p ||
            kv->value.p[kv->value.len] != '\0')
            abort();
    }
}

static void nonblocking_big(int fd)
{
    int size = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void connection(struct arena *a, const uint8_t *data, size_t size)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return;
    nonblocking_big(fds[0]);
    nonblocking_big(fds[1]);
    if (size > 65536)
        size = 65536;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fds[1], data + off, size - off);
        if (w <= 0)
            break; /* the buffer is full: the layer reads what fits */
        off += (size_t)w;
    }
    shutdown(fds[1], SHUT_WR);

    struct fcgi_conn c;
    struct req_kvs params;
    const char *why = NULL;
    enum fcgi_status st = fcgi_read_request(&c, fds[0], a, &params, &why);
    if (st != FCGI_OK && !why)
        abort();
    if (st == FCGI_OK) {
        for (size_t i = 0; i < params.n; i++)
            if (!params.v[i].value.p || params.v[i].value.p[params.v[i].value.len] != '\0')
                abort();
        char body[4096];
        size_t body_len = 0;
        for (int i = 0; i < 100000; i++) {
            ssize_t n = fcgi_read_body(&c, body + body_len, sizeof body - body_len);
            if (n > (ssize_t)(sizeof body - body_len))
                abort();
            if (n <= 0)
                break;
            body_len += (size_t)n;
            if (body_len == sizeof body)
                body_len = 0;   /* keep reading: the stream must end cleanly or fail */
        }
        struct req_limits lim = { 4096, 32, 1024 };
        struct req r;
        const char *rwhy;
        if (req_parse(&r, a, &params, body, body_len, &lim, &rwhy) == 0) {
            req_is_cross_origin(&r, NULL);
            req_is_cross_origin(&r, "https://example.com");
            req_host_allowed(&r, "https://example.com, http://[::1]:8080");
            req_own_origin(&r, NULL);
            if (!r.path.len || r.path.p[0] != '/' || memchr(r.path.p, '\0', r.path.len))
                abort();   /* a parsed path is absolute and holds no NUL */
        }
        static const char head[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
        fcgi_write_response(&c, a, head, sizeof head - 1, "ok\n", 3);
    }
    close(fds[0]);
    close(fds[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct arena *a;
    if (!a) {
        a = arena_new(0);
        signal(SIGPIPE, SIG_IGN);
    }
    decode(a, data, size);
    arena_reset(a);
    connection(a, data, size);
    arena_reset(a);
    return 0;
}
