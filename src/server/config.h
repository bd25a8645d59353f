/*
 * server/config.h - the effective configuration shared by master and workers.
 * Owns: struct cfg (fixed-size fields, so it copies by value and survives
 *   fork copy-on-write): the server's own [server] and [limits] settings,
 *   composed with each other layer's settings struct (app, db, cache,
 *   session), which that layer declares with its defaults; loading it in
 *   precedence order:
 *   built-in defaults < ini file (inih) < .env file < process environment < flags.
 * Invariants: every ini key has a default (here for the server's keys, in its
 *   layer's header for the others) and a line in conf/tasklist.ini; unknown
 *   keys and bad values are errors naming file:line and key. Each layer is
 *   handed only its own struct (cache_new(&c->cache), sess_store_new(&c->session, ...)).
 * Context: master (and one-shot commands). Workers only read it.
 */
#ifndef TASKLIST_SERVER_CONFIG_H
#define TASKLIST_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "../app/settings.h"
#include "../base/err.h"
#include "../cache/client.h"
#include "../cache/session.h"
#include "../db/db.h"

#define CFG_PATH_MAX 1024

struct cfg {
    /* [server] */
    char listen[CFG_PATH_MAX];      /* "unix:PATH", "HOST:PORT", "[::1]:PORT"; "" = fd 0 when it is a socket */
    unsigned socket_mode;           /* octal in the ini, default 0660 */
    char socket_owner[64];          /* "user" or "user:group", "" = unchanged */
    unsigned workers;               /* 0 = number of CPUs */
    unsigned max_requests;          /* 0 = never recycle */
    unsigned request_timeout_s;     /* 0 = no limit */
    unsigned shutdown_timeout_s;    /* graceful stop bound */
    unsigned slow_request_ms;       /* log requests slower than this; 0 = off */
    char user[64];                  /* drop privileges to this user when root; "" = stay */
    char group[64];
    char log_file[CFG_PATH_MAX];    /* "" = stderr */
    char log_level[16];             /* debug | info | warn | error */
    char status_path[128];          /* "" = off, e.g. "/status" */
    char ping_path[128];            /* "" = off, e.g. "/ping" */
    char metrics_path[128];         /* "" = off, e.g. "/metrics" (Prometheus text) */
    char monitor_allow[256];        /* who may read status and metrics: addresses/CIDRs, comma-separated */
    char public_origin[1024];       /* "" = derive from HTTPS/HTTP_HOST/SERVER_PORT; else one or
                                       more origins, comma-separated: other Hosts get 421 */
    char allowed_clients[1024];     /* TCP listen: peer addresses accepted, comma-separated, or "any" */
    char templates[CFG_PATH_MAX];   /* template directory; "" = ./templates or the installed ones */
    bool debug;
    bool sched_batch;               /* workers run SCHED_BATCH: a woken worker never preempts nginx */
    /* [limits] */
    unsigned long body_max;         /* bytes, default 1 MiB -> 413 */
    unsigned params_max;            /* query + form params, default 64 -> 400 */
    unsigned read_timeout_s;        /* a connection must deliver its whole request within this; 5 */
    /* the other layers' settings, each declared (with its defaults) by its layer */
    struct app_settings app;        /* [app] page_size, [limits] name_max (app/settings.h) */
    struct db_settings db;          /* [database] (db/db.h) */
    struct cache_settings cache;    /* [cache] (cache/client.h) */
    struct sess_settings session;   /* [session] (cache/session.h) */
    /* where values came from, for messages */
    char config_file[CFG_PATH_MAX];     /* the ini actually read, "" if none */
};

/* Built-in defaults (the tutorial's values). Cannot fail. */
void cfg_defaults(struct cfg *c);

/* Read an ini file over c. A missing file is TL_ENOTFOUND (callers decide
 * whether that matters); syntax errors, unknown sections/keys and bad values
 * give TL_EPARSE with d naming file, line and key. c is partly updated on error. */
enum tl_err cfg_load_ini(struct cfg *c, const char *path, struct tl_diag *d);

/* Read KEY=VALUE lines of a .env file (comments, blank lines, optional
 * quotes, optional "export "); known names are applied (see cfg_apply_env),
 * unknown ones ignored. Missing file is TL_ENOTFOUND. */
enum tl_err cfg_load_dotenv(struct cfg *c, const char *path, struct tl_diag *d);

/* Apply one environment-style variable: DATABASE_URL, MEMCACHIER_SERVERS,
 * MEMCACHIER_USERNAME, MEMCACHIER_PASSWORD, SECRET_KEY, and TASKLIST_<SECTION>_<KEY>
 * for any ini key. Returns TL_ENOTFOUND for names it does not know. */
enum tl_err cfg_apply_env(struct cfg *c, const char *name, const char *value, struct tl_diag *d);

/* Apply the process environment (getenv of every name cfg_apply_env knows). */
enum tl_err cfg_load_environ(struct cfg *c, struct tl_diag *d);

/* Set section.key = value as the ini would (used for command-line flags). */
enum tl_err cfg_set(struct cfg *c, const char *section, const char *key, const char *value,
                    struct tl_diag *d);

/* The whole chain: defaults, ini (path; when path is NULL conf/tasklist.ini
 * if that file exists, else the installed sysconfdir/tasklist.ini if it
 * exists), .env in the working directory, environment. An explicitly given
 * path that does not exist is an error. An empty templates is then resolved
 * (paths_data_default), so the result names the folder actually used. */
enum tl_err cfg_build(struct cfg *c, const char *path, struct tl_diag *d);

/* Cross-field checks: SECRET_KEY missing or default refused unless debug,
 * workers bounds, listen syntax. TL_EINVAL with d->msg on failure. */
enum tl_err cfg_validate(const struct cfg *c, struct tl_diag *d);

/* Print the effective config as ini text, secrets masked as "********". */
void cfg_print(const struct cfg *c, FILE *out);

#endif
