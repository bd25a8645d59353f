/*
 * server/config.c - struct cfg: defaults, ini (inih), .env, environment, flags.
 * Owns: the key table (one row per ini key: section, name, type, field of
 *   struct cfg or of a layer's settings struct inside it, secret or not),
 *   the server's defaults, value parsing, cross-field validation, printing.
 *   The other layers' defaults come from their headers (CACHE_SETTINGS_DEFAULT, ...).
 * Invariants: every key is settable the same way from the ini, a .env line,
 *   TASKLIST_<SECTION>_<KEY>, and cfg_set(); secrets never reach a log or
 *   cfg_print unmasked. inih runs with multi-line values and inline comments
 *   off, so a value is everything after '=' on its line (minus one pair of
 *   surrounding double quotes).
 * Context: master and one-shot commands; not thread-safe (inih globals).
 */
#include "config.h"
#include "clients.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/hostport.h"
#include "../base/log.h"
#include "paths.h"
#include "allow.h"

enum cfg_type {
    CFG_STR,
    CFG_UINT,
    CFG_ULONG,
    CFG_BOOL,
    CFG_MODE,    /* octal file mode, <= 0777 */
    CFG_LEVEL,   /* log level name */
};

struct cfg_key {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t off;
    size_t size;
    bool is_secret;
    const char *alias;   /* tutorial environment name, or NULL */
};

/* State threaded through inih's callback: the first error wins. */
struct cfg_ini_ctx {
    struct cfg *c;
    const char *path;
    struct tl_diag *d;
    bool has_error;
};

#define CFG_FIELD(f) offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f)

static const struct cfg_key cfg_keys[] = {
    { "server", "listen", CFG_STR, CFG_FIELD(listen), false, NULL },
    { "server", "socket_mode", CFG_MODE, CFG_FIELD(socket_mode), false, NULL },
    { "server", "socket_owner", CFG_STR, CFG_FIELD(socket_owner), false, NULL },
    { "server", "workers", CFG_UINT, CFG_FIELD(workers), false, NULL },
    { "server", "max_requests", CFG_UINT, CFG_FIELD(max_requests), false, NULL },
    { "server", "request_timeout_s", CFG_UINT, CFG_FIELD(request_timeout_s), false, NULL },
    { "server", "shutdown_timeout_s", CFG_UINT, CFG_FIELD(shutdown_timeout_s), false, NULL },
    { "server", "slow_request_ms", CFG_UINT, CFG_FIELD(slow_request_ms), false, NULL },
    { "server", "user", CFG_STR, CFG_FIELD(user), false, NULL },
    { "server", "group", CFG_STR, CFG_FIELD(group), false, NULL },
    { "server", "log_file", CFG_STR, CFG_FIELD(log_file), false, NULL },
    { "server", "log_level", CFG_LEVEL, CFG_FIELD(log_level), false, NULL },
    { "server", "status_path", CFG_STR, CFG_FIELD(status_path), false, NULL },
    { "server", "ping_path", CFG_STR, CFG_FIELD(ping_path), false, NULL },
    { "server", "metrics_path", CFG_STR, CFG_FIELD(metrics_path), false, NULL },
    { "server", "monitor_allow", CFG_STR, CFG_FIELD(monitor_allow), false, NULL },
    { "server", "public_origin", CFG_STR, CFG_FIELD(public_origin), false, NULL },
    { "server", "allowed_clients", CFG_STR, CFG_FIELD(allowed_clients), false, NULL },
    { "server", "templates", CFG_STR, CFG_FIELD(templates), false, NULL },
    { "server", "debug", CFG_BOOL, CFG_FIELD(debug), false, NULL },
    { "server", "sched_batch", CFG_BOOL, CFG_FIELD(sched_batch), false, NULL },
    { "limits", "body_max", CFG_ULONG, CFG_FIELD(body_max), false, NULL },
    { "limits", "params_max", CFG_UINT, CFG_FIELD(params_max), false, NULL },
    { "limits", "name_max", CFG_UINT, CFG_FIELD(app.name_max), false, NULL },
    { "app", "page_size", CFG_UINT, CFG_FIELD(app.page_size), false, NULL },
    { "limits", "read_timeout_s", CFG_UINT, CFG_FIELD(read_timeout_s), false, NULL },
    { "database", "url", CFG_STR, CFG_FIELD(db.url), false, "DATABASE_URL" },
    { "database", "timeout_ms", CFG_UINT, CFG_FIELD(db.timeout_ms), false, NULL },
    { "cache", "servers", CFG_STR, CFG_FIELD(cache.servers), false, "MEMCACHIER_SERVERS" },
    { "cache", "username", CFG_STR, CFG_FIELD(cache.username), false, "MEMCACHIER_USERNAME" },
    { "cache", "password", CFG_STR, CFG_FIELD(cache.password), true, "MEMCACHIER_PASSWORD" },
    { "cache", "key_prefix", CFG_STR, CFG_FIELD(cache.key_prefix), false, NULL },
    { "cache", "default_timeout_s", CFG_UINT, CFG_FIELD(cache.default_timeout_s), false, NULL },
    { "cache", "connect_timeout_ms", CFG_UINT, CFG_FIELD(cache.connect_timeout_ms), false, NULL },
    { "cache", "send_timeout_ms", CFG_UINT, CFG_FIELD(cache.send_timeout_ms), false, NULL },
    { "cache", "recv_timeout_ms", CFG_UINT, CFG_FIELD(cache.recv_timeout_ms), false, NULL },
    { "cache", "poll_timeout_ms", CFG_UINT, CFG_FIELD(cache.poll_timeout_ms), false, NULL },
    { "cache", "retry_timeout_s", CFG_UINT, CFG_FIELD(cache.retry_timeout_s), false, NULL },
    { "cache", "dead_timeout_s", CFG_UINT, CFG_FIELD(cache.dead_timeout_s), false, NULL },
    { "cache", "tcp_nodelay", CFG_BOOL, CFG_FIELD(cache.tcp_nodelay), false, NULL },
    { "cache", "tcp_keepalive", CFG_BOOL, CFG_FIELD(cache.tcp_keepalive), false, NULL },
    { "cache", "remove_failed", CFG_BOOL, CFG_FIELD(cache.remove_failed), false, NULL },
    { "cache", "item_size_max", CFG_ULONG, CFG_FIELD(cache.item_size_max), false, NULL },
    { "cache", "local_size_mb", CFG_UINT, CFG_FIELD(cache.local_size_mb), false, NULL },
    { "session", "secret_key", CFG_STR, CFG_FIELD(session.secret_key), true, "SECRET_KEY" },
    { "session", "secret_key_fallbacks", CFG_STR, CFG_FIELD(session.secret_key_fallbacks), true, NULL },
    { "session", "lifetime_s", CFG_UINT, CFG_FIELD(session.lifetime_s), false, NULL },
    { "session", "permanent", CFG_BOOL, CFG_FIELD(session.permanent), false, NULL },
    { "session", "cookie_secure", CFG_BOOL, CFG_FIELD(session.cookie_secure), false, NULL },
};

#define CFG_N_KEYS (sizeof cfg_keys / sizeof *cfg_keys)
#define CFG_WORKERS_MAX 256

static const char *const cfg_sections[] = { "server", "limits", "app", "database", "cache", "session" };

static const struct cfg_key *cfg_find(const char *section, const char *name);
static bool cfg_section_known(const char *section);
static enum tl_err cfg_assign(struct cfg *c, const struct cfg_key *k, const char *value,
                              const char *file, unsigned line, struct tl_diag *d);
static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value);
static enum tl_err cfg_apply_env_at(struct cfg *c, const char *name, const char *value,
                                    const char *file, unsigned line, struct tl_diag *d);
static bool cfg_parse_ulong(const char *s, int base, unsigned long max, unsigned long *out);
static bool cfg_parse_bool(const char *s, bool *out);
static bool cfg_listen_ok(const char *listen);
static bool cfg_origins_ok(const char *list, struct tl_diag *d);
static void cfg_print_value(const struct cfg *c, const struct cfg_key *k, FILE *out);
static char *cfg_trim(char *s);

void cfg_defaults(struct cfg *c)
{
    memset(c, 0, sizeof *c);
    c->socket_mode = 0660;
    c->workers = 0;
    c->max_requests = 0;
    c->request_timeout_s = 30;
    c->shutdown_timeout_s = 10;
    c->slow_request_ms = 1000;
    c->sched_batch = true;
    snprintf(c->log_level, sizeof c->log_level, "info");
    snprintf(c->monitor_allow, sizeof c->monitor_allow, "127.0.0.0/8, ::1");
    c->body_max = 1024UL * 1024;
    c->params_max = 64;
    c->read_timeout_s = 5;
    snprintf(c->allowed_clients, sizeof c->allowed_clients, "127.0.0.1,::1");
    c->app = (struct app_settings)APP_SETTINGS_DEFAULT;
    c->db = (struct db_settings)DB_SETTINGS_DEFAULT;
    c->cache = (struct cache_settings)CACHE_SETTINGS_DEFAULT;
    c->session = (struct sess_settings)SESS_SETTINGS_DEFAULT;
}

enum tl_err cfg_load_ini(struct cfg *c, const char *path, struct tl_diag *d)
{
    if (access(path, F_OK) != 0) {
        tl_diag_set(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return TL_ENOTFOUND;
    }
    /* Heap line buffer that grows: the stack default silently truncates
     * lines over 200 bytes (long URLs, key lists) and miscounts lines. */
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 65536;
    ini_allow_multiline = false;
    ini_allow_inline_comments = false;
    ini_stop_on_first_error = true;
    ini_allow_no_value = false;

    struct cfg_ini_ctx ctx = { c, path, d, false };
    int rc = ini_parse(path, cfg_ini_handler, &ctx);
    if (rc == 0)
        goto done;
    if (rc < 0) {
        tl_diag_set(d, path, 0, 0, rc == -1 ? "cannot open: %s" : "out of memory%s",
                    rc == -1 ? strerror(errno) : "");
        return rc == -1 ? TL_ENOTFOUND : TL_ENOMEM;
    }
    if (ctx.has_error) {
        if (d)
            d->line = (unsigned)rc;
    } else {
        tl_diag_set(d, path, (unsigned)rc, 0, "syntax error: expected \"[section]\" or \"key = value\"");
    }
    return TL_EPARSE;
done:
    snprintf(c->config_file, sizeof c->config_file, "%s", path);
    return TL_OK;
}

enum tl_err cfg_load_dotenv(struct cfg *c, const char *path, struct tl_diag *d)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        tl_diag_set(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return TL_ENOTFOUND;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    enum tl_err e = TL_OK;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *s = cfg_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = cfg_trim(s + 7);
        char *eq = strchr(s, '=');
        if (!eq) {
            tl_diag_set(d, path, lineno, 0, "expected NAME=VALUE");
            e = TL_EPARSE;
            break;
        }
        *eq = '\0';
        char *name = cfg_trim(s), *value = cfg_trim(eq + 1);
        size_t n = strlen(value);
        if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
            value[n - 1] = '\0';
            value++;
        }
        enum tl_err r = cfg_apply_env_at(c, name, value, path, lineno, d);
        if (r != TL_OK && r != TL_ENOTFOUND) {
            e = r;
            break;
        }
    }
    free(line);
    fclose(f);
    return e;
}

enum tl_err cfg_apply_env(struct cfg *c, const char *name, const char *value, struct tl_diag *d)
{
    return cfg_apply_env_at(c, name, value, NULL, 0, d);
}

enum tl_err cfg_load_environ(struct cfg *c, struct tl_diag *d)
{
    /* Aliases first, so the more specific TASKLIST_* name wins over them. */
    for (size_t i = 0; i < CFG_N_KEYS; i++) {
        const char *v = cfg_keys[i].alias ? getenv(cfg_keys[i].alias) : NULL;
        if (v) {
            enum tl_err e = cfg_apply_env(c, cfg_keys[i].alias, v, d);
            if (e != TL_OK)
                return e;
        }
    }
    for (size_t i = 0; i < CFG_N_KEYS; i++) {
        char name[128];
        snprintf(name, sizeof name, "TASKLIST_%s_%s", cfg_keys[i].section, cfg_keys[i].name);
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        const char *v = getenv(name);
        if (v) {
            enum tl_err e = cfg_apply_env(c, name, v, d);
            if (e != TL_OK)
                return e;
        }
    }
    return TL_OK;
}

enum tl_err cfg_set(struct cfg *c, const char *section, const char *key, const char *value,
                    struct tl_diag *d)
{
    const struct cfg_key *k = cfg_find(section, key);
    if (!k) {
        tl_diag_set(d, NULL, 0, 0, "unknown key \"%s\" in [%s]", key, section);
        return TL_EPARSE;
    }
    return cfg_assign(c, k, value, NULL, 0, d);
}

enum tl_err cfg_build(struct cfg *c, const char *path, struct tl_diag *d)
{
    cfg_defaults(c);
    enum tl_err e;
    if (path) {
        if ((e = cfg_load_ini(c, path, d)) != TL_OK)
            return e;
    } else if (access("conf/tasklist.ini", F_OK) == 0) {
        if ((e = cfg_load_ini(c, "conf/tasklist.ini", d)) != TL_OK)
            return e;
    } else {
        char sys[CFG_PATH_MAX];
        snprintf(sys, sizeof sys, "%s/tasklist.ini", paths_sysconfdir());
        if (access(sys, F_OK) == 0 && (e = cfg_load_ini(c, sys, d)) != TL_OK)
            return e;
    }
    e = cfg_load_dotenv(c, ".env", d);
    if (e != TL_OK && e != TL_ENOTFOUND)
        return e;
    if (d)
        memset(d, 0, sizeof *d);
    if ((e = cfg_load_environ(c, d)) != TL_OK)
        return e;
    if (!c->templates[0] && !paths_data_default("templates", c->templates, sizeof c->templates)) {
        tl_diag_set(d, NULL, 0, 0, "the installed templates folder's path is too long");
        return TL_EINVAL;
    }
    return TL_OK;
}

enum tl_err cfg_validate(const struct cfg *c, struct tl_diag *d)
{
    const char *f = c->config_file[0] ? c->config_file : NULL;
    if (!c->debug && (c->session.secret_key[0] == '\0' ||
                      strcmp(c->session.secret_key, SESS_DEFAULT_SECRET) == 0)) {
        tl_diag_set(d, f, 0, 0,
                    "SECRET_KEY is not set (or is the default \"%s\"): set [session] secret_key "
                    "or the SECRET_KEY environment variable, or debug = true",
                    SESS_DEFAULT_SECRET);
        return TL_EINVAL;
    }
    if (c->workers > CFG_WORKERS_MAX) {
        tl_diag_set(d, f, 0, 0, "[server] workers = %u: at most %d", c->workers, CFG_WORKERS_MAX);
        return TL_EINVAL;
    }
    if (!cfg_listen_ok(c->listen)) {
        tl_diag_set(d, f, 0, 0,
                    "[server] listen = \"%s\": expected unix:PATH, HOST:PORT or [IPV6]:PORT", c->listen);
        return TL_EINVAL;
    }
    const struct { const char *name, *v; } paths[] = {
        { "status_path", c->status_path }, { "ping_path", c->ping_path },
        { "metrics_path", c->metrics_path } };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (paths[i].v[0] && paths[i].v[0] != '/') {
            tl_diag_set(d, f, 0, 0, "[server] %s = \"%s\": must start with '/'", paths[i].name,
                        paths[i].v);
            return TL_EINVAL;
        }
    }
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        for (size_t j = i + 1; j < sizeof paths / sizeof *paths; j++) {
            if (paths[i].v[0] && strcmp(paths[i].v, paths[j].v) == 0) {
                tl_diag_set(d, f, 0, 0, "[server] %s and %s are the same", paths[i].name,
                            paths[j].name);
                return TL_EINVAL;
            }
        }
    }
    const char *bad = srv_allow_check(c->monitor_allow);
    if (bad) {
        tl_diag_set(d, f, 0, 0, "[server] monitor_allow: \"%.64s\" is not an address or CIDR",
                    bad);
        return TL_EINVAL;
    }
    struct tl_diag why = { 0 };
    struct srv_clients clients;
    if (!cfg_origins_ok(c->public_origin, &why) ||
        srv_clients_parse(c->allowed_clients, &clients, &why) != TL_OK) {
        tl_diag_set(d, f, 0, 0, "%s", why.msg);
        return TL_EINVAL;
    }
    if (c->body_max == 0 || c->params_max == 0 || c->app.name_max == 0 || c->read_timeout_s == 0) {
        tl_diag_set(d, f, 0, 0, "[limits] body_max, params_max, name_max and read_timeout_s must be > 0");
        return TL_EINVAL;
    }
    if (c->cache.local_size_mb > CACHE_LOCAL_SIZE_MB_MAX) {
        tl_diag_set(d, f, 0, 0, "[cache] local_size_mb = %u: must be 0..%u", c->cache.local_size_mb,
                    CACHE_LOCAL_SIZE_MB_MAX);
        return TL_EINVAL;
    }
    if (c->app.page_size == 0 || c->app.page_size > APP_PAGE_SIZE_MAX) {
        tl_diag_set(d, f, 0, 0, "[app] page_size = %u: must be 1..%u", c->app.page_size,
                    APP_PAGE_SIZE_MAX);
        return TL_EINVAL;
    }
    if (c->db.url[0] == '\0') {
        tl_diag_set(d, f, 0, 0, "[database] url is empty");
        return TL_EINVAL;
    }
    return TL_OK;
}

void cfg_print(const struct cfg *c, FILE *out)
{
    fprintf(out, "; effective configuration (file: %s; secrets masked)\n",
            c->config_file[0] ? c->config_file : "none");
    const char *section = NULL;
    for (size_t i = 0; i < CFG_N_KEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (!section || strcmp(section, k->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", k->section);
            section = k->section;
        }
        fprintf(out, "%s = ", k->name);
        cfg_print_value(c, k, out);
        fputc('\n', out);
    }
}

/* ---- helpers ---- */

static const struct cfg_key *cfg_find(const char *section, const char *name)
{
    for (size_t i = 0; i < CFG_N_KEYS; i++)
        if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

static bool cfg_section_known(const char *section)
{
    for (size_t i = 0; i < sizeof cfg_sections / sizeof *cfg_sections; i++)
        if (strcmp(cfg_sections[i], section) == 0)
            return true;
    return false;
}

/* Parse value for k into c. On error c is unchanged and d names file:line,
 * the key and the bad value (never the value of a secret). */
static enum tl_err cfg_assign(struct cfg *c, const struct cfg_key *k, const char *value,
                              const char *file, unsigned line, struct tl_diag *d)
{
    char *field = (char *)c + k->off;
    const char *shown = k->is_secret ? "********" : value;
    const char *want = NULL;
    unsigned long ul;
    bool b;
    enum log_level lv;

    switch (k->type) {
    case CFG_STR:
        if (strlen(value) >= k->size) {
            tl_diag_set(d, file, line, 0, "value of \"%s\" in [%s] is too long (at most %zu bytes)",
                        k->name, k->section, k->size - 1);
            return TL_EPARSE;
        }
        memcpy(field, value, strlen(value) + 1);
        return TL_OK;
    case CFG_UINT:
        if (!cfg_parse_ulong(value, 10, UINT_MAX, &ul)) {
            want = "a non-negative integer";
            break;
        }
        *(unsigned *)(void *)field = (unsigned)ul;
        return TL_OK;
    case CFG_ULONG:
        if (!cfg_parse_ulong(value, 10, ULONG_MAX, &ul)) {
            want = "a non-negative integer";
            break;
        }
        *(unsigned long *)(void *)field = ul;
        return TL_OK;
    case CFG_MODE:
        if (!cfg_parse_ulong(value, 8, 0777, &ul)) {
            want = "an octal mode such as 0660";
            break;
        }
        *(unsigned *)(void *)field = (unsigned)ul;
        return TL_OK;
    case CFG_BOOL:
        if (!cfg_parse_bool(value, &b)) {
            want = "true or false";
            break;
        }
        *(bool *)(void *)field = b;
        return TL_OK;
    case CFG_LEVEL:
        if (!log_level_parse(value, &lv)) {
            want = "debug, info, warn or error";
            break;
        }
        snprintf(field, k->size, "%s", value);
        return TL_OK;
    }
    tl_diag_set(d, file, line, 0, "bad value \"%.64s\" for key \"%s\" in [%s]: expected %s", shown,
                k->name, k->section, want);
    return TL_EPARSE;
}

static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_ini_ctx *ctx = user;
    char buf[4096];
    if (!section[0]) {
        tl_diag_set(ctx->d, ctx->path, 0, 0, "key \"%s\" outside a [section]", name);
        ctx->has_error = true;
        return 0;
    }
    if (!cfg_section_known(section)) {
        tl_diag_set(ctx->d, ctx->path, 0, 0, "unknown section [%s]", section);
        ctx->has_error = true;
        return 0;
    }
    const struct cfg_key *k = cfg_find(section, name);
    if (!k) {
        tl_diag_set(ctx->d, ctx->path, 0, 0, "unknown key \"%s\" in [%s]", name, section);
        ctx->has_error = true;
        return 0;
    }
    size_t n = strlen(value);
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"' && n - 2 < sizeof buf) {
        memcpy(buf, value + 1, n - 2);
        buf[n - 2] = '\0';
        value = buf;
    }
    if (cfg_assign(ctx->c, k, value, ctx->path, 0, ctx->d) != TL_OK) {
        ctx->has_error = true;
        return 0;
    }
    return 1;
}

static enum tl_err cfg_apply_env_at(struct cfg *c, const char *name, const char *value,
                                    const char *file, unsigned line, struct tl_diag *d)
{
    const struct cfg_key *k = NULL;
    for (size_t i = 0; i < CFG_N_KEYS && !k; i++)
        if (cfg_keys[i].alias && strcmp(cfg_keys[i].alias, name) == 0)
            k = &cfg_keys[i];
    for (size_t i = 0; i < CFG_N_KEYS && !k && strncmp(name, "TASKLIST_", 9) == 0; i++) {
        char want[128];
        snprintf(want, sizeof want, "TASKLIST_%s_%s", cfg_keys[i].section, cfg_keys[i].name);
        if (strcasecmp(want, name) == 0 && strncmp(name, "TASKLIST_", 9) == 0)
            k = &cfg_keys[i];
    }
    if (!k)
        return TL_ENOTFOUND;
    enum tl_err e = cfg_assign(c, k, value, file, line, d);
    if (e != TL_OK && d && !file) {
        char msg[sizeof d->msg];
        snprintf(msg, sizeof msg, "%s", d->msg);
        tl_diag_set(d, "environment", 0, 0, "%s: %s", name, msg);
    }
    return e;
}

static bool cfg_parse_ulong(const char *s, int base, unsigned long max, unsigned long *out)
{
    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, base);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static bool cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* "", "unix:PATH", "/PATH", "HOST:PORT", "[V6]:PORT" with PORT 1..65535 (base/hostport.h). */
static bool cfg_listen_ok(const char *listen)
{
    if (!listen[0])
        return true;
    if (strncmp(listen, "unix:", 5) == 0)
        return listen[5] != '\0' && strlen(listen + 5) < 108;
    if (listen[0] == '/')
        return strlen(listen) < 108;
    struct hostport hp;
    return hostport_parse(listen, strlen(listen), 0, HOSTPORT_PORT_REQUIRED, &hp) == HOSTPORT_OK;
}

static void cfg_print_value(const struct cfg *c, const struct cfg_key *k, FILE *out)
{
    const char *field = (const char *)c + k->off;
    switch (k->type) {
    case CFG_STR:
    case CFG_LEVEL:
        if (k->is_secret && field[0]) {
            fputs("********", out);
        } else if (k->off == offsetof(struct cfg, db.url)) {
            /* scheme://user:PASSWORD@host: mask the whole password, which
             * runs to the LAST '@' as db_url_parse reads it ("p@ss" too). */
            const char *sl = strstr(field, "://");
            const char *at = sl ? strrchr(sl + 3, '@') : NULL;
            const char *user_end = at ? sl + 3 + strcspn(sl + 3, ":/") : NULL;
            if (at && user_end < at && *user_end == ':')
                fprintf(out, "%.*s:********%s", (int)(user_end - field), field, at);
            else
                fputs(field, out);
        } else {
            fputs(field, out);
        }
        break;
    case CFG_UINT:
        fprintf(out, "%u", *(const unsigned *)(const void *)field);
        break;
    case CFG_ULONG:
        fprintf(out, "%lu", *(const unsigned long *)(const void *)field);
        break;
    case CFG_MODE:
        fprintf(out, "0%o", *(const unsigned *)(const void *)field);
        break;
    case CFG_BOOL:
        fputs(*(const bool *)(const void *)field ? "true" : "false", out);
        break;
    }
}

/* public_origin: empty, or comma-separated scheme://host[:port] items
 * (http or https, a host, no path, no spaces inside). */
static bool cfg_origins_ok(const char *list, struct tl_diag *d)
{
    const char *p = list;
    while (*list && *p) {
        size_t len = strcspn(p, ",");
        char item[256];
        size_t b = strspn(p, " \t"), e = len;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '/'))
            e--;
        snprintf(item, sizeof item, "%.*s", (int)(e - b), p + b);
        const char *host = NULL;
        if (!strncmp(item, "http://", 7))
            host = item + 7;
        else if (!strncmp(item, "https://", 8))
            host = item + 8;
        /* a host (and port), nothing else: no path, query, user info or spaces */
        if (!host || !*host || strcspn(host, "/ \t?#@") != strlen(host) || e - b >= sizeof item) {
            tl_diag_set(d, NULL, 0, 0,
                        "[server] public_origin: \"%s\" is not an origin like https://tasks.example.com "
                        "or http://127.0.0.1:8080 (comma-separated when several)", item);
            return false;
        }
        p += len + (p[len] == ',');
    }
    return true;
}

static char *cfg_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}
