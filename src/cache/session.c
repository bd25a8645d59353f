/*
 * cache/session.c - server-side sessions stored in memcached, and flash messages.
 * Owns: struct sess_store (per worker: keys, lifetime, cookie flags, the
 *   "cache down" log latch) and struct sess (per request, in the arena):
 *   lazy load, save-if-modified, fresh ids, destroy, flash queue.
 * Invariants:
 *   - no cookie (or a cookie whose MAC does not verify) -> no cache traffic
 *     unless the request stores something;
 *   - at most one cache_get per request (on first access), at most one
 *     cache_set or cache_delete (two on destroy-then-store), none when the
 *     session was not modified;
 *   - an id is reused only when the cookie verified AND the cache returned a
 *     valid, unexpired entry for it; anything else stores under a fresh id from
 *     randombytes_buf (no fixation: the client never picks its id);
 *   - when the cache fails, the request carries on with an empty session and
 *     no cookie; the failure is logged once per outage per worker.
 * Commit outcomes (a stored session that becomes empty is kept, stored
 *   empty under its id with its cookie, until it expires or is destroyed: a
 *   client that has a session keeps it, so a later form error rides on it
 *   (post/redirect/get) instead of a 400 page; a client without one never
 *   gets one for an error, so cookieless requests still cost nothing):
 *     not modified, not destroyed           -> nothing
 *     modified, content non-empty           -> set session:<id>, cookie for <id>
 *     modified to empty, entry existed      -> set session:<id> (empty), cookie for <id>
 *     modified to empty, no entry           -> nothing
 *     destroyed (cookie verified)           -> delete session:<old id>, clear cookie
 *     destroyed, then given new content     -> delete old, set fresh id, new cookie
 * Context: worker only, after fork.
 */
#include "session.h"
#include "session_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "../base/log.h"
#include "client.h"

#define SESS_DEFAULT_LIFETIME_S 2678400u    /* 31 days */
#define SESS_KEY_PREFIX "session:"

struct sess_store {
    const struct sess_settings *set;/* borrowed; outlives the store */
    struct cache *cc;               /* borrowed */
    bool is_enabled;                /* cache on and a secret key set */
    bool is_down_logged;            /* latch: one log line per outage */
    unsigned lifetime_s;
};

struct sess {
    struct sess_store *st;
    struct arena *a;
    bool had_cookie;                /* the request sent a non-empty cookie */
    bool has_valid_cookie;          /* ... and its MAC verified */
    bool is_loaded;                 /* d reflects the cache (or there is nothing to load) */
    bool is_stored;                 /* the cache held an entry for id: id may be reused */
    bool is_modified;
    bool is_destroyed;
    bool is_unavailable;            /* the cache failed during this request */
    unsigned char id[SESS_ID_LEN];  /* valid when has_valid_cookie */
    struct sess_data d;
};

static void sess_load(struct sess *s);
static bool sess_usable(struct sess *s);
static void sess_cache_failed(struct sess *s, const char *op, enum tl_err e);
static void sess_cache_ok(struct sess *s);
static struct str sess_cache_key(struct arena *a, const unsigned char id[SESS_ID_LEN]);
static bool sess_grow(struct arena *a, struct str **x, struct str **y, size_t n, size_t *cap);
static ssize_t sess_find(const struct sess *s, struct str key);
static bool sess_save(struct sess *s, bool is_secure, struct str *set_cookie);
static bool sess_delete(struct sess *s);
static int64_t sess_now(void);
static const char *sess_printable(struct str s, char *buf, size_t buf_len);

struct sess_store *sess_store_new(const struct sess_settings *set, struct cache *cc)
{
    if (sodium_init() < 0)
        return NULL;
    struct sess_store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->set = set;
    st->cc = cc;
    st->lifetime_s = set->lifetime_s ? set->lifetime_s : SESS_DEFAULT_LIFETIME_S;
    st->is_enabled = cc && cache_enabled(cc) && set->secret_key[0] != '\0';
    if (!cc || !cache_enabled(cc))
        log_info("session: no cache servers configured, sessions and flash messages are off");
    else if (set->secret_key[0] == '\0')
        log_warn("session: SECRET_KEY is empty, sessions and flash messages are off");
    return st;
}

void sess_store_free(struct sess_store *st)
{
    free(st);
}

/* Returns NULL only when st is NULL or the arena is out of memory; every
 * sess_* function accepts NULL and then behaves as for a request without a
 * session. */
struct sess *sess_begin(struct sess_store *st, struct str cookie, struct arena *a)
{
    struct sess *s = st ? arena_calloc(a, 1, sizeof *s) : NULL;
    if (!s)
        return NULL;
    s->st = st;
    s->a = a;
    s->had_cookie = cookie.len > 0;
    s->is_loaded = true;
    if (!s->had_cookie || !st->is_enabled)
        return s;
    if (sess_cookie_verify_which(cookie, st->set->secret_key, st->set->secret_key_fallbacks,
                                 s->id) >= 0) {
        /* A cookie signed with a fallback key needs nothing special: any save
         * signs with the current key, and an unmodified session keeps working
         * for as long as that key stays in the fallback list. */
        s->has_valid_cookie = true;
        s->is_loaded = false;
    }
    return s;
}

bool sess_has_valid_cookie(const struct sess *s)
{
    return s && s->has_valid_cookie;
}

bool sess_exists(struct sess *s)
{
    if (!s || !s->has_valid_cookie || !sess_usable(s))
        return false;
    return s->is_stored;
}

enum tl_err sess_get(struct sess *s, struct str key, struct str *value)
{
    if (!sess_usable(s))
        return TL_ENOTFOUND;
    ssize_t i = sess_find(s, key);
    if (i < 0)
        return TL_ENOTFOUND;
    *value = s->d.vals[i];
    return TL_OK;
}

/* Keys must be 1..SESS_KEY_MAX bytes of UTF-8 and values at most
 * SESS_VALUE_MAX bytes; anything else is refused (logged) and the session
 * is left unchanged, as it is when the arena runs out of memory. */
void sess_set(struct sess *s, struct str key, struct str value)
{
    if (!sess_usable(s))
        return;
    if (!sess_codec_key_ok(key) || !sess_codec_value_ok(value)) {
        char shown[65];
        log_warn("session: refusing to store key \"%s\" (%zu bytes, value %zu bytes)",
                 sess_printable(key, shown, sizeof shown), key.len, value.len);
        return;
    }
    ssize_t i = sess_find(s, key);
    if (i >= 0 && str_eq(s->d.vals[i], value))
        return;     /* no change, no write */
    char *v = arena_strndup(s->a, value.p ? value.p : "", value.len);
    if (!v)
        return;
    if (i < 0) {
        if (s->d.n_vals >= SESS_VALS_MAX) {
            char shown[65];
            log_warn("session: more than %d keys, \"%s\" not stored", SESS_VALS_MAX,
                     sess_printable(key, shown, sizeof shown));
            return;
        }
        char *k = arena_strndup(s->a, key.p, key.len);
        if (!k || !sess_grow(s->a, &s->d.keys, &s->d.vals, s->d.n_vals, &s->d.vals_cap))
            return;
        i = (ssize_t)s->d.n_vals++;
        s->d.keys[i] = (struct str){ k, key.len };
    }
    s->d.vals[i] = (struct str){ v, value.len };
    s->is_modified = true;
}

void sess_remove(struct sess *s, struct str key)
{
    if (!sess_usable(s))
        return;
    ssize_t i = sess_find(s, key);
    if (i < 0)
        return;
    size_t rest = s->d.n_vals - (size_t)i - 1;
    memmove(&s->d.keys[i], &s->d.keys[i + 1], rest * sizeof *s->d.keys);
    memmove(&s->d.vals[i], &s->d.vals[i + 1], rest * sizeof *s->d.vals);
    s->d.n_vals--;
    s->is_modified = true;
}

/* Category and message must be UTF-8 within SESS_CATEGORY_MAX and
 * SESS_MESSAGE_MAX bytes; at most SESS_FLASH_MAX messages wait. A message
 * over a limit is dropped (logged). */
void sess_flash(struct sess *s, struct str category, struct str message)
{
    if (!sess_usable(s))
        return;
    if (!sess_codec_flash_ok(category, message) || s->d.n_flashes >= SESS_FLASH_MAX) {
        log_warn("session: flash message dropped (%zu bytes, %zu pending)", message.len,
                 s->d.n_flashes);
        return;
    }
    char *c = arena_strndup(s->a, category.p ? category.p : "", category.len);
    char *m = arena_strndup(s->a, message.p ? message.p : "", message.len);
    if (!c || !m ||
        !sess_grow(s->a, &s->d.categories, &s->d.messages, s->d.n_flashes, &s->d.flashes_cap))
        return;
    s->d.categories[s->d.n_flashes] = (struct str){ c, category.len };
    s->d.messages[s->d.n_flashes] = (struct str){ m, message.len };
    s->d.n_flashes++;
    s->is_modified = true;
}

bool sess_has_flashes(struct sess *s)
{
    return sess_usable(s) && s->d.n_flashes > 0;
}

size_t sess_pop_flashes(struct sess *s, struct str **categories, struct str **messages)
{
    *categories = *messages = NULL;
    if (!sess_usable(s) || s->d.n_flashes == 0)
        return 0;
    size_t n = s->d.n_flashes;
    *categories = s->d.categories;
    *messages = s->d.messages;
    /* The arrays now belong to the caller; later flashes get new ones. */
    s->d.categories = s->d.messages = NULL;
    s->d.n_flashes = s->d.flashes_cap = 0;
    s->is_modified = true;
    return n;
}

/* Does no I/O now: the delete happens at commit, and needs no load because
 * the id comes from the verified cookie. */
void sess_destroy(struct sess *s)
{
    if (!s)
        return;
    s->is_destroyed = true;
    s->is_loaded = true;
    s->is_stored = false;   /* never reuse the destroyed id */
    s->is_modified = false;
    memset(&s->d, 0, sizeof s->d);
}

void sess_commit(struct sess *s, bool is_https, struct str *set_cookie)
{
    *set_cookie = STR_NULL;
    if (!s || !s->st->is_enabled || s->is_unavailable)
        return;
    bool is_secure = is_https || s->st->set->cookie_secure;
    bool should_clear = false;
    if (s->is_destroyed) {
        if (s->has_valid_cookie && !sess_delete(s))
            return;
        should_clear = s->had_cookie;
    }
    /* Emptied (typically: the last flash was shown) is stored too when it
     * was stored before: see the outcomes above. */
    if (s->is_modified && (s->d.n_vals > 0 || s->d.n_flashes > 0 || s->is_stored)) {
        sess_save(s, is_secure, set_cookie);
        return;
    }
    if (should_clear)
        *set_cookie = sess_cookie_clear_header(is_secure);
}

/* Delete session:<id>; false (and the cache marked down) on failure. */
static bool sess_delete(struct sess *s)
{
    enum tl_err e = cache_delete(s->st->cc, sess_cache_key(s->a, s->id));
    if (e != TL_OK && e != TL_ENOTFOUND) {
        sess_cache_failed(s, "delete", e);
        return false;
    }
    sess_cache_ok(s);
    return true;
}

/* Store the content under the id it was loaded from, or a fresh one, and
 * build its cookie. false (no cookie) when the cache refused it. */
static bool sess_save(struct sess *s, bool is_secure, struct str *set_cookie)
{
    int64_t now = sess_now();
    unsigned lifetime = s->st->lifetime_s;
    s->d.expires_s = (uint64_t)now + lifetime;
    struct str value;
    if (sess_codec_encode(&s->d, s->a, &value) != TL_OK)
        return false;
    if (!s->is_stored)
        randombytes_buf(s->id, sizeof s->id);
    enum tl_err e = cache_set(s->st->cc, sess_cache_key(s->a, s->id), value, lifetime);
    if (e != TL_OK) {
        sess_cache_failed(s, "set", e);
        return false;
    }
    sess_cache_ok(s);
    s->is_stored = true;
    struct str cookie = sess_cookie_sign(s->a, s->id, s->st->set->secret_key);
    *set_cookie = sess_cookie_header(s->a, cookie, is_secure,
                                     s->st->set->permanent ? lifetime : 0, now);
    return set_cookie->len > 0;
}

/* Load on first access; true when the session can be read and written
 * (false without a store, with sessions off, or after a cache failure). */
static bool sess_usable(struct sess *s)
{
    if (!s || !s->st->is_enabled || s->is_unavailable)
        return false;
    if (!s->is_loaded)
        sess_load(s);
    return !s->is_unavailable;
}

static void sess_load(struct sess *s)
{
    struct str raw;
    s->is_loaded = true;
    enum tl_err e = cache_get(s->st->cc, sess_cache_key(s->a, s->id), s->a, &raw);
    if (e == TL_ENOTFOUND)
        return;     /* unknown or expired: empty, and a fresh id if stored */
    if (e != TL_OK) {
        sess_cache_failed(s, "get", e);
        return;
    }
    sess_cache_ok(s);
    e = sess_codec_decode(raw, (uint64_t)sess_now(), s->a, &s->d);
    if (e == TL_OK) {
        s->is_stored = true;
        return;
    }
    if (e == TL_EPARSE)     /* the id is not logged: it is a credential */
        log_warn("session: stored value rejected by the codec (%zu bytes), starting afresh", raw.len);
    memset(&s->d, 0, sizeof s->d);
}

static void sess_cache_failed(struct sess *s, const char *op, enum tl_err e)
{
    s->is_unavailable = true;
    memset(&s->d, 0, sizeof s->d);
    if (!s->st->is_down_logged)
        log_warn("session: cache %s failed (%s); serving without sessions until it answers", op,
                 tl_strerror(e));
    s->st->is_down_logged = true;
}

static void sess_cache_ok(struct sess *s)
{
    if (s->st->is_down_logged)
        log_info("session: cache answers again, sessions are back");
    s->st->is_down_logged = false;
}

/* "session:<hex id>" in the arena; the client adds its own prefix. */
static struct str sess_cache_key(struct arena *a, const unsigned char id[SESS_ID_LEN])
{
    size_t plen = sizeof SESS_KEY_PREFIX - 1;
    char *p = arena_alloc(a, plen + SESS_HEX_LEN);
    if (!p)
        return STR_NULL;
    memcpy(p, SESS_KEY_PREFIX, plen);
    sess_id_hex(id, p + plen);
    return (struct str){ p, plen + SESS_HEX_LEN };
}

/* Room for one more pair in parallel arrays x/y holding n of *cap. */
static bool sess_grow(struct arena *a, struct str **x, struct str **y, size_t n, size_t *cap)
{
    if (n < *cap)
        return true;
    size_t new_cap = *cap ? 2 * *cap : 8;
    struct str *nx = arena_alloc(a, new_cap * sizeof *nx);
    struct str *ny = arena_alloc(a, new_cap * sizeof *ny);
    if (!nx || !ny)
        return false;
    if (n) {
        memcpy(nx, *x, n * sizeof *nx);
        memcpy(ny, *y, n * sizeof *ny);
    }
    *x = nx;
    *y = ny;
    *cap = new_cap;
    return true;
}

static ssize_t sess_find(const struct sess *s, struct str key)
{
    for (size_t i = 0; i < s->d.n_vals; i++)
        if (str_eq(s->d.keys[i], key))
            return (ssize_t)i;
    return -1;
}

static int64_t sess_now(void)
{
    return (int64_t)time(NULL);
}

/* s for a log line: printable ASCII kept, other bytes as '?', truncated. */
static const char *sess_printable(struct str s, char *buf, size_t buf_len)
{
    size_t n = s.len < buf_len - 1 ? s.len : buf_len - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        buf[i] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
    }
    buf[n] = '\0';
    return buf;
}
