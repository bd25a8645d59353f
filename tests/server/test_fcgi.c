/*
 * tests/server/test_fcgi.c - the FastCGI record layer (server/fcgi.h) over a
 *   socketpair: crafted records go in at the "web server" end (peer), the
 *   layer reads them at the other end (fd), and what it answers is read back
 *   and parsed at the peer end.
 * Owns: request reading (params split over records, 1- and 4-byte lengths,
 *   padding, keep_conn, request id), management records (GET_VALUES, unknown
 *   types), refused requests (other roles, a second request id), the failure
 *   statuses (bad version, EOF, ABORT_REQUEST, params over FCGI_PARAMS_MAX,
 *   the arena out of memory), fcgi_decode_params on its own, the response
 *   records of fcgi_write_response, and fcgi_close: at once when the whole
 *   request was read, else a wait for the peer (at most ~2 s).
 * Writers and readers of more than a socket buffer run in a thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/fcgi.h"

#include "../lib/check.h"

/* ---- building records (the web server's side) ---- */

struct buf {
    unsigned char *p;
    size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            perror("realloc");
            exit(2);
        }
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    *b = (struct buf){ 0 };
}

/* A name-value length: 1 byte below 128 unless four is set, else 4 bytes BE
 * with the high bit set. */
static void put_len(struct buf *b, size_t n, bool four)
{
    if (n < 128 && !four) {
        unsigned char c = (unsigned char)n;
        buf_put(b, &c, 1);
    } else {
        unsigned char c[4] = { (unsigned char)(0x80 | (n >> 24)), (unsigned char)(n >> 16),
                               (unsigned char)(n >> 8), (unsigned char)n };
        buf_put(b, c, 4);
    }
}

static void put_pair(struct buf *b, const char *name, size_t nl, const char *value, size_t vl)
{
    put_len(b, nl, false);
    put_len(b, vl, false);
    buf_put(b, name, nl);
    buf_put(b, value, vl);
}

static void put_pair_c(struct buf *b, const char *name, const char *value)
{
    put_pair(b, name, strlen(name), value, strlen(value));
}

/* One record: header, content, pad zero bytes; version is normally 1. */
static void put_rec_v(struct buf *b, int version, int type, int id, const void *content, size_t n,
                      size_t pad)
{
    unsigned char h[8] = { (unsigned char)version, (unsigned char)type, (unsigned char)(id >> 8),
                           (unsigned char)id,      (unsigned char)(n >> 8), (unsigned char)n,
                           (unsigned char)pad,     0 };
    static const unsigned char zeros[255];
    buf_put(b, h, 8);
    buf_put(b, content, n);
    buf_put(b, zeros, pad);
}

static void put_rec(struct buf *b, int type, int id, const void *content, size_t n, size_t pad)
{
    put_rec_v(b, FCGI_VERSION_1, type, id, content, n, pad);
}

static void put_begin(struct buf *b, int id, int role, int flags)
{
    unsigned char body[8] = { (unsigned char)(role >> 8), (unsigned char)role, (unsigned char)flags };
    put_rec(b, FCGI_BEGIN_REQUEST, id, body, 8, 0);
}

/* The whole params stream pv as PARAMS records of at most chunk bytes, then
 * the empty PARAMS record. */
static void put_params(struct buf *b, int id, const struct buf *pv, size_t chunk)
{
    for (size_t off = 0; off < pv->len; off += chunk) {
        size_t n = pv->len - off < chunk ? pv->len - off : chunk;
        put_rec(b, FCGI_PARAMS, id, pv->p + off, n, 0);
    }
    put_rec(b, FCGI_PARAMS, id, "", 0, 0);
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the reader went away: its status says why */
        s += w;
        n -= (size_t)w;
    }
}

/* Write b to fd and empty it. */
static void send_buf(int fd, struct buf *b)
{
    write_all(fd, b->p, b->len);
    buf_free(b);
}

/* Write b to fd, empty it and end the stream: a layer that wrongly waits for
 * more fails with FCGI_CLOSED instead of hanging the test. */
static void send_last(int fd, struct buf *b)
{
    send_buf(fd, b);
    shutdown(fd, SHUT_WR);
}

/* ---- reading what the layer answers (at the peer end) ---- */

struct rec {
    int version, type, id;
    size_t len;
    unsigned char content[65536];
};

static int read_full(int fd, void *p, size_t n)
{
    char *d = p;
    while (n) {
        ssize_t r = read(fd, d, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        d += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One record from fd (padding skipped): 0, or -1 on EOF/error/timeout. */
static int read_rec(int fd, struct rec *r)
{
    unsigned char h[8], pad[255];
    if (read_full(fd, h, 8) < 0)
        return -1;
    r->version = h[0];
    r->type = h[1];
    r->id = h[2] << 8 | h[3];
    r->len = (size_t)(h[4] << 8 | h[5]);
    if (read_full(fd, r->content, r->len) < 0 || read_full(fd, pad, h[6]) < 0)
        return -1;
    return 0;
}

/* True when nothing more is waiting at fd. */
static bool nothing_pending(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The value of name in a name-value stream (test-side decoder, 1- and 4-byte
 * lengths): true when found. */
static bool find_pair(const unsigned char *p, size_t n, const char *name, char *value, size_t cap)
{
    size_t i = 0;
    while (i < n) {
        size_t len[2];
        for (int k = 0; k < 2; k++) {
            if (i >= n)
                return false;
            if (p[i] & 0x80) {
                if (n - i < 4)
                    return false;
                len[k] = (size_t)(p[i] & 0x7f) << 24 | (size_t)p[i + 1] << 16 |
                         (size_t)p[i + 2] << 8 | p[i + 3];
                i += 4;
            } else {
                len[k] = p[i++];
            }
        }
        if (len[0] > n - i || len[1] > n - i - len[0])
            return false;
        if (len[0] == strlen(name) && memcmp(p + i, name, len[0]) == 0) {
            size_t m = len[1] < cap - 1 ? len[1] : cap - 1;
            memcpy(value, p + i + len[0], m);
            value[m] = '\0';
            return true;
        }
        i += len[0] + len[1];
    }
    return false;
}

/* Reads END_REQUEST for id at the peer end and checks its protocolStatus. */
static void expect_end_request(int peer, int id, int protocol_status, const char *what)
{
    static struct rec r;
    int rc = read_rec(peer, &r);
    CHECK(rc == 0, "%s: no END_REQUEST record", what);
    if (rc != 0)
        return;
    CHECK(r.version == 1 && r.type == FCGI_END_REQUEST && r.id == id && r.len == 8,
          "%s: got version %d type %d id %d len %zu, want END_REQUEST id %d len 8", what,
          r.version, r.type, r.id, r.len, id);
    if (r.len == 8)
        CHECK(r.content[4] == protocol_status, "%s: protocolStatus %d, want %d", what,
              r.content[4], protocol_status);
}

/* ---- fixtures ---- */

static struct arena *arena;
static const char *current = "";

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL test_fcgi: timed out (hung) in ";
    ssize_t w = write(2, m, sizeof m - 1);
    w = write(2, current, strlen(current));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fcgi_read_request on fd, checked to succeed (the caller's checks follow). */
static bool read_ok(int fd, struct fcgi_conn *c, struct req_kvs *params)
{
    const char *why = NULL;
    enum fcgi_status st = fcgi_read_request(c, fd, arena, params, &why);
    CHECK(st == FCGI_OK, "status %d (%s)", st, why ? why : "-");
    return st == FCGI_OK;
}

/* A connected pair: fds[0] for the layer, fds[1] the peer (5 s read
 * timeout, so a missing answer fails instead of hanging). */
static void pair_open(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) {
        perror("socketpair");
        exit(2);
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void pair_close(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* Reads the whole body: its length, or -1 when fcgi_read_body failed. */
static ssize_t read_body(struct fcgi_conn *c, char *out, size_t cap, size_t step)
{
    size_t len = 0;
    for (int i = 0; i < 100000; i++) {
        size_t n = cap - len < step ? cap - len : step;
        ssize_t r = fcgi_read_body(c, out + len, n);
        if (r < 0)
            return -1;
        if (r == 0)
            return (ssize_t)len;
        CHECK((size_t)r <= n, "fcgi_read_body returned %zd for n %zu", r, n);
        len += (size_t)r;
        if (len == cap)
            return (ssize_t)len;
    }
    return -1;
}

static bool kv_is(const struct req_kvs *kvs, size_t i, const char *name, const char *value,
                  size_t vlen)
{
    if (i >= kvs->n)
        return false;
    const struct req_kv *kv = &kvs->v[i];
    return str_eq(kv->name, str_c(name)) && kv->value.p && kv->value.len == vlen &&
           memcmp(kv->value.p, value, vlen) == 0 && kv->value.p[vlen] == '\0';
}

static void dump_params(const struct req_kvs *kvs)
{
    for (size_t i = 0; i < kvs->n; i++)
        fprintf(stderr, "  param %zu: [%.*s] = [%.*s]\n", i, STR_FMT(kvs->v[i].name),
                STR_FMT(kvs->v[i].value));
}

/* ---- the tests ---- */

/* BEGIN, PARAMS over two records with a pair across the boundary, empty
 * PARAMS, STDIN in two padded records, empty STDIN. */
static void test_normal_request(void)
{
    current = "normal request";
    int fds[2];
    pair_open(fds);
    struct buf pv = { 0 }, b = { 0 };
    put_pair_c(&pv, "REQUEST_METHOD", "POST");
    size_t cut = pv.len + 5; /* inside the next pair's name */
    put_pair_c(&pv, "REQUEST_URI", "/tasks?x=1");
    put_pair_c(&pv, "HTTP_HOST", "example.com");
    put_pair_c(&pv, "EMPTY", "");
    put_pair_c(&pv, "CONTENT_LENGTH", "11");
    put_begin(&b, 7, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 7, pv.p, cut, 3);
    put_rec(&b, FCGI_PARAMS, 7, pv.p + cut, pv.len - cut, 0);
    put_rec(&b, FCGI_PARAMS, 7, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 7, "hello ", 6, 2);
    put_rec(&b, FCGI_STDIN, 7, "world", 5, 7);
    put_rec(&b, FCGI_STDIN, 7, "", 0, 0);
    buf_free(&pv);
    send_last(fds[1], &b);

    struct fcgi_conn c;
    struct req_kvs params;
    bool in = read_ok(fds[0], &c, &params);
    CHECK(c.id == 7, "id %u", c.id);
    CHECK(!c.keep_conn, "keep_conn set without FCGI_KEEP_CONN");
    CHECK(params.n == 5, "%zu params", params.n);
    bool ok = kv_is(&params, 0, "REQUEST_METHOD", "POST", 4) &&
              kv_is(&params, 1, "REQUEST_URI", "/tasks?x=1", 10) &&
              kv_is(&params, 2, "HTTP_HOST", "example.com", 11) &&
              kv_is(&params, 3, "EMPTY", "", 0) && kv_is(&params, 4, "CONTENT_LENGTH", "11", 2);
    CHECK(ok, "params differ");
    if (!ok)
        dump_params(&params);
    if (in) {
        char body[64];
        ssize_t n = read_body(&c, body, sizeof body, 4); /* small steps: across records */
        CHECK(n == 11 && memcmp(body, "hello world", 11) == 0, "body %zd [%.*s]", n,
              n > 0 ? (int)n : 0, body);
        CHECK(fcgi_read_body(&c, body, sizeof body) == 0, "read after the end is not 0");
    }
    CHECK(nothing_pending(fds[1]), "the layer wrote something to the peer");
    pair_close(fds);
    arena_reset(arena);
}

/* A request without a single param (BEGIN, then the empty PARAMS). */
static void test_no_params(void)
{
    current = "no params";
    int fds[2];
    pair_open(fds);
    struct buf b = { 0 };
    put_begin(&b, 2, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 2, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 2, "", 0, 0);
    send_last(fds[1], &b);
    struct fcgi_conn c;
    struct req_kvs params = { (struct req_kv *)1, 99 };
    const char *why = NULL;
    enum fcgi_status st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_OK && params.n == 0 && c.id == 2, "status %d (%s), %zu params", st,
          why ? why : "-", params.n);
    if (st == FCGI_OK) {
        char body[4];
        CHECK(fcgi_read_body(&c, body, sizeof body) == 0, "empty body not 0");
    }
    pair_close(fds);
    arena_reset(arena);
}

/* Long names and values: 4-byte lengths, and the largest 1-byte one; over
 * records, with keep_conn, and a body in one record. */
static void test_long_lengths(void)
{
    current = "long lengths";
    int fds[2];
    pair_open(fds);
    char v300[300], n200[200], v127[127];
    for (size_t i = 0; i < sizeof v300; i++)
        v300[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof n200; i++)
        n200[i] = (char)('A' + i % 26);
    memset(v127, 'z', sizeof v127);
    struct buf pv = { 0 }, b = { 0 };
    put_pair(&pv, "V300", 4, v300, sizeof v300);
    put_pair(&pv, n200, sizeof n200, "x", 1);
    put_pair(&pv, "V127", 4, v127, sizeof v127);
    put_len(&pv, 3, true); /* a short name with a 4-byte length is legal too */
    put_len(&pv, 2, false);
    buf_put(&pv, "ABCok", 5);
    put_begin(&b, 300, FCGI_RESPONDER, FCGI_KEEP_CONN);
    put_params(&b, 300, &pv, 100); /* every length split from its bytes somewhere */
    put_rec(&b, FCGI_STDIN, 300, "body", 4, 4);
    put_rec(&b, FCGI_STDIN, 300, "", 0, 0);
    buf_free(&pv);
    send_last(fds[1], &b);

    struct fcgi_conn c;
    struct req_kvs params;
    bool in = read_ok(fds[0], &c, &params);
    CHECK(c.id == 300, "id %u", c.id);
    CHECK(c.keep_conn, "keep_conn not reported");
    CHECK(params.n == 4, "%zu params", params.n);
    CHECK(kv_is(&params, 0, "V300", v300, sizeof v300), "300-byte value");
    CHECK(params.n > 1 && params.v[1].name.len == 200 &&
              memcmp(params.v[1].name.p, n200, 200) == 0 && str_eq_c(params.v[1].value, "x"),
          "200-byte name");
    CHECK(kv_is(&params, 2, "V127", v127, sizeof v127), "127-byte value");
    CHECK(kv_is(&params, 3, "ABC", "ok", 2), "4-byte length of a short name");
    if (in) {
        char body[16];
        ssize_t n = read_body(&c, body, sizeof body, sizeof body);
        CHECK(n == 4 && memcmp(body, "body", 4) == 0, "body %zd", n);
    }
    pair_close(fds);
    arena_reset(arena);
}

/* fcgi_decode_params on its own. */
static void test_decode(void)
{
    current = "decode";
    struct req_kvs out = { (struct req_kv *)1, 99 };
    const char *why = NULL;
    CHECK(fcgi_decode_params(arena, "", 0, &out, &why) == 0 && out.n == 0, "empty: n %zu", out.n);

    static const struct {
        const char *in;
        size_t n;
        const char *what;
    } bad[] = {
        { "\x05\x03" "abc", 5, "value past the end" },
        { "\x05", 1, "no value length" },
        { "\x80\x00\x01", 3, "truncated 4-byte name length" },
        { "\x01\x80\x00", 3, "truncated 4-byte value length" },
        { "\x80\x00\x00\x02\x01" "a", 6, "4-byte name length past the end" },
        { "\xff\xff\xff\xff\x00" "a", 6, "huge name length" },
        { "\x01\xff\xff\xff\xff" "ab", 7, "huge value length" },
        { "\x01\x01" "ab" "\x02\x02" "cde", 9, "second pair past the end" },
        { "\x81\x00\x00\x01\x00" "a", 6, "name length 0x01000001" },
        { "\x01\x80\x01\x00\x00" "ab", 7, "value length 0x10000" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        int rc = fcgi_decode_params(arena, bad[i].in, bad[i].n, &out, &why);
        CHECK(rc == -1 && why != NULL, "%s: rc %d, why %s", bad[i].what, rc, why ? why : "NULL");
    }

    struct buf pv = { 0 };
    put_pair_c(&pv, "A", "1");
    put_pair(&pv, "NUL", 3, "x\0y", 3);
    put_pair_c(&pv, "", "");
    why = NULL;
    int rc = fcgi_decode_params(arena, (const char *)pv.p, pv.len, &out, &why);
    CHECK(rc == 0 && out.n == 3, "good pairs: rc %d n %zu (%s)", rc, out.n, why ? why : "-");
    CHECK(kv_is(&out, 0, "A", "1", 1) && kv_is(&out, 1, "NUL", "x\0y", 3) &&
              kv_is(&out, 2, "", "", 0),
          "good pairs differ");
    buf_free(&pv);
    arena_reset(arena);
}

/* GET_VALUES and an unknown management type before BEGIN are answered, and
 * the request after them is read. */
static void test_management(void)
{
    current = "management records";
    int fds[2];
    pair_open(fds);
    struct buf q = { 0 }, b = { 0 };
    put_pair_c(&q, "FCGI_MAX_CONNS", "");
    put_pair_c(&q, "FCGI_MAX_REQS", "");
    put_pair_c(&q, "FCGI_MPXS_CONNS", "");
    put_rec(&b, FCGI_GET_VALUES, 0, q.p, q.len, 5);
    put_rec(&b, 42, 0, "whatever", 8, 0);
    buf_free(&q);
    put_begin(&b, 1, FCGI_RESPONDER, 0);
    put_pair_c(&q, "SCRIPT_NAME", "/x");
    put_params(&b, 1, &q, 1000);
    put_rec(&b, FCGI_STDIN, 1, "", 0, 0);
    buf_free(&q);
    send_last(fds[1], &b);

    struct fcgi_conn c;
    struct req_kvs params;
    read_ok(fds[0], &c, &params);
    CHECK(c.id == 1 && kv_is(&params, 0, "SCRIPT_NAME", "/x", 2) && params.n == 1,
          "request after management records: id %u, %zu params", c.id, params.n);

    static struct rec r;
    int rc = read_rec(fds[1], &r);
    CHECK(rc == 0 && r.version == 1 && r.type == FCGI_GET_VALUES_RESULT && r.id == 0,
          "GET_VALUES answer: rc %d type %d id %d", rc, r.type, r.id);
    char v[16];
    bool found = rc == 0 && find_pair(r.content, r.len, "FCGI_MPXS_CONNS", v, sizeof v);
    CHECK(found && strcmp(v, "0") == 0, "FCGI_MPXS_CONNS %s", found ? v : "missing");

    rc = read_rec(fds[1], &r);
    CHECK(rc == 0 && r.version == 1 && r.type == FCGI_UNKNOWN_TYPE && r.id == 0 && r.len == 8 &&
              r.content[0] == 42,
          "UNKNOWN_TYPE answer: rc %d type %d id %d len %zu byte %d", rc, r.type, r.id, r.len,
          r.content[0]);
    CHECK(nothing_pending(fds[1]), "more answers than two");
    pair_close(fds);
    arena_reset(arena);
}

/* An authorizer request is refused with FCGI_UNKNOWN_ROLE; the responder
 * request after it is served. */
static void test_unknown_role(void)
{
    current = "unknown role";
    int fds[2];
    pair_open(fds);
    struct buf pv = { 0 }, b = { 0 };
    put_begin(&b, 3, 2, 0);
    put_begin(&b, 5, FCGI_RESPONDER, 0);
    put_pair_c(&pv, "REQUEST_METHOD", "GET");
    put_params(&b, 5, &pv, 1000);
    put_rec(&b, FCGI_STDIN, 5, "", 0, 0);
    buf_free(&pv);
    send_last(fds[1], &b);

    struct fcgi_conn c;
    struct req_kvs params;
    read_ok(fds[0], &c, &params);
    CHECK(c.id == 5, "id %u, want the responder's 5", c.id);
    CHECK(params.n == 1 && kv_is(&params, 0, "REQUEST_METHOD", "GET", 3), "%zu params", params.n);
    expect_end_request(fds[1], 3, FCGI_UNKNOWN_ROLE, "role 2");
    CHECK(nothing_pending(fds[1]), "more than one answer");
    pair_close(fds);
    arena_reset(arena);
}

/* Records of another id between ours are skipped; a second BEGIN_REQUEST
 * while ours is open is refused with FCGI_CANT_MPX_CONN. */
static void test_other_ids(void)
{
    current = "other request ids";
    int fds[2];
    pair_open(fds);
    struct buf pv = { 0 }, other = { 0 }, b = { 0 };
    put_pair_c(&pv, "REQUEST_METHOD", "GET");
    put_pair_c(&pv, "REQUEST_URI", "/");
    size_t cut = pv.len - 1; /* inside the last value */
    put_pair_c(&other, "HTTP_EVIL", "1");
    put_begin(&b, 7, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 7, pv.p, cut, 0);
    put_begin(&b, 9, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 9, other.p, other.len, 1);
    put_rec(&b, FCGI_PARAMS, 9, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 9, "zz", 2, 0);
    put_rec(&b, FCGI_PARAMS, 7, pv.p + cut, pv.len - cut, 0);
    put_rec(&b, FCGI_PARAMS, 7, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 7, "ok", 2, 0);
    put_rec(&b, FCGI_STDIN, 9, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 7, "", 0, 0);
    buf_free(&pv);
    buf_free(&other);
    send_last(fds[1], &b);

    struct fcgi_conn c;
    struct req_kvs params;
    bool in = read_ok(fds[0], &c, &params);
    CHECK(c.id == 7, "id %u", c.id);
    bool ok = params.n == 2 && kv_is(&params, 0, "REQUEST_METHOD", "GET", 3) &&
              kv_is(&params, 1, "REQUEST_URI", "/", 1);
    CHECK(ok, "params with other ids' records in between: %zu", params.n);
    if (!ok)
        dump_params(&params);
    if (in) {
        char body[16];
        ssize_t n = read_body(&c, body, sizeof body, sizeof body);
        CHECK(n == 2 && memcmp(body, "ok", 2) == 0, "body %zd", n);
    }
    expect_end_request(fds[1], 9, FCGI_CANT_MPX_CONN, "second BEGIN");
    CHECK(nothing_pending(fds[1]), "more than one answer");
    pair_close(fds);
    arena_reset(arena);
}

/* Bad version, EOF in the middle, ABORT_REQUEST. */
static void test_failures(void)
{
    struct fcgi_conn c;
    struct req_kvs params;
    const char *why;
    enum fcgi_status st;
    int fds[2];
    struct buf pv = { 0 }, b = { 0 };

    current = "bad version";
    pair_open(fds);
    put_rec_v(&b, 2, FCGI_BEGIN_REQUEST, 1, "\0\1\0\0\0\0\0\0", 8, 0);
    send_last(fds[1], &b);
    why = NULL;
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_BAD && why, "version 2: status %d", st);
    pair_close(fds);
    arena_reset(arena);

    current = "bad version after BEGIN";
    pair_open(fds);
    put_begin(&b, 1, FCGI_RESPONDER, 0);
    put_rec_v(&b, 0, FCGI_PARAMS, 1, "\1\1ab", 4, 0);
    put_rec(&b, FCGI_PARAMS, 1, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 1, "", 0, 0);
    send_last(fds[1], &b);
    why = NULL;
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_BAD && why, "version 0 PARAMS: status %d", st);
    pair_close(fds);
    arena_reset(arena);

    current = "malformed params";
    pair_open(fds);
    put_begin(&b, 1, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 1, "\1\5ab", 4, 0); /* value runs past the stream's end */
    put_rec(&b, FCGI_PARAMS, 1, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 1, "", 0, 0);
    send_last(fds[1], &b);
    why = NULL;
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_BAD && why, "malformed params: status %d", st);
    pair_close(fds);
    arena_reset(arena);

    current = "EOF mid-params";
    pair_open(fds);
    put_begin(&b, 1, FCGI_RESPONDER, 0);
    put_pair_c(&pv, "REQUEST_METHOD", "GET");
    put_rec(&b, FCGI_PARAMS, 1, pv.p, pv.len, 0);
    send_last(fds[1], &b);
    close(fds[1]);
    why = NULL;
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_CLOSED && why, "EOF mid-params: status %d", st);
    close(fds[0]);
    arena_reset(arena);

    current = "EOF mid-record";
    pair_open(fds);
    put_begin(&b, 1, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 1, pv.p, pv.len, 0);
    b.len -= 3; /* the record's last bytes never come */
    send_last(fds[1], &b);
    close(fds[1]);
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_CLOSED, "EOF mid-record: status %d", st);
    close(fds[0]);
    arena_reset(arena);

    current = "EOF before anything";
    pair_open(fds);
    close(fds[1]);
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_CLOSED, "EOF at once: status %d", st);
    close(fds[0]);
    arena_reset(arena);

    /* The rest of the request follows the abort: a layer that ignored
     * ABORT_REQUEST would return FCGI_OK. */
    current = "ABORT_REQUEST";
    pair_open(fds);
    put_begin(&b, 7, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 7, pv.p, pv.len, 0);
    put_rec(&b, FCGI_ABORT_REQUEST, 7, "", 0, 0);
    put_rec(&b, FCGI_PARAMS, 7, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 7, "", 0, 0);
    send_last(fds[1], &b);
    why = NULL;
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_CLOSED && why, "ABORT_REQUEST: status %d", st);
    pair_close(fds);
    arena_reset(arena);

    /* An abort of another id is not ours. */
    current = "ABORT_REQUEST of another id";
    pair_open(fds);
    put_begin(&b, 7, FCGI_RESPONDER, 0);
    put_rec(&b, FCGI_PARAMS, 7, pv.p, pv.len, 0);
    put_rec(&b, FCGI_ABORT_REQUEST, 8, "", 0, 0);
    put_rec(&b, FCGI_PARAMS, 7, "", 0, 0);
    put_rec(&b, FCGI_STDIN, 7, "", 0, 0);
    send_last(fds[1], &b);
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_OK && params.n == 1, "ABORT_REQUEST of id 8: status %d", st);
    pair_close(fds);
    arena_reset(arena);

    current = "EOF mid-body";
    pair_open(fds);
    put_begin(&b, 7, FCGI_RESPONDER, 0);
    put_params(&b, 7, &pv, 1000);
    put_rec(&b, FCGI_STDIN, 7, "abcd", 4, 0);
    send_last(fds[1], &b);
    close(fds[1]);
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_OK, "EOF mid-body: status %d", st);
    if (st == FCGI_OK) {
        char body[16];
        ssize_t n = read_body(&c, body, sizeof body, sizeof body);
        CHECK(n == -1, "a body cut short read as %zd bytes, not -1", n);
    }
    close(fds[0]);
    arena_reset(arena);

    current = "EOF inside a STDIN record";
    pair_open(fds);
    put_begin(&b, 7, FCGI_RESPONDER, 0);
    put_params(&b, 7, &pv, 1000);
    char part[100] = "abcd";
    put_rec(&b, FCGI_STDIN, 7, part, sizeof part, 0);
    b.len -= sizeof part - 4; /* 4 of its 100 bytes come */
    send_buf(fds[1], &b);
    close(fds[1]);
    st = fcgi_read_request(&c, fds[0], arena, &params, &why);
    CHECK(st == FCGI_OK, "EOF inside STDIN: status %d", st);
    if (st == FCGI_OK) {
        char body[200];
        ssize_t n = read_body(&c, body, sizeof body, sizeof body);
        CHECK(n == -1, "a STDIN record cut short read as %zd bytes, not -1", n);
    }
    close(fds[0]);
    buf_free(&pv);
    arena_reset(arena);
}

/* The arena out of memory at each allocation in turn: FCGI_NOMEM (never a
 * crash, nor FCGI_CLOSED), and FCGI_OK once every allocation succeeds. */
static void test_nomem(void)
{
    current = "out of memory";
    struct buf pv = { 0 }, req = { 0 };
    put_pair_c(&pv, "REQUEST_METHOD", "GET");
    put_pair_c(&pv, "REQUEST_URI", "/");
    put_begin(&req, 1, FCGI_RESPONDER, 0);
    put_params(&req, 1, &pv, 5);
    put_rec(&req, FCGI_STDIN, 1, "", 0, 0);
    bool ok_seen = false;
    for (long k = 0; k < 20 && !ok_seen; k++) {
        int fds[2];
        pair_open(fds);
        write_all(fds[1], req.p, req.len);
        shutdown(fds[1], SHUT_WR);
        arena_fail_once(arena, k);
        struct fcgi_conn c;
        struct req_kvs params;
        const char *why = NULL;
        enum fcgi_status st = fcgi_read_request(&c, fds[0], arena, &params, &why);
        arena_fail_once(arena, -1);
        CHECK(st == FCGI_OK || (st == FCGI_NOMEM && why),
              "allocation %ld failing: status %d (%s), want FCGI_NOMEM", k, st, why ? why : "-");
        ok_seen = st == FCGI_OK;
        CHECK(!ok_seen || params.n == 2, "allocation %ld failing: %zu params", k, params.n);
        pair_close(fds);
        arena_reset(arena);
    }
    CHECK(ok_seen, "no FCGI_OK after 20 allocations");

    const char *why = NULL;
    struct req_kvs out;
    arena_fail_after(arena, 0);
    int rc = fcgi_decode_params(arena, (const char *)pv.p, pv.len, &out, &why);
    arena_fail_after(arena, -1);
    CHECK(rc == -1 && why, "decode out of memory: rc %d", rc);
    buf_free(&pv);
    buf_free(&req);
    arena_reset(arena);
}

/* ---- big params (the writer is a thread: more than a socket buffer) ---- */

struct writer {
    int fd;
    struct buf b;
    pthread_t t;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    write_all(w->fd, w->b.p, w->b.len);
    return NULL;
}

/* A request whose one param has a value of vlen bytes ('v'). */
static enum fcgi_status big_params(size_t vlen, struct req_kvs *params)
{
    int fds[2];
    pair_open(fds);
    struct buf pv = { 0 };
    char *v = malloc(vlen);
    memset(v, 'v', vlen);
    put_pair(&pv, "BIG", 3, v, vlen);
    free(v);
    struct writer w = { .fd = fds[1] };
    put_begin(&w.b, 1, FCGI_RESPONDER, 0);
    put_params(&w.b, 1, &pv, 65535);
    put_rec(&w.b, FCGI_STDIN, 1, "", 0, 0);
    buf_free(&pv);
    pthread_create(&w.t, NULL, writer_main, &w);
    struct fcgi_conn c;
    const char *why = NULL;
    enum fcgi_status st = fcgi_read_request(&c, fds[0], arena, params, &why);
    CHECK(st == FCGI_OK || why, "no why for status %d", st);
    shutdown(fds[0], SHUT_RDWR); /* the writer may be blocked: let it fail */
    pthread_join(w.t, NULL);
    buf_free(&w.b);
    pair_close(fds);
    return st;
}

static void test_big_params(void)
{
    struct req_kvs params = { 0 };
    current = "params under FCGI_PARAMS_MAX";
    enum fcgi_status st = big_params(200000, &params);
    CHECK(st == FCGI_OK && params.n == 1 && params.v[0].value.len == 200000 &&
              params.v[0].value.p[0] == 'v' && params.v[0].value.p[199999] == 'v' &&
              params.v[0].value.p[200000] == '\0',
          "200,000-byte value: status %d", st);
    arena_reset(arena);

    current = "params over FCGI_PARAMS_MAX";
    st = big_params(FCGI_PARAMS_MAX + 1000, &params);
    CHECK(st == FCGI_TOO_BIG, "%u-byte value: status %d", FCGI_PARAMS_MAX + 1000, st);
    arena_reset(arena);
}

/* ---- responses (the reader is a thread) ---- */

struct reader {
    int fd;
    pthread_t t;
    struct rec r;
    struct buf stdout_data;     /* every STDOUT content, concatenated */
    int n_stdout, n_empty_stdout, n_other, n_end;
    bool empty_not_last;        /* an empty STDOUT before a non-empty one */
    bool bad_version_or_id;
    int id;
    unsigned char end[8];
    size_t end_len;
    bool eof;                   /* ended without END_REQUEST */
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    for (;;) {
        if (read_rec(rd->fd, &rd->r) < 0) {
            rd->eof = true;
            return NULL;
        }
        if (rd->r.version != 1 || rd->r.id != rd->id)
            rd->bad_version_or_id = true;
        if (rd->r.type == FCGI_STDOUT) {
            if (rd->r.len == 0) {
                rd->n_empty_stdout++;
            } else {
                if (rd->n_empty_stdout)
                    rd->empty_not_last = true;
                rd->n_stdout++;
                buf_put(&rd->stdout_data, rd->r.content, rd->r.len);
            }
        } else if (rd->r.type == FCGI_END_REQUEST) {
            rd->n_end++;
            rd->end_len = rd->r.len;
            memcpy(rd->end, rd->r.content, rd->r.len < 8 ? rd->r.len : 8);
            return NULL;
        } else {
            rd->n_other++;
        }
    }
}

/* A conn for request id: a minimal request read through the layer. */
/* A request read up to its params. body: STDIN records after the params
 * (NULL: none); whole: the empty STDIN record that ends the request is sent
 * too (else the web server is, as far as the layer knows, still sending). */
static bool conn_for(struct fcgi_conn *c, int fds[2], int id, int flags, const char *body, bool whole)
{
    struct buf b = { 0 }, pv = { 0 };
    put_pair_c(&pv, "REQUEST_METHOD", body ? "POST" : "GET");
    put_begin(&b, id, FCGI_RESPONDER, flags);
    put_params(&b, id, &pv, 1000);
    if (body)
        put_rec(&b, FCGI_STDIN, id, body, strlen(body), 3);
    if (whole)
        put_rec(&b, FCGI_STDIN, id, "", 0, 0);
    buf_free(&pv);
    send_buf(fds[1], &b);
    struct req_kvs params;
    return read_ok(fds[0], c, &params);
}

static void check_response(const char *head, size_t head_len, const char *body, size_t body_len)
{
    int fds[2];
    pair_open(fds);
    struct fcgi_conn c;
    if (!conn_for(&c, fds, 7, 0, NULL, true)) {
        pair_close(fds);
        return;
    }
    static struct reader rd;
    buf_free(&rd.stdout_data);
    rd = (struct reader){ .fd = fds[1], .id = 7 };
    pthread_create(&rd.t, NULL, reader_main, &rd);
    int rc = fcgi_write_response(&c, arena, head, head_len, body, body_len);
    pthread_join(rd.t, NULL);
    CHECK(rc == 0, "%s: fcgi_write_response %d", current, rc);
    CHECK(!rd.eof && rd.n_end == 1, "%s: no END_REQUEST", current);
    CHECK(!rd.bad_version_or_id, "%s: a record not version 1 or not for id 7", current);
    CHECK(rd.n_other == 0, "%s: %d records neither STDOUT nor END_REQUEST", current, rd.n_other);
    CHECK(rd.n_empty_stdout == 1 && !rd.empty_not_last,
          "%s: %d empty STDOUT records, one before data: %d", current, rd.n_empty_stdout,
          rd.empty_not_last);
    CHECK(rd.n_stdout >= (int)((head_len + body_len + 65534) / 65535),
          "%s: %d STDOUT records for %zu bytes", current, rd.n_stdout, head_len + body_len);
    bool same = rd.stdout_data.len == head_len + body_len &&
                (head_len == 0 || memcmp(rd.stdout_data.p, head, head_len) == 0) &&
                (body_len == 0 || memcmp(rd.stdout_data.p + head_len, body, body_len) == 0);
    CHECK(same, "%s: STDOUT stream differs (%zu bytes, want %zu)", current, rd.stdout_data.len,
          head_len + body_len);
    static const unsigned char complete[8] = { 0 };
    CHECK(rd.end_len == 8 && memcmp(rd.end, complete, 8) == 0,
          "%s: END_REQUEST len %zu appStatus/protocolStatus not 0", current, rd.end_len);
    CHECK(nothing_pending(fds[1]), "%s: bytes after END_REQUEST", current);
    buf_free(&rd.stdout_data);
    pair_close(fds);
    arena_reset(arena);
}

static void test_write_response(void)
{
    static const char head[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    size_t big = 150000;
    char *body = malloc(big);
    for (size_t i = 0; i < big; i++)
        body[i] = (char)(i * 7 + i / 251);
    current = "response of 150,000 bytes";
    check_response(head, sizeof head - 1, body, big);
    current = "response with an empty body";
    check_response(head, sizeof head - 1, "", 0);
    current = "response with an empty head";
    check_response("", 0, body, 70000);
    current = "empty response";
    check_response("", 0, NULL, 0);
    free(body);
}

/* ---- fcgi_close ---- */

struct closer {
    int fd;
    pthread_t t;
    ssize_t last;   /* the peer's last read: 0 = EOF */
    size_t bytes;
};

static void *closer_main(void *arg)
{
    struct closer *cl = arg;
    char tmp[4096];
    for (;;) {
        cl->last = read(cl->fd, tmp, sizeof tmp);
        if (cl->last <= 0)
            break;
        cl->bytes += (size_t)cl->last;
    }
    close(cl->fd);
    return NULL;
}

static bool fd_is_closed(int fd)
{
    return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static void test_close(void)
{
    int fds[2];
    struct fcgi_conn c;

    current = "fcgi_close, request not whole, the peer closes";
    pair_open(fds);
    if (conn_for(&c, fds, 7, 0, "abc", false)) {
        struct closer cl = { .fd = fds[1] };
        pthread_create(&cl.t, NULL, closer_main, &cl);
        double t0 = now();
        fcgi_close(&c);
        double dt = now() - t0;
        pthread_join(cl.t, NULL);
        CHECK(dt < 1.0, "fcgi_close took %.2f s although the peer closed", dt);
        CHECK(cl.last == 0, "the peer's read ended with %zd, not EOF", cl.last);
        CHECK(fd_is_closed(fds[0]), "fd still open after fcgi_close");
    } else {
        pair_close(fds);
    }
    arena_reset(arena);

    current = "fcgi_close, request not whole, the peer never closes";
    pair_open(fds);
    if (conn_for(&c, fds, 7, 0, NULL, false)) {
        double t0 = now();
        fcgi_close(&c);
        double dt = now() - t0;
        CHECK(dt >= 1.5 && dt <= 3.5, "fcgi_close took %.2f s, want about 2 s", dt);
        char tmp[16];
        ssize_t r = read(fds[1], tmp, sizeof tmp);
        CHECK(r == 0, "the peer read %zd, not EOF", r);
        CHECK(fd_is_closed(fds[0]), "fd still open after fcgi_close");
    } else {
        close(fds[0]);
    }
    close(fds[1]);
    arena_reset(arena);

    /* the whole request is read (or buffered: body records the handler
     * left, then the STDIN end): nothing more comes, the close is at once */
    static const char *const bodies[] = { NULL, "unread body" };
    for (int i = 0; i < 2; i++) {
        current = i ? "fcgi_close, body left unread, the peer never closes"
                    : "fcgi_close, request whole, the peer never closes";
        pair_open(fds);
        if (conn_for(&c, fds, 7, 0, bodies[i], true)) {
            double t0 = now();
            fcgi_close(&c);
            double dt = now() - t0;
            CHECK(dt < 0.5, "fcgi_close took %.2f s although the request was read whole", dt);
            CHECK(fd_is_closed(fds[0]), "fd still open after fcgi_close");
            char tmp[16];
            ssize_t r = read(fds[1], tmp, sizeof tmp);
            CHECK(r == 0, "the peer read %zd, not EOF", r);
        } else {
            close(fds[0]);
        }
        close(fds[1]);
        arena_reset(arena);
    }

    current = "fcgi_close with keep_conn";
    pair_open(fds);
    if (conn_for(&c, fds, 7, FCGI_KEEP_CONN, NULL, false)) {
        double t0 = now();
        fcgi_close(&c);
        double dt = now() - t0;
        CHECK(dt < 0.5, "fcgi_close with keep_conn took %.2f s", dt);
        CHECK(fd_is_closed(fds[0]), "fd still open after fcgi_close");
        char tmp[16];
        ssize_t r = read(fds[1], tmp, sizeof tmp);
        CHECK(r == 0, "the peer read %zd, not EOF", r);
    } else {
        close(fds[0]);
    }
    close(fds[1]);
    arena_reset(arena);

    current = "fcgi_close of fd -1";
    c = (struct fcgi_conn){ .fd = -1 };
    fcgi_close(&c); /* must not crash or wait */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(25);
    arena = arena_new(0);
    if (!arena)
        return 2;
    test_normal_request();
    test_no_params();
    test_long_lengths();
    test_decode();
    test_management();
    test_unknown_role();
    test_other_ids();
    test_failures();
    test_nomem();
    test_big_params();
    test_write_response();
    test_close();
    arena_free(arena);
    return check_exit();
}
