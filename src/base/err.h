/*
 * base/err.h - the one error type of tasklist.
 * Owns: enum tl_err and tl_strerror(). Every module returns these codes and
 * converts library codes (errno, libmemcached, MariaDB, SQLite) at its boundary,
 * logging the library's own message there.
 * A cache miss is TL_ENOTFOUND, not an error worth logging.
 */
#ifndef TASKLIST_ERR_H
#define TASKLIST_ERR_H

#define TL_ERR_LIST(X)                                                   \
    X(TL_OK, "success")                                                  \
    X(TL_ENOMEM, "out of memory")                                        \
    X(TL_EIO, "input/output error")                                      \
    X(TL_EPARSE, "parse error")                                          \
    X(TL_ENOTFOUND, "not found")                                         \
    X(TL_EAGAIN, "try again")                                            \
    X(TL_EINVAL, "invalid argument")                                     \
    X(TL_ETOOBIG, "too large")                                           \
    X(TL_EUNAVAIL, "service unavailable")                                \
    X(TL_EEXIST, "already exists")                                       \
    X(TL_ETIMEOUT, "timed out")                                          \
    X(TL_EAUTH, "authentication failed")

enum tl_err {
#define TL_ERR_ENUM(name, text) name,
    TL_ERR_LIST(TL_ERR_ENUM)
#undef TL_ERR_ENUM
    TL_ERR__MAX
};

/* Where a parser failed: GCC-style "file:line:col: msg" when printed.
 * line/col are 1-based; 0 means unknown. */
struct tl_diag {
    char file[256];
    unsigned line, col;
    char msg[256];
};

/* Fill d (may be NULL) with a formatted message; file may be NULL. */
void tl_diag_set(struct tl_diag *d, const char *file, unsigned line, unsigned col,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "file:line:col: msg" (omitting unknown parts) into buf. */
void tl_diag_format(const struct tl_diag *d, char *buf, unsigned long buf_len);

/* Human-readable text for e; never NULL, "unknown error" for out-of-range. */
const char *tl_strerror(enum tl_err e);

#endif
