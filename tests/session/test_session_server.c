/*
 * tests/session/test_session_server.c - sessions through the real cache
 * client (client.c) against a memcached server: the mock (exact wire
 * traffic from its control port) or a real SASL memcached.
 *   test_session_server mock PATH_TO_MOCK_MEMCACHED
 *   test_session_server real PORT USER PASS
 * Checks: a cookieless request sends nothing (the client does not even
 * connect); a read-only request with a cookie is one get and no set; a
 * modified one is one set; sessions survive a worker restart (new client, new
 * store) and are shared by two pools (two clients) on the same servers; the
 * stored key is prefix + "session:<hex id>"; a 31-day lifetime goes out as
 * an absolute expiry (mock); a dead server degrades to no session.
 * Exits 77 when the mock cannot be started (skip), 1 instead when
 * TL_REQUIRE_SERVERS=1.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/client.h"
#include "cache/session.h"
#include "base/log.h"

#include "../lib/check.h"



static bool is_mock;
static unsigned ctl_port;
static pid_t mock_pid;
static struct arena *arena;

/* ---- the mock's control port ---- */

static char *ctl(const char *cmd)
{
    static char buf[65536];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)ctl_port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    buf[0] = '\0';
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return buf;
    }
    dprintf(fd, "%s\n", cmd);
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (n >= 4 && strcmp(buf + n - 4, "END\n") == 0)
            break;
    }
    close(fd);
    return buf;
}

static unsigned long long mock_stat(const char *name)
{
    const char *text = ctl("stats");
    size_t len = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && p[len] == ' ')
            return strtoull(p + len + 1, NULL, 10);
    return ~0ull;
}

static bool start_mock(const char *path, unsigned *port)
{
    int out[2];
    if (pipe(out) != 0)
        return false;
    mock_pid = fork();
    if (mock_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlive a crashed test */
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        execl(path, path, "--user", "tl", "--pass", "secret", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[128] = "";
    bool ok = f && fgets(line, sizeof line, f) && sscanf(line, "PORT %u CONTROL %u", port, &ctl_port) == 2;
    if (f)
        fclose(f);
    return ok;
}

/* ---- helpers ---- */

/* What a worker hands the client and the store: their layers' settings. */
struct t_settings {
    struct cache_settings cache;
    struct sess_settings session;
};

static void cfg_fill(struct t_settings *c, unsigned port, const char *user, const char *pass)
{
    c->cache = (struct cache_settings)CACHE_SETTINGS_DEFAULT;
    c->session = (struct sess_settings)SESS_SETTINGS_DEFAULT;
    snprintf(c->cache.servers, sizeof c->cache.servers, "127.0.0.1:%u", port);
    snprintf(c->cache.username, sizeof c->cache.username, "%s", user);
    snprintf(c->cache.password, sizeof c->cache.password, "%s", pass);
    snprintf(c->cache.key_prefix, sizeof c->cache.key_prefix, "tltest%d:", (int)getpid());
    snprintf(c->session.secret_key, sizeof c->session.secret_key, "server-test-secret");
}

struct counts {
    uint64_t round_trips, hits, misses, sets;                  /* client side */
    unsigned long long commands, cmd_get, cmd_set, deletes;    /* mock side */
};

static struct counts counts_now(struct cache *cc)
{
    const struct cache_stats *s = cache_stats_of(cc);
    struct counts c = { s->round_trips, s->hits, s->misses, s->sets, 0, 0, 0, 0 };
    if (is_mock) {
        c.commands = mock_stat("commands");
        c.cmd_get = mock_stat("cmd_get");
        c.cmd_set = mock_stat("cmd_set");
        c.deletes = mock_stat("op_delete") + mock_stat("op_deleteq");
    }
    return c;
}

/* One request: begin with cookie, run fn, commit; the cookie jar follows
 * Set-Cookie like a browser. Returns the counter deltas. */
struct req_ctx {
    char jar[256];
    struct str set_cookie;
};

static void jar_take(struct req_ctx *r)
{
    if (r->set_cookie.len == 0)
        return;
    const char *p = r->set_cookie.p + 8, *end = memchr(p, ';', r->set_cookie.len - 8);
    snprintf(r->jar, sizeof r->jar, "%.*s", (int)(end - p), p);
}

static struct counts run(struct sess_store *st, struct cache *cc, struct req_ctx *r,
                         void (*fn)(struct sess *))
{
    struct counts before = counts_now(cc);
    bool had_cookie = r->jar[0] != '\0';
    struct sess *s = sess_begin(st, str_c(r->jar), arena);
    if (fn)
        fn(s);
    sess_commit(s, false, &r->set_cookie);
    jar_take(r);
    struct counts after = counts_now(cc);
    struct counts d = {
        after.round_trips - before.round_trips, after.hits - before.hits,
        after.misses - before.misses, after.sets - before.sets,
        after.commands - before.commands, after.cmd_get - before.cmd_get,
        after.cmd_set - before.cmd_set, after.deletes - before.deletes,
    };
    arena_reset(arena);
    if (getenv("TL_VERBOSE"))
        fprintf(stderr, "request %-12s " "rt %llu hits %llu misses %llu sets %llu | wire: commands %llu get %llu "
                "set %llu delete %llu\n", had_cookie ? "(cookie)" : "(no cookie)",
                (unsigned long long)d.round_trips, (unsigned long long)d.hits, (unsigned long long)d.misses,
                (unsigned long long)d.sets, d.commands, d.cmd_get, d.cmd_set, d.deletes);
    return d;
}

static void do_read_all(struct sess *s)
{
    struct str v;
    (void)sess_has_flashes(s);
    (void)sess_get(s, STR("user"), &v);
}

static void do_login(struct sess *s)
{
    sess_set(s, STR("user"), STR("ann"));
    sess_flash(s, STR("message"), STR("Welcome"));
}

static bool got_flash;

static void do_show(struct sess *s)
{
    struct str *c, *m;
    got_flash = sess_pop_flashes(s, &c, &m) == 1 && str_eq_c(m[0], "Welcome") && str_eq_c(c[0], "message");
}

static struct str user_seen;

static void do_get_user(struct sess *s)
{
    struct str v = STR_NULL;
    if (sess_get(s, STR("user"), &v) == TL_OK)
        user_seen = (struct str){ arena_strndup(arena, v.p, v.len), v.len };
    else
        user_seen = STR_NULL;
}

static void do_logout(struct sess *s)
{
    sess_destroy(s);
}

#define D_FMT "rt %llu hits %llu misses %llu sets %llu | wire: commands %llu get %llu set %llu delete %llu"
#define D_ARGS(d) (unsigned long long)(d).round_trips, (unsigned long long)(d).hits, \
    (unsigned long long)(d).misses, (unsigned long long)(d).sets, (d).commands, (d).cmd_get, (d).cmd_set, (d).deletes

static void scenario(struct t_settings *c)
{
    struct cache *cc = cache_new(&c->cache);
    struct sess_store *st = sess_store_new(&c->session, cc);
    struct req_ctx r = { "", STR_NULL };
    struct counts d;

    /* cookieless, looking at everything: no traffic, not even a connection */
    unsigned long long conns = is_mock ? mock_stat("connections") : 0;
    d = run(st, cc, &r, do_read_all);
    CHECK(d.round_trips == 0 && d.commands == 0 && r.set_cookie.len == 0, "cookieless: " D_FMT, D_ARGS(d));
    if (is_mock)
        CHECK(mock_stat("connections") == conns, "cookieless request connected");

    /* login: one set (first use also connects and authenticates) */
    d = run(st, cc, &r, do_login);
    CHECK(d.sets == 1 && d.round_trips == 1 && r.set_cookie.len > 0, "login: " D_FMT, D_ARGS(d));
    if (is_mock)
        CHECK(d.cmd_set == 1 && d.cmd_get == 0, "login wire: " D_FMT, D_ARGS(d));
    char key[256];
    snprintf(key, sizeof key, "%ssession:%.64s", c->cache.key_prefix, r.jar);
    if (is_mock) {
        char *keys = ctl("keys");
        CHECK(strstr(keys, key) != NULL, "stored key %s not in: %s", key, keys);
        /* 31 days > 30 days: the client must send an absolute time */
        char cmd[300];
        snprintf(cmd, sizeof cmd, "item %s", key);
        unsigned long long len = 0, flags = 0, exptime = 0;
        sscanf(ctl(cmd), "VALUE %llu %llu %llu", &len, &flags, &exptime);
        CHECK(exptime >= (unsigned long long)time(NULL) + 2678400 - 60 &&
              exptime <= (unsigned long long)time(NULL) + 2678400 + 5, "exptime %llu", exptime);
    }

    /* untouched with the cookie: nothing */
    d = run(st, cc, &r, NULL);
    CHECK(d.round_trips == 0 && d.commands == 0, "untouched: " D_FMT, D_ARGS(d));

    /* read-only with the cookie: exactly one get, no set */
    d = run(st, cc, &r, do_read_all);
    CHECK(d.round_trips == 1 && d.hits == 1 && d.sets == 0 && r.set_cookie.len == 0, "read-only: " D_FMT,
          D_ARGS(d));
    if (is_mock)
        CHECK(d.cmd_get == 1 && d.cmd_set == 0 && d.round_trips == 1, "read-only wire: " D_FMT, D_ARGS(d));

    /* show the flash: one get, one set; then it is gone */
    got_flash = false;
    d = run(st, cc, &r, do_show);
    CHECK(got_flash && d.round_trips == 2 && d.sets == 1, "show flash: " D_FMT, D_ARGS(d));
    d = run(st, cc, &r, do_show);
    CHECK(!got_flash && d.sets == 0, "flash shown twice: " D_FMT, D_ARGS(d));
    sess_store_free(st);
    cache_free(cc);

    /* worker restart: a new client and store read the same session */
    cc = cache_new(&c->cache);
    st = sess_store_new(&c->session, cc);
    run(st, cc, &r, do_get_user);
    CHECK(str_eq_c(user_seen, "ann"), "after restart: \"%.*s\"", STR_FMT(user_seen));

    /* another pool on the same servers (its own client) shares it */
    struct cache *cc2 = cache_new(&c->cache);
    struct sess_store *st2 = sess_store_new(&c->session, cc2);
    run(st2, cc2, &r, do_get_user);
    CHECK(str_eq_c(user_seen, "ann"), "other pool: \"%.*s\"", STR_FMT(user_seen));

    /* logout in one pool is seen by the other */
    struct req_ctx old = r;
    d = run(st2, cc2, &r, do_logout);
    CHECK(d.sets == 1 && str_starts_with(r.set_cookie, STR("session=;")), "logout: " D_FMT, D_ARGS(d));
    run(st, cc, &old, do_get_user);
    CHECK(user_seen.len == 0, "session still there after logout");
    sess_store_free(st2);
    cache_free(cc2);
    sess_store_free(st);
    cache_free(cc);
}

/* The server dies: requests go on without a session and without a cookie. */
static void scenario_down(struct t_settings *c)
{
    struct cache *cc = cache_new(&c->cache);
    struct sess_store *st = sess_store_new(&c->session, cc);
    struct req_ctx r = { "", STR_NULL };
    run(st, cc, &r, do_login);
    CHECK(r.jar[0] != '\0', "no cookie before the outage");
    ctl("fault drop");
    r.set_cookie = STR_NULL;
    run(st, cc, &r, do_get_user);
    CHECK(user_seen.len == 0 && r.set_cookie.len == 0, "value while down");
    struct req_ctx fresh = { "", STR_NULL };
    run(st, cc, &fresh, do_login);
    CHECK(fresh.set_cookie.len == 0, "cookie promised while down: %.*s", STR_FMT(fresh.set_cookie));
    ctl("fault none");
    sess_store_free(st);
    cache_free(cc);
}

int main(int argc, char **argv)
{
    struct t_settings c;
    unsigned port = 0;
    if (argc == 3 && strcmp(argv[1], "mock") == 0) {
        is_mock = true;
        signal(SIGPIPE, SIG_IGN);
        if (!start_mock(argv[2], &port)) {
            const char *req = getenv("TL_REQUIRE_SERVERS");
            bool is_required = req && strcmp(req, "1") == 0;
            fprintf(stderr, "%s: cannot start %s\n", is_required ? "FAIL" : "SKIP", argv[2]);
            return is_required ? 1 : 77;
        }
        cfg_fill(&c, port, "tl", "secret");
    } else if (argc == 5 && strcmp(argv[1], "real") == 0) {
        cfg_fill(&c, (unsigned)atoi(argv[2]), argv[3], argv[4]);
    } else {
        fprintf(stderr, "usage: %s mock PATH | real PORT USER PASS\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    arena = arena_new(0);
    scenario(&c);
    if (is_mock)
        scenario_down(&c);
    arena_free(arena);
    if (mock_pid > 0) {
        kill(mock_pid, SIGTERM);
        waitpid(mock_pid, NULL, 0);
    }
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
