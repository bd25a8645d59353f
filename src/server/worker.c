/*
 * server/worker.c - one worker process: accept, parse, route, answer, repeat.
 * Owns: the request loop, the per-request flow of DESIGN.md section 1
 *   (limits, /ping and status, Host not of public_origin 421, cross-origin
 *   403, 404/405, before/handler/
 *   after, error mapping, HEAD, slow-request log), max_requests recycling,
 *   and the worker's signal handling.
 * Invariants: the stop/reopen signals stay blocked except inside
 *   epoll_pwait(), so no syscall of a request in flight (body read, response
 *   write, database, cache) is ever interrupted, and a stop never loses an
 *   accepted connection. The worker accepts with accept4() itself (the listen
 *   socket is non-blocking) and reads and answers the request with the
 *   FastCGI record layer (fcgi.c). Request memory comes from w->arena only.
 *   A connection has read_timeout_s to deliver its whole request (BEGIN,
 *   params, body), else it is shut down and the worker is free again; a TCP
 *   peer not in allowed_clients is closed at accept.
 * Context: worker process (forked by server.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "internal.h"
#include "../base/log.h"
#include "fcgi.h"
#include "response.h"
#include "router.h"

/* A body over body_max is read and thrown away up to this much, so nginx
 * can read our 413 instead of failing on a reset; beyond it the
 * connection is closed. */
#define SRV_DRAIN_MAX (64UL * 1024 * 1024)

static volatile sig_atomic_t srv_worker_stop;
/* An epoll_pwait that returns sooner than this found a connection already
 * queued: it did not sleep. */
#define SRV_WORKER_READY_US 10
static volatile sig_atomic_t srv_worker_reopen;
/* The connection whose request is being read (-1: none), and whether its
 * read deadline passed: written here, read by the SIGALRM handler. */
static volatile sig_atomic_t srv_worker_reading_fd = -1;
static volatile sig_atomic_t srv_worker_read_expired;
static volatile sig_atomic_t srv_worker_timer_armed;   /* an ITIMER_REAL expiry is pending */
static _Atomic int64_t srv_worker_read_deadline_ms;    /* lock-free: read in the handler */

static void srv_worker_on_signal(int sig);
static void srv_worker_on_alarm(int sig);
static void srv_worker_read_deadline(int fd, unsigned timeout_s, int64_t now_ms);
static void srv_worker_arm_timer(int64_t ms);
static void srv_worker_signals(sigset_t *wait_mask);
static void srv_worker_sched(bool batch);
static int srv_worker_accept(struct srv_worker *w, int epfd, const sigset_t *wait_mask);
static bool srv_worker_wait(int epfd, const sigset_t *wait_mask);
static void srv_worker_serve(struct srv_worker *w, struct fcgi_conn *conn,
                             const struct req_kvs *params);
static int srv_worker_read_body(struct srv_worker *w, struct fcgi_conn *conn,
                                const struct req_kvs *params, char **body, size_t *len);
static void srv_worker_dispatch(struct srv_worker *w, struct req *r, struct resp *resp);
static void srv_worker_map_error(struct resp *resp, enum tl_err e, const struct req *r);
static void srv_worker_write(struct fcgi_conn *conn, struct resp *resp, struct arena *a);
static void srv_worker_begin(struct srv_worker *w);
static void srv_worker_end(struct srv_worker *w, const struct req *r, int status);

/* This process's slot number (srv_worker_index); set once after fork. */
static unsigned srv_worker_slot_index;

unsigned srv_worker_index(void)
{
    return srv_worker_slot_index;
}

void srv_worker_main(struct srv_worker *w)
{
    sigset_t wait_mask;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    srv_worker_signals(&wait_mask);
    if (getppid() != w->board->master_pid)
        _exit(0);

    /* A big page's buffers (arena spills of 100s of KB) would otherwise be
     * mmap'd and munmap'd on every request, page-faulting the whole body in
     * each time (15% of CPU at 1,000 tasks, measured by bench/). Keep them in
     * the heap and let the heap keep its top: a worker's peak stays resident. */
    mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
    srv_worker_slot_index = (unsigned)(w->slot - w->board->slots);
    srv_worker_sched(w->cfg->sched_batch);
    w->arena = arena_new(256 * 1024);   /* pages and cached values up to 64 KiB stay in its kept first block */
    w->ctx = w->app->worker_init ? w->app->worker_init(w->cfg, w->state) : NULL;
    if (!w->arena || (w->app->worker_init && !w->ctx)) {
        log_error("worker: initialisation failed; exiting");
        exit(SRV_EXIT_INIT_FAILED);
    }
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, w->listen_fd, &ev) < 0) {
        log_error("worker: epoll: %s", strerror(errno));
        exit(SRV_EXIT_INIT_FAILED);
    }
    struct tl_diag d = { 0 };
    if (srv_clients_parse(w->cfg->allowed_clients, &w->clients, &d) != TL_OK) {
        log_error("worker: %s", d.msg);     /* cfg_validate let it through: not reached */
        exit(SRV_EXIT_INIT_FAILED);
    }
    w->slot->started_ms = tl_clock_ms();
    __atomic_store_n(&w->slot->state, SRV_SLOT_IDLE, __ATOMIC_RELEASE);

    uint64_t served = 0;
    while (!srv_worker_stop) {
        if (srv_worker_reopen) {
            srv_worker_reopen = 0;
            log_reopen();
        }
        int fd = srv_worker_accept(w, epfd, &wait_mask);
        if (fd < 0)
            continue;
        srv_worker_begin(w);
        srv_worker_read_deadline(fd, w->cfg->read_timeout_s, w->slot->req_start_ms);
        struct fcgi_conn conn;
        struct req_kvs params;
        const char *why = NULL;
        enum fcgi_status fs = fcgi_read_request(&conn, fd, w->arena, &params, &why);
        if (fs == FCGI_OK) {
            srv_worker_serve(w, &conn, &params);
        } else {
            srv_worker_read_deadline(-1, 0, 0);
            __atomic_sub_fetch(&w->board->active, 1, __ATOMIC_RELAXED);
            if (srv_worker_read_expired)
                log_refused("FastCGI connection closed: no complete request within %u s "
                            "(read_timeout_s)", w->cfg->read_timeout_s);
            else if (fs == FCGI_NOMEM)
                log_error("FastCGI connection closed: %s", why);
            else if (fs != FCGI_CLOSED)
                log_refused("FastCGI connection closed: %s", why);
        }
        srv_worker_read_expired = 0;
        fcgi_close(&conn);   /* keep_conn from the web server: not supported, closed too */
        arena_reset(w->arena);
        __atomic_store_n(&w->slot->state, SRV_SLOT_IDLE, __ATOMIC_RELEASE);
        if (w->cfg->max_requests && ++served >= w->cfg->max_requests) {
            log_info("worker: served %llu requests (max_requests); recycling",
                     (unsigned long long)served);
            __atomic_add_fetch(&w->board->metrics.recycled, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    __atomic_store_n(&w->slot->state, SRV_SLOT_EXITING, __ATOMIC_RELEASE);
    if (w->app->worker_fini)
        w->app->worker_fini(w->ctx);
    arena_free(w->arena);
    exit(0);
}

/* ---- helpers ---- */

static void srv_worker_on_signal(int sig)
{
    if (sig == SIGUSR1)
        srv_worker_reopen = 1;
    else
        srv_worker_stop = 1;
}

/* The read deadline has passed: shut the connection down. Any read the
 * record layer is blocked in, or starts later, then returns 0 (end of stream) and
 * the request or body read fails at once. Why not the alternatives:
 * polling before the first read only covers the first byte (a client can send
 * one and stall); SO_RCVTIMEO bounds each read(), not the whole request, so a
 * client trickling a byte every few seconds would hold the worker forever; an
 * alarm that only interrupts a read (EINTR) races with the read not having
 * started yet. shutdown(2) is async-signal-safe and sticks.
 * The timer is not stopped when a request is in, nor started again for each
 * request while it is pending (two system calls a request saved): when it
 * fires for an earlier request, the handler finds the current deadline
 * still ahead and arms the timer for what is left of it, or finds no
 * connection being read and does nothing. So it fires at most once per
 * read_timeout_s while requests come, and a signal may then land outside a
 * read: every call it can interrupt restarts (SA_RESTART) or retries on
 * EINTR (epoll_pwait here, poll in libmemcached and the MariaDB connector). */
static void srv_worker_on_alarm(int sig)
{
    (void)sig;
    int saved_errno = errno;
    srv_worker_timer_armed = 0;
    int fd = srv_worker_reading_fd;
    if (fd >= 0) {
        int64_t left = atomic_load(&srv_worker_read_deadline_ms) - tl_clock_ms();
        if (left > 0) {
            srv_worker_arm_timer(left);
        } else {
            shutdown(fd, SHUT_RDWR);
            srv_worker_read_expired = 1;
        }
    }
    errno = saved_errno;
}

static void srv_worker_arm_timer(int64_t ms)
{
    struct itimerval it = { { 0, 0 }, { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 } };
    srv_worker_timer_armed = 1;
    setitimer(ITIMER_REAL, &it, NULL);
}

/* Start (fd >= 0; now_ms: the request's start, tl_clock_ms) or end (fd -1)
 * reading a connection under the read deadline; timeout_s 0 = no deadline.
 * The deadline is published before the
 * fd and the fd is withdrawn first, so the handler never shuts down a
 * connection that is no longer being read, nor one before its deadline. */
static void srv_worker_read_deadline(int fd, unsigned timeout_s, int64_t now_ms)
{
    if (fd < 0 || timeout_s == 0) {
        srv_worker_reading_fd = -1;
        return;
    }
    srv_worker_read_expired = 0;
    atomic_store(&srv_worker_read_deadline_ms, now_ms + (int64_t)timeout_s * 1000);
    srv_worker_reading_fd = fd;
    if (!srv_worker_timer_armed)
        srv_worker_arm_timer((int64_t)timeout_s * 1000);
}

/* TERM/INT/QUIT stop, USR1 reopens logs; all stay blocked (the master
 * blocked them before fork, so none is lost in between) and *wait_mask is
 * the mask epoll_pwait() uses to let them in. No SA_RESTART: a signal must
 * end the wait. */
static void srv_worker_signals(sigset_t *wait_mask)
{
    struct sigaction sa = { .sa_handler = srv_worker_on_signal };
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1 };
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&block, sigs[i]);
    }
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(SIGCHLD, &dfl, NULL);
    /* SA_RESTART: the read the alarm lands in resumes and sees the shutdown. */
    struct sigaction alarm_sa = { .sa_handler = srv_worker_on_alarm, .sa_flags = SA_RESTART };
    sigemptyset(&alarm_sa.sa_mask);
    sigaction(SIGALRM, &alarm_sa, NULL);
    sigset_t alarm_set;
    sigemptyset(&alarm_set);
    sigaddset(&alarm_set, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alarm_set, NULL);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigdelset(wait_mask, sigs[i]);
}

/* [server] sched_batch: SCHED_BATCH (nice unchanged; no privilege needed)
 * takes the worker out of wake-up preemption. A connection wakes a worker
 * while nginx, the one process every client waits on, is on the CPU; a
 * normal worker would often preempt it (measured: 0.28 involuntary switches
 * of nginx per cached GET / on 2 CPUs, 0.03 with batch workers), a batch one
 * runs on a free CPU or when nginx's slice ends. Off: the inherited policy. */
static void srv_worker_sched(bool batch)
{
    if (!batch)
        return;
    struct sched_param sp = { .sched_priority = 0 };
    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
        log_warn("worker: cannot set SCHED_BATCH (sched_batch): %s; running under the "
                 "inherited policy", strerror(errno));
}

/* Sleep until the listen socket is readable, a signal comes in (the only
 * place the stop/reopen signals are let in), or a second passes while
 * refused requests wait to be counted in the log. True when interrupted or
 * timed out: the caller's loop checks its flags before accepting. */
static bool srv_worker_wait(int epfd, const sigset_t *wait_mask)
{
    struct epoll_event ev;
    int timeout_ms = log_refused_pending() ? 1000 : -1;
    int n = epoll_pwait(epfd, &ev, 1, timeout_ms, wait_mask);
    if (n < 0 && errno != EINTR)
        log_error("worker: epoll_pwait: %s", strerror(errno));
    log_refused_flush();
    return n <= 0;
}

/* One accepted connection, or -1 (nothing yet, interrupted: the caller
 * loops and checks its flags). accept4 first: under load it succeeds at
 * once and costs one syscall; EPOLLEXCLUSIVE wakes one idle worker per
 * connection instead of all of them. */
static int srv_worker_accept(struct srv_worker *w, int epfd, const sigset_t *wait_mask)
{
    /* Once an accept4 has found the queue empty, the next ones most likely
     * will too: wait first (epoll_pwait, then accept4: two system calls a
     * connection instead of three) until a wait returns at once, which says
     * connections are queueing again: then accept4 first (one). */
    static bool wait_first;
    if (wait_first) {
        int64_t t0 = tl_clock_us();
        if (srv_worker_wait(epfd, wait_mask))
            return -1;
        if (tl_clock_us() - t0 < SRV_WORKER_READY_US)
            wait_first = false;
    }
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    int fd = accept4(w->listen_fd, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
    if (fd >= 0 && peer_len > 0 && peer_len <= sizeof peer &&
        !srv_clients_allow(&w->clients, (const struct sockaddr *)&peer)) {
        char addr[INET6_ADDRSTRLEN] = "?";
        const void *in = peer.ss_family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)&peer)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr;
        inet_ntop(peer.ss_family, in, addr, sizeof addr);
        log_refused("FastCGI connection from %s refused: not in [server] allowed_clients", addr);
        close(fd);
        return -1;
    }
    if (fd >= 0)
        return fd;
    switch (errno) {
    case EAGAIN:
        wait_first = true;
        return -1;
    case EINTR:
        return -1;
    case ECONNABORTED:
    case EPROTO:
        return -1;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        log_error("worker: accept: %s; pausing 100 ms", strerror(errno));
        usleep(100 * 1000);
        return -1;
    default:
        log_error("worker: accept: %s; exiting", strerror(errno));
        srv_worker_stop = 1;
        return -1;
    }
}

static void srv_worker_begin(struct srv_worker *w)
{
    struct srv_board *b = w->board;
    int64_t now_us = tl_clock_us();
    w->slot->req_start_ms = now_us / 1000;   /* the master's request_timeout_s watch */
    srv_metrics_begin(now_us);
    __atomic_store_n(&w->slot->state, SRV_SLOT_BUSY, __ATOMIC_RELEASE);
    __atomic_add_fetch(&b->accepted, 1, __ATOMIC_RELAXED);
    uint64_t active = __atomic_add_fetch(&b->active, 1, __ATOMIC_RELAXED);
    uint64_t max = __atomic_load_n(&b->max_active, __ATOMIC_RELAXED);
    while (active > max &&
           !__atomic_compare_exchange_n(&b->max_active, &max, active, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

static void srv_worker_end(struct srv_worker *w, const struct req *r, int status)
{
    __atomic_sub_fetch(&w->board->active, 1, __ATOMIC_RELAXED);
    w->slot->requests++;
    int64_t ms = srv_metrics_record(w, r, status) / 1000;
    if (w->cfg->slow_request_ms && ms >= (int64_t)w->cfg->slow_request_ms) {
        __atomic_add_fetch(&w->board->slow_requests, 1, __ATOMIC_RELAXED);
        char mb[LOG_CLIENT_BUF], pb[LOG_CLIENT_BUF];
        log_warn("slow request: %s \"%s\" took %lld ms (status %d)",
                 log_client(r->method_name.len ? r->method_name : STR("-"), mb, sizeof mb),
                 log_client(r->path.len ? r->path : STR("-"), pb, sizeof pb), (long long)ms, status);
    }
}

static void srv_worker_serve(struct srv_worker *w, struct fcgi_conn *conn,
                             const struct req_kvs *params)
{
    struct req r;
    struct resp resp;
    const char *why = NULL;
    char *body = NULL;
    size_t body_len = 0;

    memset(&r, 0, sizeof r);
    resp_init(&resp, w->arena);
    int st = srv_worker_read_body(w, conn, params, &body, &body_len);
    srv_worker_read_deadline(-1, 0, 0);    /* the request is in: request_timeout_s from here */
    if (st < 0 && srv_worker_read_expired)
        log_refused("FastCGI connection closed: the request body did not arrive within %u s "
                    "(read_timeout_s)", w->cfg->read_timeout_s);
    if (st == 0)
        st = req_parse(&r, w->arena, params, body, body_len, &w->lim, &why);
    else
        why = st == 413 ? "request body too large" : "cannot read the request body";
    r.arena = w->arena;
    r.start_s = (double)w->slot->req_start_ms / 1000.0;
    if (st == 0) {
        srv_worker_dispatch(w, &r, &resp);
    } else if (st > 0) {
        if (st >= 500)
            log_error("request refused: %s", why);
        else
            log_refused("request refused (%d): %s", st, why);
        resp_error_page(&resp, st, why);
    }
    if (st >= 0)
        srv_worker_write(conn, &resp, w->arena);
    srv_worker_end(w, &r, st < 0 ? 0 : resp.status);
}

/* Read the whole body into the arena: 0, 413 (drained, answerable), or -1
 * (connection unusable: read error or too big to drain). */
static int srv_worker_read_body(struct srv_worker *w, struct fcgi_conn *conn,
                                const struct req_kvs *params, char **body, size_t *len)
{
    struct str cl = STR("");
    req_kvs_get(params, STR("CONTENT_LENGTH"), &cl);   /* values are NUL-terminated */
    unsigned long want = cl.len ? strtoul(cl.p, NULL, 10) : 0;
    unsigned long max = w->lim.body_max;
    if (want > max) {
        char sink[16384];
        unsigned long total = 0;
        ssize_t n;
        while (total <= SRV_DRAIN_MAX && (n = fcgi_read_body(conn, sink, sizeof sink)) > 0)
            total += (unsigned long)n;
        return total > SRV_DRAIN_MAX || n < 0 ? -1 : 413;
    }
    /* nginx always sends CONTENT_LENGTH with a body (it buffers chunked
     * ones), so none means no body: nothing to read. */
    *body = NULL;
    *len = 0;
    if (want == 0)
        return 0;
    char *buf = arena_alloc(w->arena, want + 1);
    if (!buf)
        return -1;
    size_t n = 0;
    while (n < want) {
        ssize_t got = fcgi_read_body(conn, buf + n, want - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    if (n < want)
        return -1;
    buf[n] = '\0';
    *body = buf;
    *len = n;
    return 0;
}

/* /ping and status, cross-origin refusal, routing, hooks and handler. */
static void srv_worker_dispatch(struct srv_worker *w, struct req *r, struct resp *resp)
{
    const struct cfg *c = w->cfg;
    r->app = w->ctx;
    resp->head_only = r->method == HTTP_HEAD;
    bool safe = r->method & (HTTP_GET | HTTP_HEAD);
    if (safe && c->ping_path[0] && str_eq_c(r->path, c->ping_path)) {
        resp->content_type = "text/plain; charset=utf-8";
        strbuf_puts(&resp->body, "pong\n");
        resp_header(resp, "Cache-Control", STR("no-store"));
        return;
    }
    if (safe && c->status_path[0] && str_eq_c(r->path, c->status_path)) {
        if (!srv_metrics_allowed(c, r)) {
            resp_error_page(resp, 403, "Forbidden.");
            return;
        }
        resp->content_type = "application/json";
        srv_board_json(w->board, &resp->body);
        if (w->app->status_json && resp->body.len >= 2 &&
            memcmp(resp->body.p + resp->body.len - 2, "}\n", 2) == 0) {
            resp->body.len -= 2;   /* reopen the object for the app's members */
            w->app->status_json(w->ctx, &resp->body);
            strbuf_puts(&resp->body, "}\n");
        }
        resp_header(resp, "Cache-Control", STR("no-store"));
        return;
    }
    if (safe && c->metrics_path[0] && str_eq_c(r->path, c->metrics_path)) {
        if (!srv_metrics_allowed(c, r)) {
            resp_error_page(resp, 403, "Forbidden.");
            return;
        }
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        srv_metrics_render(w->board, &resp->body);
        resp_header(resp, "Cache-Control", STR("no-store"));
        return;
    }
    if (!req_host_allowed(r, c->public_origin)) {
        char hb[LOG_CLIENT_BUF];
        log_refused("Host \"%s\" refused (421): not a host of [server] public_origin",
                    log_client(req_param(r, "HTTP_HOST"), hb, sizeof hb));
        resp_error_page(resp, 421, "This server does not serve that host name.");
        return;
    }
    if (req_is_cross_origin(r, c->public_origin)) {
        char mb[LOG_CLIENT_BUF], pb[LOG_CLIENT_BUF], ob[LOG_CLIENT_BUF];
        log_refused("cross-origin %s \"%s\" refused (Origin \"%s\")",
                    log_client(r->method_name, mb, sizeof mb), log_client(r->path, pb, sizeof pb),
                    log_client(req_param(r, "HTTP_ORIGIN"), ob, sizeof ob));
        resp_error_page(resp, 403, "Cross-origin request refused.");
        return;
    }
    unsigned allow = 0;
    enum router_match m = w->router ? router_match(w->router, r, &allow) : ROUTER_NOT_FOUND;
    if (m == ROUTER_NOT_FOUND) {
        resp_error_page(resp, 404, "The requested URL was not found on the server.");
        return;
    }
    if (m == ROUTER_METHOD_NOT_ALLOWED) {
        struct strbuf sb;
        strbuf_init(&sb, w->arena, 64);
        router_allow_header(allow, &sb);
        resp_header(resp, "Allow", strbuf_str(&sb));
        resp_error_page(resp, 405, "The method is not allowed for the requested URL.");
        return;
    }
    enum tl_err e = w->app->before ? w->app->before(r, resp) : TL_OK;
    if (e == TL_OK) {
        e = r->route->handler(r, resp);
        if (e != TL_OK)
            srv_worker_map_error(resp, e, r);
    }
    if (w->app->after)
        w->app->after(r, resp);
}

static void srv_worker_map_error(struct resp *resp, enum tl_err e, const struct req *r)
{
    struct arena *a = resp->body.arena;
    bool head = resp->head_only;
    resp_init(resp, a);     /* drop whatever the handler half-built */
    resp->head_only = head;
    char mb[LOG_CLIENT_BUF], pb[LOG_CLIENT_BUF];
    log_client(r->method_name, mb, sizeof mb);
    log_client(r->path, pb, sizeof pb);
    switch (e) {
    case TL_EUNAVAIL:
    case TL_ETIMEOUT:
        log_warn("%s \"%s\": %s (503)", mb, pb, tl_strerror(e));
        resp_error_page(resp, 503, "The service is temporarily unavailable. Please retry.");
        resp_header(resp, "Retry-After", STR("1"));
        break;
    case TL_ENOTFOUND:
        resp_error_page(resp, 404, "The requested URL was not found on the server.");
        break;
    case TL_EINVAL:
        resp_error_page(resp, 400, "The request was not understood.");
        break;
    case TL_ETOOBIG:
        resp_error_page(resp, 413, "The request is too large.");
        break;
    default:
        log_error("%s \"%s\": handler failed: %s", mb, pb, tl_strerror(e));
        resp_error_page(resp, 500, "Internal server error.");
        break;
    }
}

/* Headers from a small arena buffer, body straight from the handler's
 * buffer: one writev (fcgi_write_response), no copy of the body. */
static void srv_worker_write(struct fcgi_conn *conn, struct resp *resp, struct arena *a)
{
    if (resp->headers.oom || resp->body.oom) {
        log_error("response: out of memory");
        resp_init(resp, a);
        resp->status = 500;
    }
    bool head = resp->head_only;
    struct strbuf hdr;
    strbuf_init(&hdr, a, 512 + resp->headers.len);
    resp->head_only = true;
    resp_serialize(resp, &hdr);
    resp->head_only = head;
    bool with_body = !head && resp->body.len;
    if (fcgi_write_response(conn, a, hdr.p, hdr.len, with_body ? resp->body.p : NULL,
                            with_body ? resp->body.len : 0) != 0)
        log_debug("response not delivered: the web server closed the connection");
}
