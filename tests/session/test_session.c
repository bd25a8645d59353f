/*
 * tests/session/test_session.c - session.c against an in-test fake of the
 * cache client (client.h: cache_enabled/get/set/delete), so every command a
 * request sends is counted exactly: cookieless -> zero commands, read-only ->
 * one get, modified -> one set, fresh ids for forged/unknown/expired ids,
 * destroy, flashes shown once, fallback keys, cache down logged once.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/client.h"
#include "cache/session.h"
#include "cache/session_internal.h"
#include "base/log.h"

#include "../lib/check.h"



/* --- the fake client ----------------------------------------------------- */

#define FAKE_MAX 64

struct cache {
    bool is_enabled;
    bool is_down;               /* every call fails with TL_EUNAVAIL */
    unsigned gets, sets, deletes;
    unsigned last_ttl_s;
    size_t n;
    char keys[FAKE_MAX][128];
    char *vals[FAKE_MAX];
    size_t val_lens[FAKE_MAX];
};

static struct cache fake;

static ssize_t fake_find(struct str key)
{
    for (size_t i = 0; i < fake.n; i++)
        if (str_eq_c(key, fake.keys[i]))
            return (ssize_t)i;
    return -1;
}

bool cache_enabled(const struct cache *cc)
{
    return cc->is_enabled;
}

enum tl_err cache_get(struct cache *cc, struct str key, struct arena *a, struct str *value)
{
    cc->gets++;
    if (cc->is_down)
        return TL_EUNAVAIL;
    ssize_t i = fake_find(key);
    if (i < 0)
        return TL_ENOTFOUND;
    char *p = arena_alloc(a, cc->val_lens[i] + 1);
    memcpy(p, cc->vals[i], cc->val_lens[i]);
    *value = (struct str){ p, cc->val_lens[i] };
    return TL_OK;
}

static void fake_put(struct str key, struct str value)
{
    ssize_t i = fake_find(key);
    if (i < 0) {
        i = (ssize_t)fake.n++;
        snprintf(fake.keys[i], sizeof fake.keys[i], "%.*s", STR_FMT(key));
        fake.vals[i] = NULL;
    }
    free(fake.vals[i]);
    fake.vals[i] = malloc(value.len + 1);
    memcpy(fake.vals[i], value.p, value.len);
    fake.val_lens[i] = value.len;
}

enum tl_err cache_set(struct cache *cc, struct str key, struct str value, unsigned ttl_s)
{
    cc->sets++;
    cc->last_ttl_s = ttl_s;
    if (cc->is_down)
        return TL_EUNAVAIL;
    fake_put(key, value);
    return TL_OK;
}

enum tl_err cache_delete(struct cache *cc, struct str key)
{
    cc->deletes++;
    if (cc->is_down)
        return TL_EUNAVAIL;
    ssize_t i = fake_find(key);
    if (i < 0)
        return TL_ENOTFOUND;
    free(fake.vals[i]);
    fake.n--;
    memmove(&fake.keys[i], &fake.keys[i + 1], (fake.n - (size_t)i) * sizeof fake.keys[0]);
    memmove(&fake.vals[i], &fake.vals[i + 1], (fake.n - (size_t)i) * sizeof fake.vals[0]);
    memmove(&fake.val_lens[i], &fake.val_lens[i + 1], (fake.n - (size_t)i) * sizeof fake.val_lens[0]);
    return TL_OK;
}

static void fake_reset_counts(void)
{
    fake.gets = fake.sets = fake.deletes = 0;
}

static void fake_clear(void)
{
    for (size_t i = 0; i < fake.n; i++)
        free(fake.vals[i]);
    fake.n = 0;
    fake_reset_counts();
    fake.is_down = false;
    fake.is_enabled = true;
}

/* --- helpers -------------------------------------------------------------- */

static struct sess_settings cfg;
static struct arena *arena;

static void cfg_for_test(const char *key, const char *fallbacks, bool permanent)
{
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.secret_key, sizeof cfg.secret_key, "%s", key);
    snprintf(cfg.secret_key_fallbacks, sizeof cfg.secret_key_fallbacks, "%s", fallbacks);
    cfg.lifetime_s = 2678400;
    cfg.permanent = permanent;
}

/* The cookie value out of a Set-Cookie header ("" when none or cleared). */
static char cookie_jar[256];

static void jar_take(struct str set_cookie)
{
    if (set_cookie.len == 0)
        return;
    const char *p = set_cookie.p + strlen("session="), *end = memchr(p, ';', set_cookie.len);
    snprintf(cookie_jar, sizeof cookie_jar, "%.*s", (int)(end - p), p);
}

static struct str jar(void)
{
    return str_c(cookie_jar);
}

/* The memcached key the jar's cookie points at. */
static void jar_key(char out[128])
{
    snprintf(out, 128, "session:%.64s", cookie_jar);
}

#define COUNTS(g, s, d) (fake.gets == (g) && fake.sets == (s) && fake.deletes == (d))
static const char *counts(void)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "gets %u sets %u deletes %u", fake.gets, fake.sets, fake.deletes);
    return buf;
}

/* --- tests ---------------------------------------------------------------- */

/* The traffic rules, step by step as a browser would go. */
static void test_traffic(struct sess_store *st)
{
    struct str sc, v;
    fake_clear();
    cookie_jar[0] = '\0';

    /* 1. cookieless GET that looks at everything: zero commands, no cookie */
    struct sess *s = sess_begin(st, STR(""), arena);
    CHECK(!sess_has_valid_cookie(s), "no cookie");
    CHECK(!sess_has_flashes(s), "no flashes");
    CHECK(sess_get(s, STR("user"), &v) == TL_ENOTFOUND, "no value");
    struct str *cats, *msgs;
    CHECK(sess_pop_flashes(s, &cats, &msgs) == 0 && !cats && !msgs, "pop nothing");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(0, 0, 0), "cookieless: %s", counts());
    arena_reset(arena);

    /* 2. POST that flashes: one set, a cookie */
    s = sess_begin(st, STR(""), arena);
    sess_flash(s, STR("message"), STR("Task added"));
    CHECK(sess_has_flashes(s), "pending");
    sess_commit(s, false, &sc);
    CHECK(COUNTS(0, 1, 0), "flash: %s", counts());
    CHECK(str_starts_with(sc, STR("session=")) && sc.len > 129, "cookie: %.*s", STR_FMT(sc));
    CHECK(strstr(sc.p, "; Path=/; HttpOnly; SameSite=Lax") && !strstr(sc.p, "Secure"), "attrs %s", sc.p);
    CHECK(strstr(sc.p, "; Max-Age=2678400; Expires=") != NULL, "permanent: %s", sc.p);
    CHECK(fake.last_ttl_s == 2678400, "ttl %u", fake.last_ttl_s);
    jar_take(sc);
    char key[128];
    jar_key(key);
    CHECK(fake.n == 1 && strcmp(fake.keys[0], key) == 0, "stored under %s", fake.n ? fake.keys[0] : "-");
    arena_reset(arena);

    /* 3. a request with the cookie that never touches the session: zero */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    CHECK(sess_has_valid_cookie(s), "valid cookie");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(0, 0, 0), "untouched: %s", counts());
    arena_reset(arena);

    /* 4. read-only with the cookie: exactly one get, no set */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    CHECK(sess_has_flashes(s), "flash pending after reload");
    CHECK(sess_get(s, STR("user"), &v) == TL_ENOTFOUND, "absent key");
    CHECK(sess_has_flashes(s), "still pending");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(1, 0, 0), "read-only: %s", counts());
    arena_reset(arena);

    /* 5. set a value along with the flash: one get, one set, same id */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    sess_set(s, STR("user"), STR("ann"));
    sess_commit(s, false, &sc);
    CHECK(COUNTS(1, 1, 0), "modified: %s", counts());
    char old[256];
    snprintf(old, sizeof old, "%s", cookie_jar);
    jar_take(sc);
    CHECK(strcmp(old, cookie_jar) == 0, "id kept for a stored session");
    arena_reset(arena);

    /* 6. set to the same value: no write */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    sess_set(s, STR("user"), STR("ann"));
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(1, 0, 0), "same value: %s", counts());
    arena_reset(arena);

    /* 7. the page shows the flash: popped once, saved (value remains) */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    size_t n = sess_pop_flashes(s, &cats, &msgs);
    CHECK(n == 1 && str_eq_c(cats[0], "message") && str_eq_c(msgs[0], "Task added"), "popped %zu", n);
    CHECK(!sess_has_flashes(s) && sess_pop_flashes(s, &cats, &msgs) == 0, "popped twice");
    sess_commit(s, false, &sc);
    CHECK(COUNTS(1, 1, 0), "pop: %s", counts());
    arena_reset(arena);

    /* 8. the next page sees no flash and the value */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    CHECK(!sess_has_flashes(s), "shown once");
    CHECK(sess_get(s, STR("user"), &v) == TL_OK && str_eq_c(v, "ann"), "value");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(1, 0, 0), "after pop: %s", counts());
    arena_reset(arena);

    /* 9. removing the last value empties the session: kept, stored empty under
     * the same id, and the same cookie (a later form error rides on it) */
    fake_reset_counts();
    struct str before = jar();
    size_t id_len = (size_t)((const char *)memchr(before.p, '.', before.len) - before.p);
    char id_before[80];
    snprintf(id_before, sizeof id_before, "session=%.*s.", (int)id_len, before.p);
    s = sess_begin(st, before, arena);
    sess_remove(s, STR("user"));
    sess_commit(s, false, &sc);
    CHECK(COUNTS(1, 1, 0) && fake.n == 1, "emptied: %s", counts());
    CHECK(str_starts_with(sc, str_c(id_before)), "emptied keeps its id and cookie: %.*s", STR_FMT(sc));
    arena_reset(arena);
    s = sess_begin(st, before, arena);
    CHECK(sess_exists(s) && !sess_has_flashes(s), "the emptied session still exists");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(2, 1, 0), "reading it back stores nothing: %s", counts());
    arena_reset(arena);
}

/* Flash then show on the next page with nothing else in the session: the
 * whole round costs one set, one get and one set of the emptied session,
 * which keeps its cookie. */
static void test_flash_once(struct sess_store *st)
{
    struct str sc, *cats, *msgs;
    fake_clear();
    cookie_jar[0] = '\0';
    struct sess *s = sess_begin(st, STR(""), arena);
    sess_flash(s, STR("message"), STR("one"));
    sess_flash(s, STR("error"), STR("two"));
    sess_flash(s, STR(""), STR("three"));
    sess_commit(s, false, &sc);
    jar_take(sc);
    arena_reset(arena);

    s = sess_begin(st, jar(), arena);
    size_t n = sess_pop_flashes(s, &cats, &msgs);
    CHECK(n == 3, "n %zu", n);
    static const char *const want_c[] = { "message", "error", "" }, *const want_m[] = { "one", "two", "three" };
    for (size_t i = 0; i < n && i < 3; i++)
        CHECK(str_eq_c(cats[i], want_c[i]) && str_eq_c(msgs[i], want_m[i]), "order %zu", i);
    sess_commit(s, false, &sc);
    CHECK(COUNTS(1, 2, 0) && fake.n == 1, "flash round: %s", counts());
    CHECK(sc.len > 0 && !str_starts_with(sc, STR("session=;")), "cookie kept: %.*s", STR_FMT(sc));
    arena_reset(arena);

    /* the same cookie again: the session, empty; nothing shown, nothing stored */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    CHECK(!sess_has_flashes(s), "shown once even with the old cookie");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(1, 0, 0), "replay: %s", counts());
    arena_reset(arena);
}

/* Forged, unknown, expired and corrupt ids are never adopted. */
static void test_no_fixation(struct sess_store *st)
{
    unsigned char id[32];
    memset(id, 0x42, sizeof id);
    char stored_key[128];
    snprintf(stored_key, sizeof stored_key, "session:%s", "4242424242424242424242424242424242424242424242424242424242424242");
    enum kind { FORGED, UNKNOWN, EXPIRED, CORRUPT };
    static const char *const names[] = { "forged", "unknown", "expired", "corrupt" };
    static const unsigned want_gets[] = { 0, 1, 1, 1 };
    for (int k = FORGED; k <= CORRUPT; k++) {
        fake_clear();
        struct str cookie = sess_cookie_sign(arena, id, k == FORGED ? "attacker" : cfg.secret_key);
        if (k == EXPIRED) {
            struct str keys[1] = { STR("user") }, vals[1] = { STR("mallory") };
            struct sess_data d = { .expires_s = 1, .n_vals = 1, .keys = keys, .vals = vals };
            struct str enc;
            sess_codec_encode(&d, arena, &enc);
            fake_put(str_c(stored_key), enc);
        } else if (k == CORRUPT) {
            fake_put(str_c(stored_key), STR("\x80\x04pickle"));
        }
        struct sess *s = sess_begin(st, cookie, arena);
        CHECK(sess_has_valid_cookie(s) == (k != FORGED), "%s: valid flag", names[k]);
        struct str v, sc;
        CHECK(sess_get(s, STR("user"), &v) == TL_ENOTFOUND, "%s: value adopted", names[k]);
        sess_set(s, STR("user"), STR("bob"));
        sess_commit(s, false, &sc);
        CHECK(fake.gets == want_gets[k] && fake.sets == 1, "%s: %s", names[k], counts());
        cookie_jar[0] = '\0';
        jar_take(sc);
        CHECK(strlen(cookie_jar) == 129 && strncmp(cookie_jar, stored_key + 8, 64) != 0,
              "%s: client's id adopted: %s", names[k], cookie_jar);
        unsigned char got[32];
        CHECK(sess_cookie_verify(jar(), cfg.secret_key, NULL, got), "%s: new cookie verifies", names[k]);
        arena_reset(arena);
    }
    /* garbage cookies: no traffic at all */
    static const char *const junk[] = { "x", "abc.def", "%00", "....", "session" };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        fake_clear();
        struct sess *s = sess_begin(st, str_c(junk[i]), arena);
        struct str sc;
        CHECK(!sess_has_flashes(s), "junk %zu", i);
        sess_commit(s, false, &sc);
        CHECK(sc.len == 0 && COUNTS(0, 0, 0), "junk %zu (%s): %s", i, junk[i], counts());
        arena_reset(arena);
    }
}

static void test_destroy(struct sess_store *st)
{
    struct str sc, v;
    fake_clear();
    struct sess *s = sess_begin(st, STR(""), arena);
    sess_set(s, STR("user"), STR("ann"));
    sess_commit(s, false, &sc);
    cookie_jar[0] = '\0';
    jar_take(sc);
    arena_reset(arena);

    /* plain logout: one delete, no get, cookie cleared */
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    sess_destroy(s);
    CHECK(sess_get(s, STR("user"), &v) == TL_ENOTFOUND, "gone at once");
    sess_commit(s, true, &sc);
    CHECK(COUNTS(0, 0, 1) && fake.n == 0, "destroy: %s", counts());
    CHECK(str_eq_c(sc, "session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"), "clear: %.*s", STR_FMT(sc));
    arena_reset(arena);

    /* destroy then store (logout + flash, or login rotation): old deleted, fresh id */
    fake_clear();
    s = sess_begin(st, STR(""), arena);
    sess_set(s, STR("user"), STR("ann"));
    sess_commit(s, false, &sc);
    cookie_jar[0] = '\0';
    jar_take(sc);
    char old[256];
    snprintf(old, sizeof old, "%s", cookie_jar);
    arena_reset(arena);
    fake_reset_counts();
    s = sess_begin(st, jar(), arena);
    sess_destroy(s);
    sess_flash(s, STR("message"), STR("Logged out"));
    sess_commit(s, false, &sc);
    CHECK(COUNTS(0, 1, 1) && fake.n == 1, "rotate: %s", counts());
    jar_take(sc);
    CHECK(strncmp(old, cookie_jar, 64) != 0, "fresh id after destroy");
    arena_reset(arena);
}

/* Rotating SECRET_KEY: a cookie signed with the old key still reads, and the
 * next save re-issues it under the current key with the same id. */
static void test_fallback_key(void)
{
    struct str sc, v;
    cfg_for_test("old-key", "", false);
    struct sess_store *st = sess_store_new(&cfg, &fake);
    fake_clear();
    struct sess *s = sess_begin(st, STR(""), arena);
    sess_set(s, STR("user"), STR("ann"));
    sess_commit(s, false, &sc);
    CHECK(!strstr(sc.p, "Max-Age") && !strstr(sc.p, "Expires"), "browser-session cookie: %s", sc.p);
    cookie_jar[0] = '\0';
    jar_take(sc);
    char old[256];
    snprintf(old, sizeof old, "%s", cookie_jar);
    arena_reset(arena);
    sess_store_free(st);

    cfg_for_test("new-key", "other, old-key", false);
    st = sess_store_new(&cfg, &fake);
    s = sess_begin(st, jar(), arena);
    CHECK(sess_has_valid_cookie(s), "old key accepted");
    CHECK(sess_get(s, STR("user"), &v) == TL_OK && str_eq_c(v, "ann"), "read with old key");
    sess_set(s, STR("n"), STR("1"));
    sess_commit(s, false, &sc);
    jar_take(sc);
    unsigned char id[32];
    CHECK(strncmp(old, cookie_jar, 64) == 0, "same id");
    CHECK(strcmp(old, cookie_jar) != 0 && sess_cookie_verify(jar(), "new-key", NULL, id), "re-signed");
    arena_reset(arena);
    sess_store_free(st);

    /* the old key dropped from the list: the old cookie no longer reads */
    cfg_for_test("new-key", "", false);
    st = sess_store_new(&cfg, &fake);
    s = sess_begin(st, str_c(old), arena);
    CHECK(!sess_has_valid_cookie(s), "dropped key refused");
    arena_reset(arena);
    sess_store_free(st);
}

static size_t count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    size_t n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Cache down: the page works without a session, nothing is promised to the
 * browser, and the outage is logged once. */
static void test_cache_down(struct sess_store *st)
{
    char log_path[] = "/tmp/tl-test-session-log.XXXXXX";
    int fd = mkstemp(log_path);
    close(fd);
    log_open(log_path);
    struct str sc, v;
    fake_clear();
    struct sess *s = sess_begin(st, STR(""), arena);
    sess_set(s, STR("user"), STR("ann"));
    sess_commit(s, false, &sc);
    cookie_jar[0] = '\0';
    jar_take(sc);
    arena_reset(arena);

    fake.is_down = true;
    for (int i = 0; i < 5; i++) {
        fake_reset_counts();
        s = sess_begin(st, i % 2 ? jar() : STR(""), arena);
        CHECK(sess_get(s, STR("user"), &v) == TL_ENOTFOUND, "round %d: value while down", i);
        sess_flash(s, STR("message"), STR("lost"));
        sess_set(s, STR("x"), STR("y"));
        CHECK(!sess_has_flashes(s) || i % 2 == 0, "round %d: flashes while down", i);
        sess_commit(s, false, &sc);
        CHECK(sc.len == 0, "round %d: cookie while down: %.*s", i, STR_FMT(sc));
        CHECK(fake.gets + fake.sets <= 1, "round %d: %u commands", i, fake.gets + fake.sets);
        arena_reset(arena);
    }
    fake.is_down = false;
    s = sess_begin(st, jar(), arena);
    CHECK(sess_get(s, STR("user"), &v) == TL_OK && str_eq_c(v, "ann"), "back after the outage");
    arena_reset(arena);
    log_open(NULL);
    size_t n_down = count_lines(log_path, "serving without sessions");
    size_t n_back = count_lines(log_path, "sessions are back");
    CHECK(n_down == 1 && n_back == 1, "logged %zu down, %zu back", n_down, n_back);
    unlink(log_path);
}

static void test_flags_and_limits(void)
{
    struct str sc, v;
    cfg_for_test("k", "", true);
    cfg.cookie_secure = true;
    cfg.lifetime_s = 3600;
    struct sess_store *st = sess_store_new(&cfg, &fake);
    fake_clear();
    struct sess *s = sess_begin(st, STR(""), arena);
    sess_set(s, STR(""), STR("empty key"));
    char big[SESS_VALUE_MAX + 1];
    memset(big, 'x', sizeof big);
    sess_set(s, STR("big"), (struct str){ big, sizeof big });
    sess_set(s, STR("bad\xff"), STR("v"));
    sess_flash(s, STR("message"), STR("bad \xc0\x80"));
    CHECK(!sess_has_flashes(s) && sess_get(s, STR("big"), &v) == TL_ENOTFOUND, "refused input stored");
    sess_commit(s, false, &sc);
    CHECK(sc.len == 0 && COUNTS(0, 0, 0), "refused input: %s", counts());
    arena_reset(arena);

    s = sess_begin(st, STR(""), arena);
    sess_set(s, STR("big"), (struct str){ big, SESS_VALUE_MAX });
    for (int i = 0; i < SESS_FLASH_MAX + 5; i++)
        sess_flash(s, STR("m"), STR("x"));
    sess_commit(s, false, &sc);
    CHECK(strstr(sc.p, "; Secure; Max-Age=3600; Expires=") != NULL, "flags: %s", sc.p);
    CHECK(fake.last_ttl_s == 3600 && COUNTS(0, 1, 0), "ttl %u %s", fake.last_ttl_s, counts());
    cookie_jar[0] = '\0';
    jar_take(sc);
    arena_reset(arena);
    s = sess_begin(st, jar(), arena);
    struct str *cats, *msgs;
    CHECK(sess_pop_flashes(s, &cats, &msgs) == SESS_FLASH_MAX, "flash cap");
    arena_reset(arena);
    sess_store_free(st);

    /* no cache servers, or no key: sessions off, nothing sent */
    static const struct { bool enabled; const char *key; } off[] = { { false, "k" }, { true, "" } };
    for (size_t i = 0; i < 2; i++) {
        cfg_for_test(off[i].key, "", true);
        fake_clear();
        fake.is_enabled = off[i].enabled;
        st = sess_store_new(&cfg, &fake);
        s = sess_begin(st, jar(), arena);
        sess_flash(s, STR("m"), STR("x"));
        sess_commit(s, true, &sc);
        CHECK(sc.len == 0 && COUNTS(0, 0, 0), "off case %zu: %s", i, counts());
        arena_reset(arena);
        sess_store_free(st);
    }

    /* NULL store or session (arena out of memory) is tolerated everywhere */
    CHECK(sess_begin(NULL, STR("x"), arena) == NULL, "NULL store");
    sess_set(NULL, STR("a"), STR("b"));
    sess_flash(NULL, STR("a"), STR("b"));
    sess_remove(NULL, STR("a"));
    sess_destroy(NULL);
    CHECK(!sess_has_flashes(NULL) && !sess_has_valid_cookie(NULL), "NULL");
    CHECK(sess_get(NULL, STR("a"), &v) == TL_ENOTFOUND, "NULL get");
    sess_commit(NULL, true, &sc);
    CHECK(sc.len == 0, "NULL commit");
}

/* Many sessions get distinct ids. */
static void test_fresh_ids(struct sess_store *st)
{
    fake_clear();
    for (int i = 0; i < 40; i++) {
        struct sess *s = sess_begin(st, STR(""), arena);
        sess_set(s, STR("i"), STR("x"));
        struct str sc;
        sess_commit(s, false, &sc);
        arena_reset(arena);
    }
    CHECK(fake.n == 40, "distinct ids: %zu", fake.n);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    arena = arena_new(0);
    fake.is_enabled = true;
    cfg_for_test("test-secret", "", true);
    struct sess_store *st = sess_store_new(&cfg, &fake);
    test_traffic(st);
    test_flash_once(st);
    test_no_fixation(st);
    test_destroy(st);
    test_cache_down(st);
    test_fresh_ids(st);
    sess_store_free(st);
    test_fallback_key();
    test_flags_and_limits();
    fake_clear();
    arena_free(arena);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
