/*
 * server/fcgi.h - the FastCGI record layer of a worker: one request per
 *   connection, the responder role, no multiplexing.
 * Owns: reading a request's records from a connection (BEGIN_REQUEST,
 *   PARAMS, STDIN), decoding the params into name/value pairs in the request
 *   arena, answering management records (GET_VALUES, unknown types) and
 *   requests we do not serve (other roles, a second request id), writing a
 *   response as STDOUT records and END_REQUEST in one writev, and closing the
 *   connection: at once when the whole request was read, else the way libfcgi
 *   does (shutdown, then read to EOF, at most 2 s).
 * Why not libfcgi: its FCGX_Accept_r/FCGX_Finish_r cost 14,000 instructions
 *   per request (callgrind), most of them one malloc and free per param, and
 *   every response is copied into its stream buffer; here the params are
 *   decoded in one pass into the arena and the response goes out from the
 *   handler's buffers (README "The FastCGI layer").
 * Contract: the fd is blocking; a read that fails or ends (the read-deadline
 *   timer shuts the socket down) ends the request with FCGI_CLOSED. Nothing
 *   here allocates outside the arena or logs.
 * Spec: https://fastcgi-archives.github.io/FastCGI_Specification.html
 */
#ifndef TL_SERVER_FCGI_H
#define TL_SERVER_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/arena.h"
#include "request.h"

/* Record types and values of the specification. */
enum {
    FCGI_VERSION_1 = 1,
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
    FCGI_RESPONDER = 1,
    FCGI_KEEP_CONN = 1,
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN = 1,
    FCGI_UNKNOWN_ROLE = 3,
};

/* Params over this many bytes (names and values with their length bytes)
 * end the connection: nginx refuses far smaller headers (8 KiB a line). */
#define FCGI_PARAMS_MAX (256u * 1024)

enum fcgi_status {
    FCGI_OK = 0,
    FCGI_CLOSED,     /* the peer closed, aborted, or a read failed (or was shut down) */
    FCGI_BAD,        /* not FastCGI: wrong version, malformed pairs, records out of order */
    FCGI_TOO_BIG,    /* params over FCGI_PARAMS_MAX */
    FCGI_NOMEM,      /* the arena is out of memory */
};

/* One connection. Zeroed by fcgi_read_request; the read buffer lives in the
 * arena, so a conn must not outlive the arena's next reset. */
struct fcgi_conn {
    int fd;
    struct arena *arena;  /* where the read buffer lives */
    uint16_t id;          /* the request id of BEGIN_REQUEST */
    bool keep_conn;       /* the web server asked to keep the connection (not honoured: closed) */
    bool stdin_done;      /* the empty STDIN record has been read */
    bool nomem;           /* the arena could not hold the read buffer */
    char *buf;            /* read buffer (arena) */
    size_t cap, pos, len; /* buf[pos..len) is read but not consumed */
    size_t rec_left;      /* content bytes left of the STDIN record being read */
    size_t pad_left;      /* padding bytes after it */
};

/* Read records from fd until the params are complete (the empty PARAMS
 * record). On FCGI_OK, *params holds every pair in order (names and values
 * in the arena, values NUL-terminated) and the body can be read with
 * fcgi_read_body. Management records met on the way are answered; a
 * BEGIN_REQUEST for another role is answered FCGI_UNKNOWN_ROLE and the next
 * one awaited. *why: a short static reason for anything but FCGI_OK. */
enum fcgi_status fcgi_read_request(struct fcgi_conn *c, int fd, struct arena *a,
                                   struct req_kvs *params, const char **why);

/* Read up to n bytes of the request body (the STDIN stream) into dst:
 * > 0 bytes read, 0 at the end of the body, -1 when the connection failed
 * or broke the protocol. */
ssize_t fcgi_read_body(struct fcgi_conn *c, char *dst, size_t n);

/* Write head then body (either may be empty) as STDOUT records, the empty
 * STDOUT record and END_REQUEST (REQUEST_COMPLETE, app status 0), in as few
 * writev calls as the socket takes. 0, or -1 when the peer is gone. The
 * iovec array comes from the arena. */
int fcgi_write_response(struct fcgi_conn *c, struct arena *a, const char *head, size_t head_len,
                        const char *body, size_t body_len);

/* Close the connection. At once when everything of the request was read
 * (the empty STDIN record, the web server's last, is consumed or buffered)
 * or with keep_conn. Else shutdown(SHUT_WR), then read until the peer
 * closes (at most 2 s), then close: closing with unread bytes would reset a
 * TCP connection and could lose the response, and a web server still
 * sending the body would fail its write. fd < 0: nothing. */
void fcgi_close(struct fcgi_conn *c);

/* Decode FastCGI name-value pairs (the PARAMS stream's bytes) into out:
 * 0, or -1 when malformed (a length running past the end) or out of
 * memory (*why says which). Pure: the fuzzer's entry point. */
int fcgi_decode_params(struct arena *a, const char *p, size_t n, struct req_kvs *out,
                       const char **why);

#endif
