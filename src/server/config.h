/*
 * server/config.h - the effective configuration shared by master and workers.
 * Owns: struct cfg (fixed-size fields, so it copies by value and survives
 *   fork copy-on-write), loading it in precedence order:
 *   built-in defaults < ini file (inih) < .env file < process environment < flags.
 * Invariants: every ini key has a default here and a line in conf/tasklist.ini;
 *   unknown keys and bad values are errors naming file:line and key.
 * Context: master (and one-shot commands). Workers only read it.
 */
#ifndef TASKLIST_SERVER_CONFIG_H
#define TASKLIST_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "../base/err.h"

#define CFG_PATH_MAX 1024
#define CFG_DEFAULT_SECRET "change-me"

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
    /* [limits] */
    unsigned long body_max;         /* bytes, default 1 MiB -> 413 */
    unsigned params_max;            /* query + form params, default 64 -> 400 */
    unsigned name_max;              /* task name length in characters, default 200 */
    unsigned read_timeout_s;        /* a connection must deliver its whole request within this; 5 */
    /* [app] */
    unsigned page_size;             /* tasks per page of GET / and the JSON list, default 50, 1..1000 */
    /* [database] */
    char database_url[CFG_PATH_MAX];
    unsigned db_timeout_ms;         /* connect/read/write bound, default 1000 */
    /* [cache] */
    char cache_servers[CFG_PATH_MAX];   /* "host:port,host:port"; "" = caching off */
    unsigned cache_local_size_mb;       /* same-host tier in shared memory, MiB; 0 = off; default 64 */
    char cache_username[256];
    char cache_password[256];           /* secret */
    char cache_key_prefix[64];          /* default "tasklist:" */
    unsigned cache_default_timeout_s;   /* 300 */
    unsigned cache_connect_timeout_ms;  /* 2000 */
    unsigned cache_send_timeout_ms;     /* 750 */
    unsigned cache_recv_timeout_ms;     /* 750 */
    unsigned cache_poll_timeout_ms;     /* 2000 */
    unsigned cache_retry_timeout_s;     /* 2 */
    unsigned cache_dead_timeout_s;      /* 30 */
    bool cache_tcp_nodelay;             /* true */
    bool cache_tcp_keepalive;           /* true */
    bool cache_remove_failed;           /* true */
    unsigned long cache_item_size_max;  /* 1 MiB */
    /* [session] */
    char secret_key[256];               /* secret */
    char secret_key_fallbacks[1024];    /* secret; comma-separated old keys accepted for reading */
    unsigned session_lifetime_s;        /* 31 days */
    bool session_permanent;             /* true: cookie with Max-Age; false: browser-session cookie */
    bool session_cookie_secure;         /* force Secure even without HTTPS */
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
