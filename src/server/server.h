/*
 * server/server.h - the preforked FastCGI worker pool (PHP-FPM's shape).
 * Owns: the listen socket (unix with mode/owner, TCP v4/v6, or inherited fd 0),
 *   the master process (supervision, signals, reload, crash-loop brake,
 *   request_timeout), the shared-memory scoreboard, the worker request loop
 *   (accept, parse, limits, cross-origin check, routing, HEAD, slow log,
 *   max_requests), and the /ping and status endpoints.
 * Invariants: the master never serves requests. Workers open their own
 *   database and cache connections after fork (worker_init).
 * Context: master and workers.
 */
#ifndef TASKLIST_SERVER_SERVER_H
#define TASKLIST_SERVER_SERVER_H

#include "config.h"
#include "metrics.h"
#include "router.h"

struct srv_app {
    /* Master, before the first fork and again on every SIGHUP (after the
     * config is reloaded): build what workers share copy-on-write (compiled
     * templates, router). Return a state pointer, or NULL with d filled: at
     * start-up that refuses to start, on reload the old state is kept. */
    void *(*master_load)(const struct cfg *c, struct tl_diag *d);
    void (*master_unload)(void *state);
    /* The router built by master_load (url_for and matching use it). */
    const struct router *(*router_of)(void *state);
    /* Worker, after fork: per-worker context (db, cache clients), stored in
     * every req->app. NULL = refuse to run (the worker exits, the master's
     * crash-loop brake applies). */
    void *(*worker_init)(const struct cfg *c, void *state);
    void (*worker_fini)(void *worker_ctx);
    /* Optional: run after routing, before the handler; returns TL_OK, or
     * another code after writing a complete response into w (handler skipped). */
    enum tl_err (*before)(struct req *r, struct resp *w);
    /* Optional: run after the handler, before the response is written
     * (session save, headers). */
    void (*after)(struct req *r, struct resp *w);
    /* Optional: more members for the status document, appended inside its
     * top-level object: `,"name":value...` (worker context as in req->app). */
    void (*status_json)(void *worker_ctx, struct strbuf *out);
    /* Optional: the worker's cumulative cache and database counters, read
     * after every request for GET /metrics (out is zeroed first). */
    void (*metrics)(void *worker_ctx, struct srv_metrics_sample *out);
};

/* In a worker: its slot on the scoreboard (the first workers have 0..N-1;
 * a respawned worker takes a free slot). 0 in the master and in one-shot
 * commands. Used to spread workers over several database hosts. */
unsigned srv_worker_index(void);

/* Reload hook: rebuild the config from the same sources and flags as at
 * start (main owns those). Return TL_OK or an error with d filled (the old
 * config is kept and the error logged). */
typedef enum tl_err (*srv_config_loader)(struct cfg *out, struct tl_diag *d, void *arg);

/* Run the pool until TERM/INT. Returns the process exit status (0 on a clean
 * stop, 1 when the socket cannot be opened or the app refuses to load).
 * Signals: TERM/INT graceful stop bounded by shutdown_timeout_s; HUP reload
 * (config via loader, then master_load, then new workers replace old ones
 * without dropping a request); USR1 reopen logs; CHLD respawn. */
int srv_serve(const struct cfg *c, const struct srv_app *app, srv_config_loader loader,
              void *loader_arg);

#endif
