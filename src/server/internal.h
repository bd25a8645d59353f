/*
 * server/internal.h - declarations shared by the pool's files (listen.c,
 *   scoreboard.c, worker.c, server.c). Never included from outside src/server/.
 * Owns: struct srv_board (the shared-memory scoreboard), struct srv_slot,
 *   struct srv_listener, struct srv_worker (a worker's whole process state).
 * Invariants: the board is mmap(MAP_SHARED|MAP_ANONYMOUS) by the master
 *   before any fork; a slot is written by its worker (state, times, counts)
 *   and claimed/released by the master (pid, generation). Counters are
 *   updated with __atomic builtins; readers accept slightly torn views.
 */
#ifndef TASKLIST_SERVER_INTERNAL_H
#define TASKLIST_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/clock.h"
#include "../base/arena.h"
#include "clients.h"
#include "config.h"
#include "metrics.h"
#include "request.h"
#include "server.h"
#include "../base/strbuf.h"

enum srv_slot_state {
    SRV_SLOT_FREE = 0,
    SRV_SLOT_STARTING,   /* forked, worker_init running */
    SRV_SLOT_IDLE,       /* waiting in accept */
    SRV_SLOT_BUSY,       /* serving a request since req_start_ms */
    SRV_SLOT_EXITING,    /* told to stop (reload, shutdown, max_requests) */
};

struct srv_slot {
    int32_t pid;
    uint32_t generation;
    uint32_t state;            /* enum srv_slot_state */
    uint32_t tiers_open;       /* bit per enum srv_cache_tier: breaker open in this worker */
    int64_t started_ms;        /* monotonic */
    int64_t req_start_ms;      /* monotonic; meaningful when BUSY */
    uint64_t requests;         /* served by this worker */
};

/* Route x status cells and the rest of GET /metrics (see metrics.c). A
 * route's name is claimed once (n_routes, then the name, then is_named) by
 * the first worker that answers it; readers skip unnamed rows. */
#define SRV_METRICS_ROUTES 32
#define SRV_METRICS_ROUTE_NAME 48
#define SRV_METRICS_STATUSES 24
#define SRV_METRICS_BUCKETS 14

struct srv_metrics_route {
    char name[SRV_METRICS_ROUTE_NAME];
    uint32_t is_named;
    uint32_t pad;
    uint64_t count[SRV_METRICS_STATUSES];   /* by srv_metrics_statuses[] index */
};

struct srv_metrics_board {
    uint32_t n_routes;
    uint32_t pad;
    struct srv_metrics_route routes[SRV_METRICS_ROUTES];
    uint64_t le[SRV_METRICS_BUCKETS];       /* latency histogram, not cumulative */
    uint64_t duration_us;                   /* sum */
    uint64_t requests;
    uint64_t cache_hits[SRV_CACHE_TIER__MAX];
    uint64_t cache_misses[SRV_CACHE_TIER__MAX];
    uint64_t cache_round_trips[SRV_CACHE_TIER__MAX];
    uint64_t db_errors;
    uint64_t recycled;                      /* workers that reached max_requests */
    uint64_t killed;                        /* workers SIGKILLed for request_timeout_s */
};

struct srv_board {
    int32_t master_pid;
    uint32_t generation;       /* current generation (master writes) */
    int64_t started_ms;        /* monotonic, master start */
    uint64_t accepted;
    uint64_t max_active;
    uint64_t restarts;
    uint64_t slow_requests;
    uint32_t active;
    uint32_t n_slots;
    struct srv_metrics_board metrics;
    struct srv_slot slots[];
};

struct srv_listener {
    int fd;
    bool owns_path;            /* unix socket we created: unlink at exit */
    char path[108];
    char desc[CFG_PATH_MAX + 16];   /* for logs: "unix:/run/x.sock", "fd 0", ... */
};

/* Everything a worker process needs; one per process (style rule 12). */
struct srv_worker {
    const struct cfg *cfg;
    const struct srv_app *app;
    void *state;                  /* from master_load */
    const struct router *router;
    void *ctx;                    /* from worker_init */
    struct srv_board *board;
    struct srv_slot *slot;
    int listen_fd;
    struct arena *arena;
    struct req_limits lim;
    struct srv_clients clients;   /* [server] allowed_clients, parsed after fork */
};


/* Open the listen socket described by c->listen (see config.h). 0, or -1
 * after logging why (address in use, a live server on the socket path,
 * bad owner...). */
int srv_listen_open(const struct cfg *c, struct srv_listener *l);
/* Close it, unlinking a unix socket path this process created. */
void srv_listen_close(struct srv_listener *l);

/* Shared board with n_slots slots; NULL (logged) when mmap fails. */
struct srv_board *srv_board_new(unsigned n_slots);
void srv_board_free(struct srv_board *b);
/* The status endpoint's JSON document. */
void srv_board_json(const struct srv_board *b, struct strbuf *out);

/* When a request is accepted (worker): its start time, tl_clock_us(). */
void srv_metrics_begin(int64_t now_us);
/* After each request (worker): count it by route and status, its
 * duration since srv_metrics_begin, and the app's sample as deltas.
 * Returns that duration in microseconds (the slow-request log uses it). */
int64_t srv_metrics_record(struct srv_worker *w, const struct req *r, int status);
/* The metrics endpoint's document (Prometheus text format 0.0.4). */
void srv_metrics_render(const struct srv_board *b, struct strbuf *out);
/* Whether the client of r may read the status and metrics endpoints
 * ([server] monitor_allow against REMOTE_ADDR). */
bool srv_metrics_allowed(const struct cfg *c, const struct req *r);

/* Worker process body: never returns (exit status 0 = clean stop or
 * recycled, 3 = worker_init refused). */
void srv_worker_main(struct srv_worker *w) __attribute__((noreturn));

#define SRV_EXIT_INIT_FAILED 3

#endif
