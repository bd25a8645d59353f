/*
 * server/fcgi.c - the FastCGI record layer of a worker (see fcgi.h).
 * Owns: the record reader (a buffer in the request arena, refilled with
 *   read(2) when a record needs more), the params stream and its pair
 *   decoder, the STDIN stream, the answers to management records and to
 *   requests we do not serve, the response writer and the lingering close.
 * Invariants: a record header is always read whole before its content;
 *   params are complete only at the empty PARAMS record; the STDIN stream
 *   is read in order, never past the empty STDIN record.
 * Context: worker only (and the tests and the fuzzer).
 */
#include "fcgi.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../base/clock.h"

#define FCGI_HEADER_LEN 8
#define FCGI_RECORD_MAX 65535u
#define FCGI_READ_CHUNK 16384u
#define FCGI_LINGER_MS 2000

static const char fcgi_why_nomem[] = "out of memory";

struct fcgi_header {
    uint8_t type;
    uint16_t id;
    size_t content_len;
    size_t padding_len;
};

static bool fcgi_fill(struct fcgi_conn *c, size_t need);
static enum fcgi_status fcgi_lost(struct fcgi_conn *c, const char **why, const char *msg);
static bool fcgi_all_read(const struct fcgi_conn *c);
static int fcgi_foreign(struct fcgi_conn *c, const struct fcgi_header *h);
static bool fcgi_next_header(struct fcgi_conn *c, struct fcgi_header *h, bool *bad);
static bool fcgi_skip(struct fcgi_conn *c, size_t n);
static void fcgi_put_header(uint8_t *out, uint8_t type, uint16_t id, size_t content_len,
                            size_t padding_len);
static int fcgi_writev_all(int fd, struct iovec *iov, int n);
static int fcgi_end_request(int fd, uint16_t id, uint8_t protocol_status);
static int fcgi_answer_management(struct fcgi_conn *c, const struct fcgi_header *h);
static bool fcgi_pair_len(const unsigned char **p, const unsigned char *end, size_t *len);

enum fcgi_status fcgi_read_request(struct fcgi_conn *c, int fd, struct arena *a,
                                   struct req_kvs *params, const char **why)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->arena = a;
    *params = (struct req_kvs){ NULL, 0 };
    bool bad = false;              /* a version byte other than 1 */
    char *pbuf = NULL;             /* the params stream, concatenated */
    size_t plen = 0, pcap = 0;
    struct fcgi_header h;
    for (;;) {                     /* c->id != 0 once our BEGIN_REQUEST is read */
        if (!fcgi_next_header(c, &h, &bad)) {
            if (bad) {
                *why = "not a FastCGI record (version)";
                return FCGI_BAD;
            }
            return fcgi_lost(c, why, "connection closed before the params ended");
        }
        int foreign = fcgi_foreign(c, &h);
        if (foreign < 0)
            return fcgi_lost(c, why, "connection closed");
        if (foreign)
            continue;
        if (h.type == FCGI_BEGIN_REQUEST) {
            if (h.content_len < 8) {
                *why = "short BEGIN_REQUEST";
                return FCGI_BAD;
            }
            if (!fcgi_fill(c, 8))
                return fcgi_lost(c, why, "connection closed in BEGIN_REQUEST");
            const unsigned char *b = (const unsigned char *)c->buf + c->pos;
            unsigned role = (unsigned)b[0] << 8 | b[1];
            bool keep = b[2] & FCGI_KEEP_CONN;
            if (!fcgi_skip(c, h.content_len + h.padding_len))
                return fcgi_lost(c, why, "connection closed in BEGIN_REQUEST");
            if (role != FCGI_RESPONDER) {          /* authorizer, filter: not served */
                if (fcgi_end_request(fd, h.id, FCGI_UNKNOWN_ROLE) != 0)
                    return fcgi_lost(c, why, "connection closed");
                continue;
            }
            c->id = h.id;
            c->keep_conn = keep;
            plen = 0;
            continue;
        }
        if (c->id == 0) {              /* before any BEGIN_REQUEST: skipped, as libfcgi does */
            if (!fcgi_skip(c, h.content_len + h.padding_len))
                return fcgi_lost(c, why, "connection closed");
            continue;
        }
        if (h.type == FCGI_ABORT_REQUEST) {
            *why = "the web server aborted the request";
            return FCGI_CLOSED;
        }
        if (h.type != FCGI_PARAMS) {
            *why = "a record other than PARAMS before the params ended";
            return FCGI_BAD;
        }
        if (h.content_len == 0) {        /* the params are complete */
            if (!fcgi_skip(c, h.padding_len))
                return fcgi_lost(c, why, "connection closed");
            if (fcgi_decode_params(a, pbuf, plen, params, why) != 0)
                return *why == fcgi_why_nomem ? FCGI_NOMEM : FCGI_BAD;
            return FCGI_OK;
        }
        if (plen + h.content_len > FCGI_PARAMS_MAX) {
            *why = "FastCGI params too large";
            return FCGI_TOO_BIG;
        }
        if (plen + h.content_len > pcap) {
            size_t ncap = pcap ? pcap * 2 : 4096;
            while (ncap < plen + h.content_len)
                ncap *= 2;
            char *n = arena_realloc(a, pbuf, plen, ncap);
            if (!n) {
                *why = fcgi_why_nomem;
                return FCGI_NOMEM;
            }
            pbuf = n;
            pcap = ncap;
        }
        if (!fcgi_fill(c, h.content_len))
            return fcgi_lost(c, why, "connection closed in the params");
        memcpy(pbuf + plen, c->buf + c->pos, h.content_len);
        plen += h.content_len;
        if (!fcgi_skip(c, h.content_len + h.padding_len))
            return fcgi_lost(c, why, "connection closed");
    }
}

ssize_t fcgi_read_body(struct fcgi_conn *c, char *dst, size_t n)
{
    while (!c->stdin_done) {
        if (c->rec_left > 0) {
            if (n == 0)
                return 0;
            size_t want = n < c->rec_left ? n : c->rec_left;
            size_t have = c->len - c->pos;
            ssize_t got;
            if (have > 0) {
                got = (ssize_t)(want < have ? want : have);
                memcpy(dst, c->buf + c->pos, (size_t)got);
                c->pos += (size_t)got;
            } else {                   /* nothing buffered: straight into dst */
                do
                    got = read(c->fd, dst, want);
                while (got < 0 && errno == EINTR);
                if (got <= 0)
                    return -1;
            }
            c->rec_left -= (size_t)got;
            if (c->rec_left == 0) {
                size_t pad = c->pad_left;
                c->pad_left = 0;
                if (!fcgi_skip(c, pad))
                    return -1;
            }
            return got;
        }
        struct fcgi_header h;
        bool bad = false;
        if (!fcgi_next_header(c, &h, &bad))
            return -1;
        int foreign = fcgi_foreign(c, &h);
        if (foreign < 0)
            return -1;
        if (foreign)
            continue;
        if (h.type != FCGI_STDIN)      /* ABORT_REQUEST, or out of order */
            return -1;
        if (h.content_len == 0) {
            c->stdin_done = true;
            if (!fcgi_skip(c, h.padding_len))
                return -1;
            break;
        }
        c->rec_left = h.content_len;
        c->pad_left = h.padding_len;
    }
    return 0;
}

int fcgi_write_response(struct fcgi_conn *c, struct arena *a, const char *head, size_t head_len,
                        const char *body, size_t body_len)
{
    size_t total = head_len + body_len;
    size_t records = (total + FCGI_RECORD_MAX - 1) / FCGI_RECORD_MAX;
    /* per record: its header and at most two pieces (the end of head, the
     * start of body); then the trailer */
    struct iovec *iov = arena_alloc(a, (records * 3 + 1) * sizeof *iov);
    uint8_t *hdrs = arena_alloc(a, records * FCGI_HEADER_LEN + 2 * FCGI_HEADER_LEN + 8);
    if (!iov || !hdrs)
        return -1;
    int n = 0;
    size_t off = 0;   /* offset in head + body */
    for (size_t r = 0; r < records; r++) {
        size_t len = total - off < FCGI_RECORD_MAX ? total - off : FCGI_RECORD_MAX;
        fcgi_put_header(hdrs + r * FCGI_HEADER_LEN, FCGI_STDOUT, c->id, len, 0);
        iov[n++] = (struct iovec){ hdrs + r * FCGI_HEADER_LEN, FCGI_HEADER_LEN };
        size_t end = off + len;
        if (off < head_len) {
            size_t k = (end < head_len ? end : head_len) - off;
            iov[n++] = (struct iovec){ (void *)(head + off), k };
            off += k;
        }
        if (off < end) {
            iov[n++] = (struct iovec){ (void *)(body + (off - head_len)), end - off };
            off = end;
        }
    }
    /* the empty STDOUT record, then END_REQUEST: app status 0, complete */
    uint8_t *t = hdrs + records * FCGI_HEADER_LEN;
    fcgi_put_header(t, FCGI_STDOUT, c->id, 0, 0);
    fcgi_put_header(t + FCGI_HEADER_LEN, FCGI_END_REQUEST, c->id, 8, 0);
    memset(t + 2 * FCGI_HEADER_LEN, 0, 8);
    t[2 * FCGI_HEADER_LEN + 4] = FCGI_REQUEST_COMPLETE;
    iov[n++] = (struct iovec){ t, 2 * FCGI_HEADER_LEN + 8 };
    return fcgi_writev_all(c->fd, iov, n);
}

void fcgi_close(struct fcgi_conn *c)
{
    if (c->fd < 0)
        return;
    if (!c->keep_conn && !fcgi_all_read(c) && shutdown(c->fd, SHUT_WR) == 0) {
        int64_t deadline = tl_clock_ms() + FCGI_LINGER_MS;
        char trash[1024];
        for (;;) {
            int64_t left = deadline - tl_clock_ms();
            struct pollfd p = { .fd = c->fd, .events = POLLIN };
            int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready <= 0)
                break;
            ssize_t got = read(c->fd, trash, sizeof trash);
            if (got == 0 || (got < 0 && errno != EINTR))
                break;
        }
    }
    close(c->fd);
    c->fd = -1;
}

int fcgi_decode_params(struct arena *a, const char *p, size_t n, struct req_kvs *out,
                       const char **why)
{
    *out = (struct req_kvs){ NULL, 0 };
    if (n == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)p, *end = s + n;
    /* first pass: count the pairs and check every length */
    size_t pairs = 0;
    for (const unsigned char *q = s; q < end; pairs++) {
        size_t nl = 0, vl = 0;
        if (!fcgi_pair_len(&q, end, &nl) || !fcgi_pair_len(&q, end, &vl) ||
            nl > (size_t)(end - q) || vl > (size_t)(end - q) - nl) {
            *why = "malformed FastCGI params";
            return -1;
        }
        q += nl + vl;
    }
    if (pairs == 0)
        return 0;
    /* names and values copied out with a NUL after each (the stream packs
     * the next length right after a value) */
    struct req_kv *v = arena_alloc(a, pairs * sizeof *v);
    char *text = arena_alloc(a, n + 2 * pairs);
    if (!v || !text) {
        *why = fcgi_why_nomem;
        return -1;
    }
    for (size_t i = 0; i < pairs; i++) {
        size_t nl = 0, vl = 0;
        fcgi_pair_len(&s, end, &nl);
        fcgi_pair_len(&s, end, &vl);
        memcpy(text, s, nl);
        text[nl] = '\0';
        v[i].name = (struct str){ text, nl };
        text += nl + 1;
        s += nl;
        memcpy(text, s, vl);
        text[vl] = '\0';
        v[i].value = (struct str){ text, vl };
        text += vl + 1;
        s += vl;
    }
    *out = (struct req_kvs){ v, pairs };
    return 0;
}

/* ---- helpers ---- */

/* Make at least need bytes (at most a record's content) available at
 * c->buf + c->pos, reading as much as the socket has up to the buffer's
 * room. The buffer is allocated in the arena on first use and grows there
 * for a record larger than it (rare: nginx sends its params in one record
 * of a few KB). */
static bool fcgi_fill(struct fcgi_conn *c, size_t need)
{
    if (c->len - c->pos >= need)
        return true;
    if (c->cap < need) {
        size_t ncap = need > FCGI_READ_CHUNK ? need + FCGI_HEADER_LEN : FCGI_READ_CHUNK;
        char *nb = arena_alloc(c->arena, ncap);
        if (!nb) {
            c->nomem = true;
            return false;
        }
        if (c->len > c->pos)
            memcpy(nb, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
        c->buf = nb;
        c->cap = ncap;
    } else if (c->cap - c->pos < need) {   /* move the unread bytes to the front */
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    while (c->len - c->pos < need) {
        ssize_t got = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        c->len += (size_t)got;
    }
    return true;
}

/* A read came up short: the arena ran out (FCGI_NOMEM), else the
 * connection ended or failed (FCGI_CLOSED, with msg). */
static enum fcgi_status fcgi_lost(struct fcgi_conn *c, const char **why, const char *msg)
{
    *why = c->nomem ? fcgi_why_nomem : msg;
    return c->nomem ? FCGI_NOMEM : FCGI_CLOSED;
}

/* Whether everything the web server sends for this request is read: the
 * empty STDIN record was consumed, or sits in the buffer behind records
 * that are whole there too (body records the handler did not read). The
 * web server sends nothing after it, so a close at once can neither reset
 * a TCP connection with unread bytes nor fail a write of the web server's.
 * Through nginx a request without a body arrives in one write, and this
 * saves the lingering close's three system calls. */
static bool fcgi_all_read(const struct fcgi_conn *c)
{
    if (c->stdin_done)
        return true;
    size_t p = c->pos, rest = c->rec_left + c->pad_left;   /* of the record being read */
    for (;;) {
        if (c->len - p < rest + FCGI_HEADER_LEN)
            return false;
        p += rest;
        const unsigned char *b = (const unsigned char *)c->buf + p;
        size_t content = (size_t)b[4] << 8 | b[5];
        if (b[1] == FCGI_STDIN && (b[2] << 8 | b[3]) == c->id && content == 0)
            return true;
        p += FCGI_HEADER_LEN;
        rest = content + b[6];
    }
}

/* A record that is not our request's, handled and consumed: a management
 * record (answered), a BEGIN_REQUEST of a second request once ours began
 * (refused: CANT_MPX_CONN), any other record of another id (skipped, as
 * libfcgi does). 1 when h was one, 0 when it is ours (or, before our
 * BEGIN_REQUEST, c->id 0, any request's), -1 when the connection failed. */
static int fcgi_foreign(struct fcgi_conn *c, const struct fcgi_header *h)
{
    if (h->id == 0) {
        if (!fcgi_fill(c, h->content_len) || fcgi_answer_management(c, h) != 0)
            return -1;
    } else if (c->id == 0 || h->id == c->id) {
        return 0;
    } else if (h->type == FCGI_BEGIN_REQUEST &&
               fcgi_end_request(c->fd, h->id, FCGI_CANT_MPX_CONN) != 0) {
        return -1;
    }
    return fcgi_skip(c, h->content_len + h->padding_len) ? 1 : -1;
}

/* Read the next record header; false at the end of the connection, or with
 * *bad when the version byte is not 1. */
static bool fcgi_next_header(struct fcgi_conn *c, struct fcgi_header *h, bool *bad)
{
    if (!fcgi_fill(c, FCGI_HEADER_LEN))
        return false;
    const unsigned char *b = (const unsigned char *)c->buf + c->pos;
    if (b[0] != FCGI_VERSION_1) {
        *bad = true;
        return false;
    }
    h->type = b[1];
    h->id = (uint16_t)(b[2] << 8 | b[3]);
    h->content_len = (size_t)b[4] << 8 | b[5];
    h->padding_len = b[6];
    c->pos += FCGI_HEADER_LEN;
    return true;
}

/* Consume n bytes: buffered ones first, then read and thrown away. */
static bool fcgi_skip(struct fcgi_conn *c, size_t n)
{
    size_t have = c->len - c->pos;
    if (n <= have) {
        c->pos += n;
        return true;
    }
    n -= have;
    c->pos = c->len = 0;
    char trash[4096];
    while (n > 0) {
        ssize_t got = read(c->fd, trash, n < sizeof trash ? n : sizeof trash);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        n -= (size_t)got;
    }
    return true;
}

static void fcgi_put_header(uint8_t *out, uint8_t type, uint16_t id, size_t content_len,
                            size_t padding_len)
{
    out[0] = FCGI_VERSION_1;
    out[1] = type;
    out[2] = (uint8_t)(id >> 8);
    out[3] = (uint8_t)id;
    out[4] = (uint8_t)(content_len >> 8);
    out[5] = (uint8_t)content_len;
    out[6] = (uint8_t)padding_len;
    out[7] = 0;
}

/* writev until everything is written (a socket may take part of it). */
static int fcgi_writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        int batch = n < 1024 ? n : 1024;   /* IOV_MAX */
        ssize_t w = writev(fd, iov, batch);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

static int fcgi_end_request(int fd, uint16_t id, uint8_t protocol_status)
{
    uint8_t rec[FCGI_HEADER_LEN + 8] = { 0 };
    fcgi_put_header(rec, FCGI_END_REQUEST, id, 8, 0);
    rec[FCGI_HEADER_LEN + 4] = protocol_status;
    struct iovec iov = { rec, sizeof rec };
    return fcgi_writev_all(fd, &iov, 1);
}

/* GET_VALUES: the three variables of the specification we can answer (one
 * request per connection, no multiplexing); any other management type:
 * UNKNOWN_TYPE. The record's content is buffered at c->pos. */
static int fcgi_answer_management(struct fcgi_conn *c, const struct fcgi_header *h)
{
    uint8_t out[FCGI_HEADER_LEN + 128];
    size_t len = 0;
    if (h->type == FCGI_GET_VALUES) {
        static const struct { const char *name, *value; } vars[] = {
            { "FCGI_MAX_CONNS", "1" }, { "FCGI_MAX_REQS", "1" }, { "FCGI_MPXS_CONNS", "0" },
        };
        const unsigned char *q = (const unsigned char *)c->buf + c->pos, *end = q + h->content_len;
        while (q < end) {
            size_t nl = 0, vl = 0;
            if (!fcgi_pair_len(&q, end, &nl) || !fcgi_pair_len(&q, end, &vl) ||
                nl > (size_t)(end - q) || vl > (size_t)(end - q) - nl)
                break;
            for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
                size_t vn = strlen(vars[i].name), vv = strlen(vars[i].value);
                if (nl == vn && memcmp(q, vars[i].name, vn) == 0 &&
                    len + 2 + vn + vv <= sizeof out - FCGI_HEADER_LEN) {
                    uint8_t *o = out + FCGI_HEADER_LEN + len;
                    o[0] = (uint8_t)vn;
                    o[1] = (uint8_t)vv;
                    memcpy(o + 2, vars[i].name, vn);
                    memcpy(o + 2 + vn, vars[i].value, vv);
                    len += 2 + vn + vv;
                }
            }
            q += nl + vl;
        }
        fcgi_put_header(out, FCGI_GET_VALUES_RESULT, 0, len, 0);
    } else {
        memset(out + FCGI_HEADER_LEN, 0, 8);
        out[FCGI_HEADER_LEN] = h->type;
        len = 8;
        fcgi_put_header(out, FCGI_UNKNOWN_TYPE, 0, len, 0);
    }
    struct iovec iov = { out, FCGI_HEADER_LEN + len };
    return fcgi_writev_all(c->fd, &iov, 1);
}

/* One length of a name-value pair: 1 byte (< 128) or 4 bytes with the high
 * bit set. */
static bool fcgi_pair_len(const unsigned char **p, const unsigned char *end, size_t *len)
{
    const unsigned char *q = *p;
    if (q >= end)
        return false;
    if (!(q[0] & 0x80)) {
        *len = q[0];
        *p = q + 1;
        return true;
    }
    if (end - q < 4)
        return false;
    *len = (size_t)(q[0] & 0x7f) << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
    *p = q + 4;
    return true;
}
