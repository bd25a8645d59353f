/*
 * tests/cache/mock_memcached.c - a mock memcached for exact cache-traffic tests.
 * Owns: a single-threaded poll() server speaking the memcached binary protocol
 *   (GET/GETQ/GETK/GETKQ, SET/ADD/REPLACE and their quiet forms, DELETE(Q),
 *   INCR/DECR(Q), TOUCH, NOOP, VERSION, STAT, FLUSH(Q), QUIT(Q), SASL LIST
 *   MECHS/AUTH with PLAIN against one configured user), per-opcode counters,
 *   round-trip counting and fault injection, all driven by a line protocol on a
 *   second (control) port.
 * Invariants: one process, no threads; every request is handled as soon as
 *   it is complete, only the sending of replies may be held back (fault delay)
 *   or never happen (fault hang).
 *   A "round trip" is one request that is not a quiet opcode: a client waits
 *   for exactly one such request's reply at the end of each exchange (a
 *   multi-get is GETKQ... NOOP, so it counts 1 however the bytes arrive).
 * Context: test helper; started by tests (see tests/cache/mock.sh and
 *   docs/cache-client.md):
 *     mock_memcached [--port P] [--control-port C] [--user U --pass W]
 *                    [--item-size BYTES]
 *   Port 0 (the default) picks a free port; when ready it prints
 *   "PORT n CONTROL m" on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOCK_CONN_MAX 256
#define MOCK_HEADER_LEN 24
#define MOCK_REQ_MAGIC 0x80
#define MOCK_RES_MAGIC 0x81
#define MOCK_BODY_MAX (64u << 20)

enum mock_status {
    MOCK_OK = 0x00,
    MOCK_ENOENT = 0x01,
    MOCK_EEXISTS = 0x02,
    MOCK_E2BIG = 0x03,
    MOCK_EINVAL = 0x04,
    MOCK_NOT_STORED = 0x05,
    MOCK_DELTA_BADVAL = 0x06,
    MOCK_AUTH_ERROR = 0x20,
    MOCK_UNKNOWN = 0x81,
};

enum mock_fault { MOCK_FAULT_NONE, MOCK_FAULT_REFUSE_AUTH, MOCK_FAULT_DELAY, MOCK_FAULT_HANG, MOCK_FAULT_DROP };

struct mock_buf {
    unsigned char *p;
    size_t len, cap;
};

struct mock_conn {
    int fd;
    bool is_control;
    bool is_authed;
    bool should_close;      /* close once the output is flushed */
    struct mock_buf in, out;
    int64_t release_at_ms;  /* fault delay: do not send before this time */
};

struct mock_item {
    char *key;
    size_t key_len;
    unsigned char *val;
    size_t val_len;
    uint32_t flags;
    uint32_t exptime_raw;   /* as received, for tests of the TTL encoding */
    int64_t expires_at;     /* unix seconds; 0 = never */
    uint64_t cas;
};

/* Opcode names: counters are reported as "op_<name>". */
static const char *const mock_op_names[256] = {
    [0x00] = "get", [0x01] = "set", [0x02] = "add", [0x03] = "replace", [0x04] = "delete",
    [0x05] = "incr", [0x06] = "decr", [0x07] = "quit", [0x08] = "flush", [0x09] = "getq",
    [0x0a] = "noop", [0x0b] = "version", [0x0c] = "getk", [0x0d] = "getkq", [0x0e] = "append",
    [0x0f] = "prepend", [0x10] = "stat", [0x11] = "setq", [0x12] = "addq", [0x13] = "replaceq",
    [0x14] = "deleteq", [0x15] = "incrq", [0x16] = "decrq", [0x17] = "quitq", [0x18] = "flushq",
    [0x19] = "appendq", [0x1a] = "prependq", [0x1c] = "touch", [0x1d] = "gat", [0x1e] = "gatq",
    [0x20] = "sasl_list_mechs", [0x21] = "sasl_auth", [0x22] = "sasl_step",
};

static struct {
    const char *user, *pass;
    size_t item_size_max;
    enum mock_fault fault;
    unsigned delay_ms;
    struct mock_conn conns[MOCK_CONN_MAX];
    size_t n_conns;
    struct mock_item *items;
    size_t n_items, items_cap;
    uint64_t next_cas;
    /* counters, reset by "reset" */
    uint64_t ops[256];
    uint64_t commands, round_trips, connections, auth_ok, auth_fail, get_hits, get_misses,
        cmd_get, cmd_set, drops, unknown;
} mock = { .item_size_max = 1u << 20, .next_cas = 1 };

static int64_t mock_now_ms(void);
static int mock_listen(unsigned port, unsigned *bound);
static void mock_accept(int lfd, bool is_control);
static void mock_close(size_t i);
static bool mock_buf_append(struct mock_buf *b, const void *p, size_t len);
static void mock_buf_consume(struct mock_buf *b, size_t n);
static void mock_read(struct mock_conn *c);
static void mock_write(struct mock_conn *c);
static void mock_handle_binary(struct mock_conn *c);
static void mock_handle_control(struct mock_conn *c);
static void mock_request(struct mock_conn *c, const unsigned char *h, const unsigned char *body);
static void mock_reply(struct mock_conn *c, const unsigned char *h, uint16_t status,
                       const void *ext, size_t ext_len, const void *key, size_t key_len,
                       const void *val, size_t val_len, uint64_t cas);
static struct mock_item *mock_find(const char *key, size_t key_len);
static void mock_delete_item(struct mock_item *it);
static int64_t mock_expiry(uint32_t exptime);
static void mock_flush_items(void);

static bool mock_is_quiet(unsigned op)
{
    switch (op) {
    case 0x09: case 0x0d: case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: case 0x16:
    case 0x17: case 0x18: case 0x19: case 0x1a: case 0x1e:
        return true;
    default:
        return false;
    }
}

static uint16_t mock_get16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t mock_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t mock_get64(const unsigned char *p)
{
    return (uint64_t)mock_get32(p) << 32 | mock_get32(p + 4);
}
static void mock_put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }
static void mock_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
static void mock_put64(unsigned char *p, uint64_t v)
{
    mock_put32(p, (uint32_t)(v >> 32));
    mock_put32(p + 4, (uint32_t)v);
}

int main(int argc, char **argv)
{
    unsigned port = 0, control_port = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "mock_memcached: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--port") == 0) port = (unsigned)atoi(v);
        else if (strcmp(a, "--control-port") == 0) control_port = (unsigned)atoi(v);
        else if (strcmp(a, "--user") == 0) mock.user = v;
        else if (strcmp(a, "--pass") == 0) mock.pass = v;
        else if (strcmp(a, "--item-size") == 0) mock.item_size_max = (size_t)strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "usage: mock_memcached [--port P] [--control-port C] [--user U --pass W] "
                            "[--item-size BYTES]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    unsigned bound, cbound;
    int lfd = mock_listen(port, &bound), cfd = mock_listen(control_port, &cbound);
    if (lfd < 0 || cfd < 0) {
        fprintf(stderr, "mock_memcached: cannot listen: %s\n", strerror(errno));
        return 1;
    }
    printf("PORT %u CONTROL %u\n", bound, cbound);
    fflush(stdout);

    for (;;) {
        struct pollfd pfd[MOCK_CONN_MAX + 2];
        pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = cfd, .events = POLLIN };
        int64_t now = mock_now_ms(), timeout = -1;
        for (size_t i = 0; i < mock.n_conns; i++) {
            struct mock_conn *c = &mock.conns[i];
            bool is_frozen = !c->is_control && mock.fault == MOCK_FAULT_HANG;
            short ev = is_frozen ? 0 : POLLIN;
            if (c->out.len && !is_frozen) {
                if (c->release_at_ms <= now)
                    ev |= POLLOUT;
                else if (timeout < 0 || c->release_at_ms - now < timeout)
                    timeout = c->release_at_ms - now;
            }
            pfd[i + 2] = (struct pollfd){ .fd = c->fd, .events = ev };
        }
        size_t n = mock.n_conns;
        if (poll(pfd, n + 2, (int)timeout) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        /* Serve existing connections first: accepting may reorder the array. */
        for (size_t i = n; i-- > 0;) {
            struct mock_conn *c = &mock.conns[i];
            if (pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR))
                mock_read(c);
            if (c->fd >= 0 && c->out.len && c->release_at_ms <= mock_now_ms() &&
                (c->is_control || mock.fault != MOCK_FAULT_HANG))
                mock_write(c);
            if (c->fd < 0 || (c->should_close && !c->out.len))
                mock_close(i);
        }
        if (pfd[0].revents & POLLIN)
            mock_accept(lfd, false);
        if (pfd[1].revents & POLLIN)
            mock_accept(cfd, true);
    }
}

static int64_t mock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mock_listen(unsigned port, unsigned *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

static void mock_accept(int lfd, bool is_control)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (mock.n_conns == MOCK_CONN_MAX) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    mock.conns[mock.n_conns++] = (struct mock_conn){ .fd = fd, .is_control = is_control };
    if (!is_control)
        mock.connections++;
}

static void mock_close(size_t i)
{
    struct mock_conn *c = &mock.conns[i];
    if (c->fd >= 0)
        close(c->fd);
    free(c->in.p);
    free(c->out.p);
    mock.conns[i] = mock.conns[--mock.n_conns];
}

static bool mock_buf_append(struct mock_buf *b, const void *p, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np)
            return false;
        b->p = np;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    return true;
}

static void mock_buf_consume(struct mock_buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void mock_read(struct mock_conn *c)
{
    unsigned char tmp[65536];
    ssize_t r = read(c->fd, tmp, sizeof tmp);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(c->fd);
        c->fd = -1;
        return;
    }
    if (!c->is_control && mock.fault == MOCK_FAULT_DROP) {
        mock.drops++;
        close(c->fd);
        c->fd = -1;
        return;
    }
    if (!mock_buf_append(&c->in, tmp, (size_t)r)) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    if (c->is_control)
        mock_handle_control(c);
    else
        mock_handle_binary(c);
}

static void mock_write(struct mock_conn *c)
{
    ssize_t w = write(c->fd, c->out.p, c->out.len);
    if (w < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        close(c->fd);
        c->fd = -1;
        return;
    }
    mock_buf_consume(&c->out, (size_t)w);
}

static void mock_handle_binary(struct mock_conn *c)
{
    size_t out_before = c->out.len;
    while (c->in.len >= MOCK_HEADER_LEN) {
        const unsigned char *h = c->in.p;
        uint32_t body_len = mock_get32(h + 8);
        if (h[0] != MOCK_REQ_MAGIC || body_len > MOCK_BODY_MAX) {
            close(c->fd);   /* not our protocol: like memcached, hang up */
            c->fd = -1;
            return;
        }
        if (c->in.len < MOCK_HEADER_LEN + (size_t)body_len)
            break;
        mock_request(c, h, h + MOCK_HEADER_LEN);
        mock_buf_consume(&c->in, MOCK_HEADER_LEN + (size_t)body_len);
    }
    if (mock.fault == MOCK_FAULT_DELAY && c->out.len > out_before && out_before == 0)
        c->release_at_ms = mock_now_ms() + mock.delay_ms;
}

static void mock_reply(struct mock_conn *c, const unsigned char *h, uint16_t status,
                       const void *ext, size_t ext_len, const void *key, size_t key_len,
                       const void *val, size_t val_len, uint64_t cas)
{
    unsigned char r[MOCK_HEADER_LEN] = { MOCK_RES_MAGIC, h[1] };
    mock_put16(r + 2, (uint16_t)key_len);
    r[4] = (unsigned char)ext_len;
    mock_put16(r + 6, status);
    mock_put32(r + 8, (uint32_t)(ext_len + key_len + val_len));
    memcpy(r + 12, h + 12, 4); /* opaque */
    mock_put64(r + 16, cas);
    mock_buf_append(&c->out, r, sizeof r);
    mock_buf_append(&c->out, ext, ext_len);
    mock_buf_append(&c->out, key, key_len);
    mock_buf_append(&c->out, val, val_len);
}

static void mock_reply_msg(struct mock_conn *c, const unsigned char *h, uint16_t status, const char *msg)
{
    mock_reply(c, h, status, NULL, 0, NULL, 0, msg, strlen(msg), 0);
}

static void mock_stat_line(struct mock_conn *c, const unsigned char *h, const char *name, unsigned long long v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu", v);
    mock_reply(c, h, MOCK_OK, NULL, 0, name, strlen(name), buf, (size_t)n, 0);
}

static bool mock_check_plain(const unsigned char *data, size_t len)
{
    /* PLAIN: authzid NUL authcid NUL password (RFC 4616). */
    const unsigned char *nul1 = memchr(data, 0, len);
    if (!nul1)
        return false;
    const unsigned char *authc = nul1 + 1;
    const unsigned char *nul2 = memchr(authc, 0, len - (size_t)(authc - data));
    if (!nul2)
        return false;
    const unsigned char *pw = nul2 + 1;
    size_t authc_len = (size_t)(nul2 - authc), pw_len = len - (size_t)(pw - data);
    return mock.user && mock.pass && authc_len == strlen(mock.user) &&
           memcmp(authc, mock.user, authc_len) == 0 && pw_len == strlen(mock.pass) &&
           memcmp(pw, mock.pass, pw_len) == 0;
}

static void mock_store(struct mock_conn *c, const unsigned char *h, unsigned op, const unsigned char *ext,
                       const char *key, size_t key_len, const unsigned char *val, size_t val_len)
{
    unsigned base = op >= 0x11 ? op - 0x10 : op; /* SETQ/ADDQ/REPLACEQ -> SET/ADD/REPLACE */
    bool is_quiet = mock_is_quiet(op);
    uint64_t req_cas = mock_get64(h + 16);
    mock.cmd_set++;
    if (h[4] != 8) {
        mock_reply_msg(c, h, MOCK_EINVAL, "Invalid arguments");
        return;
    }
    if (val_len + key_len + 59 > mock.item_size_max) {
        mock_reply_msg(c, h, MOCK_E2BIG, "Too large.");
        return;
    }
    struct mock_item *it = mock_find(key, key_len);
    if ((base == 0x02 && it) || (req_cas && it && it->cas != req_cas)) {
        mock_reply_msg(c, h, MOCK_EEXISTS, "Data exists for key.");
        return;
    }
    if ((base == 0x03 || req_cas) && !it) {
        mock_reply_msg(c, h, MOCK_ENOENT, "Not found");
        return;
    }
    if (!it) {
        if (mock.n_items == mock.items_cap) {
            size_t cap = mock.items_cap ? mock.items_cap * 2 : 64;
            struct mock_item *ni = realloc(mock.items, cap * sizeof *ni);
            if (!ni) {
                mock_reply_msg(c, h, 0x82, "Out of memory");
                return;
            }
            mock.items = ni;
            mock.items_cap = cap;
        }
        it = &mock.items[mock.n_items++];
        *it = (struct mock_item){ .key = malloc(key_len + 1), .key_len = key_len };
        memcpy(it->key, key, key_len);
        it->key[key_len] = '\0';
    }
    free(it->val);
    it->val = malloc(val_len ? val_len : 1);
    memcpy(it->val, val, val_len);
    it->val_len = val_len;
    it->flags = mock_get32(ext);
    it->exptime_raw = mock_get32(ext + 4);
    it->expires_at = mock_expiry(it->exptime_raw);
    it->cas = mock.next_cas++;
    if (!is_quiet)
        mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, it->cas);
}

static void mock_arith(struct mock_conn *c, const unsigned char *h, unsigned op, const unsigned char *ext,
                       const char *key, size_t key_len)
{
    bool is_quiet = mock_is_quiet(op), is_incr = op == 0x05 || op == 0x15;
    if (h[4] != 20) {
        mock_reply_msg(c, h, MOCK_EINVAL, "Invalid arguments");
        return;
    }
    uint64_t delta = mock_get64(ext), initial = mock_get64(ext + 8), v;
    uint32_t exptime = mock_get32(ext + 16);
    struct mock_item *it = mock_find(key, key_len);
    char num[24];
    if (!it) {
        if (exptime == 0xffffffffu) {
            mock_reply_msg(c, h, MOCK_ENOENT, "Not found");
            return;
        }
        v = initial;
        int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
        unsigned char sext[8] = { 0 };
        mock_put32(sext + 4, exptime);
        unsigned char fake[MOCK_HEADER_LEN];
        memcpy(fake, h, sizeof fake);
        fake[4] = 8;
        fake[16] = fake[17] = fake[18] = fake[19] = fake[20] = fake[21] = fake[22] = fake[23] = 0;
        /* Store quietly (SETQ) through the common path, then answer for INCR. */
        size_t before = c->out.len;
        mock_store(c, fake, 0x11, sext, key, key_len, (const unsigned char *)num, (size_t)n);
        mock.cmd_set--;
        if (c->out.len != before)
            return;
        it = mock_find(key, key_len);
    } else {
        char buf[24];
        if (it->val_len == 0 || it->val_len >= sizeof buf) {
            mock_reply_msg(c, h, MOCK_DELTA_BADVAL, "Non-numeric server-side value for incr or decr");
            return;
        }
        memcpy(buf, it->val, it->val_len);
        buf[it->val_len] = '\0';
        char *end;
        errno = 0;
        unsigned long long cur = strtoull(buf, &end, 10);
        if (*end || errno) {
            mock_reply_msg(c, h, MOCK_DELTA_BADVAL, "Non-numeric server-side value for incr or decr");
            return;
        }
        v = is_incr ? cur + delta : (cur < delta ? 0 : cur - delta);
        int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
        free(it->val);
        it->val = malloc((size_t)n);
        memcpy(it->val, num, (size_t)n);
        it->val_len = (size_t)n;
        it->cas = mock.next_cas++;
    }
    if (!is_quiet) {
        unsigned char out[8];
        mock_put64(out, v);
        mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, out, 8, it->cas);
    }
}

static void mock_request(struct mock_conn *c, const unsigned char *h, const unsigned char *body)
{
    unsigned op = h[1];
    size_t ext_len = h[4], key_len = mock_get16(h + 2), body_len = mock_get32(h + 8);
    if (ext_len + key_len > body_len) {
        mock_reply_msg(c, h, MOCK_EINVAL, "Invalid arguments");
        return;
    }
    const unsigned char *ext = body;
    const char *key = (const char *)body + ext_len;
    const unsigned char *val = body + ext_len + key_len;
    size_t val_len = body_len - ext_len - key_len;
    mock.ops[op]++;
    mock.commands++;
    if (!mock_is_quiet(op))
        mock.round_trips++;

    bool is_sasl = op == 0x20 || op == 0x21 || op == 0x22;
    if (mock.user && !c->is_authed && !is_sasl && op != 0x0b) {
        mock_reply_msg(c, h, MOCK_AUTH_ERROR, "Auth failure");
        return;
    }
    switch (op) {
    case 0x00: case 0x09: case 0x0c: case 0x0d: { /* GET, GETQ, GETK, GETKQ */
        bool has_key = op == 0x0c || op == 0x0d;
        struct mock_item *it = mock_find(key, key_len);
        mock.cmd_get++;
        if (!it) {
            mock.get_misses++;
            if (!mock_is_quiet(op))
                mock_reply(c, h, MOCK_ENOENT, NULL, 0, has_key ? key : NULL, has_key ? key_len : 0,
                           "Not found", 9, 0);
            return;
        }
        mock.get_hits++;
        unsigned char fl[4];
        mock_put32(fl, it->flags);
        mock_reply(c, h, MOCK_OK, fl, 4, has_key ? key : NULL, has_key ? key_len : 0, it->val,
                   it->val_len, it->cas);
        return;
    }
    case 0x01: case 0x02: case 0x03: case 0x11: case 0x12: case 0x13:
        mock_store(c, h, op, ext, key, key_len, val, val_len);
        return;
    case 0x04: case 0x14: { /* DELETE, DELETEQ */
        struct mock_item *it = mock_find(key, key_len);
        if (!it) {
            mock_reply_msg(c, h, MOCK_ENOENT, "Not found");
            return;
        }
        mock_delete_item(it);
        if (op == 0x04)
            mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, 0);
        return;
    }
    case 0x05: case 0x06: case 0x15: case 0x16:
        mock_arith(c, h, op, ext, key, key_len);
        return;
    case 0x07: case 0x17: /* QUIT, QUITQ */
        if (op == 0x07)
            mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, 0);
        c->should_close = true;
        return;
    case 0x08: case 0x18: /* FLUSH, FLUSHQ */
        mock_flush_items();
        if (op == 0x08)
            mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, 0);
        return;
    case 0x0a: /* NOOP */
        mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, 0);
        return;
    case 0x0b: /* VERSION */
        mock_reply_msg(c, h, MOCK_OK, "1.6.18-mock");
        return;
    case 0x10: { /* STAT */
        if (key_len == 0) {
            size_t bytes = 0;
            for (size_t i = 0; i < mock.n_items; i++)
                bytes += mock.items[i].val_len + mock.items[i].key_len;
            mock_stat_line(c, h, "pid", (unsigned long long)getpid());
            mock_reply(c, h, MOCK_OK, NULL, 0, "version", 7, "1.6.18-mock", 11, 0);
            mock_stat_line(c, h, "curr_items", mock.n_items);
            mock_stat_line(c, h, "bytes", bytes);
            mock_stat_line(c, h, "cmd_get", mock.cmd_get);
            mock_stat_line(c, h, "cmd_set", mock.cmd_set);
            mock_stat_line(c, h, "get_hits", mock.get_hits);
            mock_stat_line(c, h, "get_misses", mock.get_misses);
            mock_stat_line(c, h, "evictions", 0);
            mock_stat_line(c, h, "limit_maxbytes", 64u << 20);
        }
        mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, 0);
        return;
    }
    case 0x1c: { /* TOUCH */
        struct mock_item *it = mock_find(key, key_len);
        if (ext_len != 4) {
            mock_reply_msg(c, h, MOCK_EINVAL, "Invalid arguments");
            return;
        }
        if (!it) {
            mock_reply_msg(c, h, MOCK_ENOENT, "Not found");
            return;
        }
        it->exptime_raw = mock_get32(ext);
        it->expires_at = mock_expiry(it->exptime_raw);
        mock_reply(c, h, MOCK_OK, NULL, 0, NULL, 0, NULL, 0, it->cas);
        return;
    }
    case 0x20: /* SASL LIST MECHS */
        mock_reply_msg(c, h, MOCK_OK, "PLAIN");
        return;
    case 0x21: { /* SASL AUTH */
        bool is_ok = key_len == 5 && memcmp(key, "PLAIN", 5) == 0 &&
                     mock.fault != MOCK_FAULT_REFUSE_AUTH && (!mock.user || mock_check_plain(val, val_len));
        if (is_ok) {
            mock.auth_ok++;
            c->is_authed = true;
            mock_reply_msg(c, h, MOCK_OK, "Authenticated");
        } else {
            mock.auth_fail++;
            mock_reply_msg(c, h, MOCK_AUTH_ERROR, "Auth failure");
        }
        return;
    }
    default:
        mock.unknown++;
        mock_reply_msg(c, h, MOCK_UNKNOWN, "Unknown command");
        return;
    }
}

static int64_t mock_expiry(uint32_t exptime)
{
    if (exptime == 0)
        return 0;
    if (exptime <= 2592000)
        return (int64_t)time(NULL) + exptime;
    return exptime;
}

static struct mock_item *mock_find(const char *key, size_t key_len)
{
    int64_t now = time(NULL);
    for (size_t i = 0; i < mock.n_items; i++) {
        struct mock_item *it = &mock.items[i];
        if (it->key_len == key_len && memcmp(it->key, key, key_len) == 0) {
            if (it->expires_at && it->expires_at <= now) {
                mock_delete_item(it);
                return NULL;
            }
            return it;
        }
    }
    return NULL;
}

static void mock_delete_item(struct mock_item *it)
{
    free(it->key);
    free(it->val);
    *it = mock.items[--mock.n_items];
}

static void mock_flush_items(void)
{
    while (mock.n_items)
        mock_delete_item(&mock.items[0]);
}

/* ---- control protocol ---- */

static void mock_ctl_printf(struct mock_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mock_ctl_printf(struct mock_conn *c, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        mock_buf_append(&c->out, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void mock_ctl_stats(struct mock_conn *c)
{
    static const char *const fault_names[] = { "none", "refuse_auth", "delay", "hang", "drop" };
    for (unsigned op = 0; op < 256; op++)
        if (mock_op_names[op])
            mock_ctl_printf(c, "op_%s %llu\n", mock_op_names[op], (unsigned long long)mock.ops[op]);
#define MOCK_STAT(name) mock_ctl_printf(c, #name " %llu\n", (unsigned long long)mock.name)
    MOCK_STAT(commands);
    MOCK_STAT(round_trips);
    MOCK_STAT(connections);
    MOCK_STAT(auth_ok);
    MOCK_STAT(auth_fail);
    MOCK_STAT(get_hits);
    MOCK_STAT(get_misses);
    MOCK_STAT(cmd_get);
    MOCK_STAT(cmd_set);
    MOCK_STAT(drops);
    MOCK_STAT(unknown);
#undef MOCK_STAT
    mock_ctl_printf(c, "curr_items %zu\n", mock.n_items);
    mock_ctl_printf(c, "curr_connections %zu\n", mock.n_conns);
    mock_ctl_printf(c, "fault %s\n", fault_names[mock.fault]);
    mock_ctl_printf(c, "delay_ms %u\n", mock.delay_ms);
}

static void mock_ctl_command(struct mock_conn *c, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "stats") == 0) {
        mock_ctl_stats(c);
    } else if (strcmp(line, "reset") == 0) {
        memset(mock.ops, 0, sizeof mock.ops);
        mock.commands = mock.round_trips = mock.connections = mock.auth_ok = mock.auth_fail = 0;
        mock.get_hits = mock.get_misses = mock.cmd_get = mock.cmd_set = mock.drops = mock.unknown = 0;
    } else if (strcmp(line, "flush") == 0) {
        mock_flush_items();
    } else if (strcmp(line, "keys") == 0) {
        for (size_t i = 0; i < mock.n_items; i++)
            mock_ctl_printf(c, "%.*s\n", (int)mock.items[i].key_len, mock.items[i].key);
    } else if (strcmp(line, "item") == 0 && arg) {
        struct mock_item *it = mock_find(arg, strlen(arg));
        if (it)
            mock_ctl_printf(c, "VALUE %zu %u %u\n", it->val_len, it->flags, it->exptime_raw);
    } else if (strcmp(line, "fault") == 0 && arg) {
        char *num = strchr(arg, ' ');
        if (num)
            *num++ = '\0';
        if (strcmp(arg, "none") == 0) mock.fault = MOCK_FAULT_NONE;
        else if (strcmp(arg, "refuse_auth") == 0) mock.fault = MOCK_FAULT_REFUSE_AUTH;
        else if (strcmp(arg, "hang") == 0) mock.fault = MOCK_FAULT_HANG;
        else if (strcmp(arg, "drop") == 0) mock.fault = MOCK_FAULT_DROP;
        else if (strcmp(arg, "delay") == 0 && num) {
            mock.fault = MOCK_FAULT_DELAY;
            mock.delay_ms = (unsigned)atoi(num);
        } else {
            mock_ctl_printf(c, "ERROR unknown fault\n");
        }
        if (mock.fault != MOCK_FAULT_DELAY)
            mock.delay_ms = 0;
    } else if (strcmp(line, "quit") == 0) {
        c->should_close = true;
    } else {
        mock_ctl_printf(c, "ERROR unknown command\n");
    }
    mock_ctl_printf(c, "END\n");
}

static void mock_handle_control(struct mock_conn *c)
{
    for (;;) {
        unsigned char *nl = memchr(c->in.p, '\n', c->in.len);
        if (!nl)
            return;
        size_t n = (size_t)(nl - c->in.p);
        char line[1024];
        size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, c->in.p, m);
        line[m] = '\0';
        if (m && line[m - 1] == '\r')
            line[m - 1] = '\0';
        mock_buf_consume(&c->in, n + 1);
        mock_ctl_command(c, line);
    }
}
