/*
 * cache/session.h - server-side sessions stored in memcached, and flash messages.
 * Owns: session ids (32 random bytes, libsodium), the cookie
 *   "session=<id>.<mac>" (HMAC-SHA256 with SECRET_KEY, old keys accepted for
 *   reading), the stored value's codec, lazy load and save-if-modified.
 * Invariants: the cookie holds a random id and its MAC, nothing else; a
 *   forged, unknown or expired id is never adopted (a fresh id is made when
 *   something must be stored); no cookie -> no memcached traffic at all;
 *   struct sess lives in the request arena.
 * Context: worker only, after fork.
 */
#ifndef TASKLIST_CACHE_SESSION_H
#define TASKLIST_CACHE_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/err.h"
#include "../base/arena.h"
#include "../base/str.h"

struct cache;
struct sess_store;
struct sess;

/* The [session] settings (conf/tasklist.ini), owned by this layer; the
 * config loader fills one from SESS_SETTINGS_DEFAULT. Fixed-size fields. */
struct sess_settings {
    char secret_key[256];           /* secret; "" = sessions off */
    char secret_key_fallbacks[1024];/* secret; comma-separated old keys accepted for reading */
    unsigned lifetime_s;            /* 0 = the default, 31 days */
    bool permanent;                 /* true: cookie with Max-Age; false: browser-session cookie */
    bool cookie_secure;             /* force Secure even without HTTPS */
};

/* The placeholder secret of the defaults: the config refuses it unless debug. */
#define SESS_DEFAULT_SECRET "change-me"
#define SESS_SETTINGS_DEFAULT { .secret_key = SESS_DEFAULT_SECRET,               \
                                .lifetime_s = 31U * 24 * 3600, .permanent = true, \
                                .cookie_secure = false }

/* Per-worker store over cache cc (borrowed) with settings s (borrowed:
 * they must outlive the store). NULL when out of memory. */
struct sess_store *sess_store_new(const struct sess_settings *s, struct cache *cc);
void sess_store_free(struct sess_store *st);

/* Session for one request, from the value of its "session" cookie (empty
 * when none). Checks the MAC at once (no I/O); loads from memcached only on
 * first access. Never fails: a bad cookie gives an empty session. */
struct sess *sess_begin(struct sess_store *st, struct str cookie, struct arena *a);

/* True when the request carried a cookie with a valid MAC. */
bool sess_has_valid_cookie(const struct sess *s);
/* True when the request's cookie verified AND memcached holds an unexpired
 * session for it (loads lazily: at most the one get of the request). A
 * client that has no such session should not be given one just to carry a
 * message: that would store an item per request for anyone who asks. */
bool sess_exists(struct sess *s);

/* Values (loads lazily). TL_ENOTFOUND when absent. */
enum tl_err sess_get(struct sess *s, struct str key, struct str *value);
void sess_set(struct sess *s, struct str key, struct str value);
void sess_remove(struct sess *s, struct str key);

/* Flash messages: queued now, shown once by the next page that pops them. */
void sess_flash(struct sess *s, struct str category, struct str message);
/* True when messages are pending (loads lazily; false without a cookie). */
bool sess_has_flashes(struct sess *s);
/* Pop all pending messages (in order) into arrays in the arena. */
size_t sess_pop_flashes(struct sess *s, struct str **categories, struct str **messages);

/* Forget the session: deleted from memcached, cookie cleared at save. */
void sess_destroy(struct sess *s);

/* End of request: when modified, store it (fresh id if the old one was not
 * valid) and set *set_cookie to the Set-Cookie value to send; otherwise
 * *set_cookie is empty. is_https adds Secure. Cache down: nothing stored,
 * no cookie, logged once per worker. */
void sess_commit(struct sess *s, bool is_https, struct str *set_cookie);

/* Cookie signing, exposed for tests: value "<hex id>.<hex mac>" for id. */
struct str sess_cookie_sign(struct arena *a, const unsigned char id[32], const char *key);
/* Verify against key and comma-separated fallback keys, constant time.
 * true and id filled when valid. */
bool sess_cookie_verify(struct str cookie, const char *key, const char *fallbacks,
                        unsigned char id[32]);

#endif
