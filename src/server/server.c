/*
 * server/server.c - srv_serve(): the master process of the pool.
 * Owns: start-up (log, listen socket, scoreboard, privilege drop, app load),
 *   supervision (respawn, crash-loop brake, request_timeout kills),
 *   signals (TERM/INT/QUIT stop, HUP reload, USR1 log reopen), and the
 *   generation switch on reload.
 * Invariants: the master never serves a request. All its signals stay
 *   blocked and are taken synchronously with sigtimedwait(), so no handler
 *   races with the supervision logic. On reload the new generation is
 *   forked first; the old one is told to stop only once every new worker
 *   is ready (or after SRV_READY_WAIT_MS), and a stopping worker finishes
 *   its request first: no request is dropped.
 * Context: master process.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../base/log.h"

#define SRV_SLOTS 576                 /* 2 generations of 256 workers + spares */
#define SRV_TICK_MS 200
#define SRV_READY_WAIT_MS 10000       /* new generation not ready: retire the old anyway */
#define SRV_FAST_CRASH_MS 2000        /* a worker dying younger than this is a crash loop hint */
#define SRV_BRAKE_AFTER 5             /* fast crashes in a row before backing off */
#define SRV_BRAKE_MAX_MS 32000

struct srv_master {
    struct cfg cfg;
    const struct srv_app *app;
    srv_config_loader loader;
    void *loader_arg;
    void *state;
    const struct router *router;
    struct srv_listener lst;
    struct srv_board *board;
    unsigned generation;
    unsigned want;                 /* workers per generation */
    bool is_stopping;
    int64_t stop_deadline_ms;
    bool has_retiring;             /* older generations still to be told to stop */
    int64_t retire_deadline_ms;
    unsigned fast_crashes;
    int64_t respawn_after_ms;
};

static int srv_start(struct srv_master *m);
static int srv_drop_privileges(const struct cfg *c);
static void srv_loop(struct srv_master *m);
static void srv_on_signal(struct srv_master *m, int sig);
static void srv_reload(struct srv_master *m);
static void srv_reap(struct srv_master *m);
static void srv_spawn_missing(struct srv_master *m);
static void srv_spawn(struct srv_master *m, struct srv_slot *s);
static void srv_retire_old(struct srv_master *m);
static void srv_check_timeouts(struct srv_master *m);
static void srv_signal_workers(struct srv_master *m, int sig, bool old_only);
static unsigned srv_count(const struct srv_master *m, bool current_only);
static unsigned srv_workers_wanted(const struct cfg *c);

int srv_serve(const struct cfg *c, const struct srv_app *app, srv_config_loader loader,
              void *loader_arg)
{
    static struct srv_master m;   /* static: workers keep pointers into it after fork */
    memset(&m, 0, sizeof m);
    m.cfg = *c;
    m.app = app;
    m.loader = loader;
    m.loader_arg = loader_arg;
    m.lst.fd = -1;
    if (srv_start(&m) != 0) {
        srv_listen_close(&m.lst);
        srv_board_free(m.board);
        return 1;
    }
    srv_loop(&m);
    srv_listen_close(&m.lst);
    if (m.app->master_unload && m.state)
        m.app->master_unload(m.state);
    srv_board_free(m.board);
    log_info("master: stopped");
    return 0;
}

/* ---- start-up ---- */

static int srv_start(struct srv_master *m)
{
    const struct cfg *c = &m->cfg;
    enum log_level lv;
    if (log_level_parse(c->log_level, &lv))
        log_set_level(lv);
    if (log_open(c->log_file) < 0)
        log_error("log file \"%s\": %s; logging to stderr", c->log_file, strerror(errno));

    /* Block our signals before anything is forked: workers inherit the
     * mask and open it only inside epoll_pwait(). */
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD };
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigaction(SIGPIPE, &ign, NULL);

    if (srv_listen_open(c, &m->lst) != 0)
        return -1;
    if (!(m->board = srv_board_new(SRV_SLOTS)))
        return -1;
    m->board->master_pid = (int32_t)getpid();
    if (srv_drop_privileges(c) != 0)
        return -1;

    struct tl_diag d = { 0 };
    m->state = m->app->master_load ? m->app->master_load(c, &d) : NULL;
    if (m->app->master_load && !m->state) {
        char buf[600];
        tl_diag_format(&d, buf, sizeof buf);
        log_error("master: the application refused to load: %s", buf);
        return -1;
    }
    m->router = m->app->router_of ? m->app->router_of(m->state) : NULL;
    m->want = srv_workers_wanted(c);
    m->generation = 1;
    m->board->generation = 1;
    log_info("master: listening on %s with %u workers", m->lst.desc, m->want);
    return 0;
}

static int srv_drop_privileges(const struct cfg *c)
{
    if (!c->user[0])
        return 0;
    if (geteuid() != 0) {
        log_warn("master: user = \"%s\" ignored: not started as root", c->user);
        return 0;
    }
    struct passwd *pw = getpwnam(c->user);
    if (!pw) {
        log_error("master: user \"%s\" does not exist", c->user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (c->group[0]) {
        struct group *gr = getgrnam(c->group);
        if (!gr) {
            log_error("master: group \"%s\" does not exist", c->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
        log_error("master: cannot drop privileges to %s: %s", c->user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        log_error("master: privileges could be regained after dropping them; refusing to run");
        return -1;
    }
    log_info("master: running as user %s (uid %d, gid %d)", c->user, (int)pw->pw_uid, (int)gid);
    return 0;
}

/* ---- supervision ---- */

static void srv_loop(struct srv_master *m)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD };
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    srv_spawn_missing(m);
    for (;;) {
        struct timespec ts = { 0, SRV_TICK_MS * 1000000L };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            srv_on_signal(m, sig);
        srv_reap(m);
        if (m->is_stopping) {
            if (srv_count(m, false) == 0)
                return;
            if (tl_clock_ms() > m->stop_deadline_ms) {
                log_warn("master: shutdown_timeout_s (%u) reached; killing %u workers",
                         m->cfg.shutdown_timeout_s, srv_count(m, false));
                srv_signal_workers(m, SIGKILL, false);
                m->stop_deadline_ms = INT64_MAX;
            }
            continue;
        }
        srv_check_timeouts(m);
        srv_spawn_missing(m);
        if (m->has_retiring)
            srv_retire_old(m);
    }
}

static void srv_on_signal(struct srv_master *m, int sig)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        if (m->is_stopping)
            break;
        log_info("master: %s: stopping (in-flight requests finish, at most %u s)",
                 strsignal(sig), m->cfg.shutdown_timeout_s);
        m->is_stopping = true;
        m->stop_deadline_ms = tl_clock_ms() + (int64_t)m->cfg.shutdown_timeout_s * 1000;
        srv_signal_workers(m, SIGTERM, false);
        break;
    case SIGHUP:
        if (!m->is_stopping)
            srv_reload(m);
        break;
    case SIGUSR1:
        log_reopen();
        log_info("master: log reopened");
        srv_signal_workers(m, SIGUSR1, false);
        break;
    default:
        break;   /* SIGCHLD: srv_reap runs after every wake-up */
    }
}

/* New config, new app state, new generation; the old keeps serving until
 * the new one is ready. Any failure keeps everything as it was. */
static void srv_reload(struct srv_master *m)
{
    static struct cfg nc;   /* large: keep it off the stack */
    struct tl_diag d = { 0 };
    char buf[600];
    log_info("master: SIGHUP: reloading");
    nc = m->cfg;
    if (m->loader && (m->loader(&nc, &d, m->loader_arg) != TL_OK || cfg_validate(&nc, &d) != TL_OK)) {
        tl_diag_format(&d, buf, sizeof buf);
        log_error("master: reload: %s; keeping the old configuration", buf);
        return;
    }
    /* Bound before the privilege drop: only a restart can change these. */
    if (strcmp(nc.listen, m->cfg.listen) || nc.socket_mode != m->cfg.socket_mode ||
        strcmp(nc.socket_owner, m->cfg.socket_owner) || strcmp(nc.user, m->cfg.user) ||
        strcmp(nc.group, m->cfg.group))
        log_warn("master: reload: listen, socket_mode, socket_owner, user and group need a "
                 "restart; keeping the old values");
    memcpy(nc.listen, m->cfg.listen, sizeof nc.listen);
    nc.socket_mode = m->cfg.socket_mode;
    memcpy(nc.socket_owner, m->cfg.socket_owner, sizeof nc.socket_owner);
    memcpy(nc.user, m->cfg.user, sizeof nc.user);
    memcpy(nc.group, m->cfg.group, sizeof nc.group);

    void *ns = m->app->master_load ? m->app->master_load(&nc, &d) : NULL;
    if (m->app->master_load && !ns) {
        tl_diag_format(&d, buf, sizeof buf);
        log_error("master: reload: the application refused to load: %s; keeping the old one", buf);
        return;
    }
    /* Old workers have their own copy-on-write image of the old state. */
    if (m->app->master_unload && m->state)
        m->app->master_unload(m->state);
    m->state = ns;
    m->router = m->app->router_of ? m->app->router_of(ns) : NULL;
    m->cfg = nc;
    enum log_level lv;
    if (log_level_parse(nc.log_level, &lv))
        log_set_level(lv);
    if (log_open(nc.log_file) < 0)
        log_error("log file \"%s\": %s", nc.log_file, strerror(errno));
    m->want = srv_workers_wanted(&nc);
    m->generation++;
    m->board->generation = m->generation;
    m->has_retiring = true;
    m->retire_deadline_ms = tl_clock_ms() + SRV_READY_WAIT_MS;
    m->fast_crashes = 0;
    m->respawn_after_ms = 0;
    srv_spawn_missing(m);
    log_info("master: generation %u starting with %u workers", m->generation, m->want);
}

static void srv_reap(struct srv_master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct srv_slot *s = NULL;
        for (unsigned i = 0; i < m->board->n_slots && !s; i++)
            if (m->board->slots[i].pid == pid)
                s = &m->board->slots[i];
        if (!s)
            continue;
        bool is_current = s->generation == m->generation && !m->is_stopping;
        bool is_clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        int64_t age = tl_clock_ms() - s->started_ms;
        if (s->state == SRV_SLOT_BUSY)
            __atomic_sub_fetch(&m->board->active, 1, __ATOMIC_RELAXED);
        memset(s, 0, sizeof *s);
        if (!is_current)
            continue;
        __atomic_add_fetch(&m->board->restarts, 1, __ATOMIC_RELAXED);
        if (is_clean) {
            m->fast_crashes = 0;
            continue;
        }
        if (WIFSIGNALED(status))
            log_warn("master: worker %d killed by signal %d (%s); respawning", (int)pid,
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            log_warn("master: worker %d exited with status %d; respawning", (int)pid,
                     WEXITSTATUS(status));
        if (age >= SRV_FAST_CRASH_MS) {
            m->fast_crashes = 0;
            continue;
        }
        if (++m->fast_crashes >= SRV_BRAKE_AFTER) {
            int64_t delay = 1000LL << (m->fast_crashes - SRV_BRAKE_AFTER < 5 ? m->fast_crashes - SRV_BRAKE_AFTER : 5);
            if (delay > SRV_BRAKE_MAX_MS)
                delay = SRV_BRAKE_MAX_MS;
            m->respawn_after_ms = tl_clock_ms() + delay;
            log_error("master: crash loop: %u workers died within %d ms of starting; "
                      "next respawn in %lld ms", m->fast_crashes, SRV_FAST_CRASH_MS,
                      (long long)delay);
        }
    }
}

static void srv_spawn_missing(struct srv_master *m)
{
    if (tl_clock_ms() < m->respawn_after_ms)
        return;
    unsigned have = srv_count(m, true);
    for (unsigned i = 0; i < m->board->n_slots && have < m->want; i++) {
        struct srv_slot *s = &m->board->slots[i];
        if (s->pid != 0)
            continue;
        srv_spawn(m, s);
        if (s->pid == 0)
            return;   /* fork failed: retry next tick */
        have++;
        /* While braking, one worker at a time. */
        if (m->fast_crashes >= SRV_BRAKE_AFTER)
            return;
    }
}

static void srv_spawn(struct srv_master *m, struct srv_slot *s)
{
    s->generation = m->generation;
    s->state = SRV_SLOT_STARTING;
    s->requests = 0;
    s->started_ms = tl_clock_ms();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("master: fork: %s", strerror(errno));
        memset(s, 0, sizeof *s);
        return;
    }
    if (pid == 0) {
        s->pid = (int32_t)getpid();
        struct srv_worker w = {
            .cfg = &m->cfg,
            .app = m->app,
            .state = m->state,
            .router = m->router,
            .board = m->board,
            .slot = s,
            .listen_fd = m->lst.fd,
            .lim = { m->cfg.body_max, m->cfg.params_max, m->cfg.body_max },
        };
        srv_worker_main(&w);
    }
    s->pid = (int32_t)pid;
}

/* Tell older generations to stop once every current worker is ready. */
static void srv_retire_old(struct srv_master *m)
{
    unsigned ready = 0;
    for (unsigned i = 0; i < m->board->n_slots; i++) {
        const struct srv_slot *s = &m->board->slots[i];
        unsigned st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (s->pid && s->generation == m->generation &&
            (st == SRV_SLOT_IDLE || st == SRV_SLOT_BUSY))
            ready++;
    }
    if (ready < m->want && tl_clock_ms() < m->retire_deadline_ms)
        return;
    if (ready < m->want)
        log_warn("master: generation %u not fully ready (%u of %u); retiring the old one anyway",
                 m->generation, ready, m->want);
    srv_signal_workers(m, SIGTERM, true);
    m->has_retiring = false;
}

static void srv_check_timeouts(struct srv_master *m)
{
    if (!m->cfg.request_timeout_s)
        return;
    int64_t now = tl_clock_ms(), limit = (int64_t)m->cfg.request_timeout_s * 1000;
    for (unsigned i = 0; i < m->board->n_slots; i++) {
        struct srv_slot *s = &m->board->slots[i];
        if (!s->pid || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SRV_SLOT_BUSY)
            continue;
        int64_t busy = now - s->req_start_ms;
        if (busy <= limit)
            continue;
        log_error("master: worker %d busy for %lld ms on one request (request_timeout_s = %u); "
                  "killing it", (int)s->pid, (long long)busy, m->cfg.request_timeout_s);
        kill(s->pid, SIGKILL);
        __atomic_add_fetch(&m->board->metrics.killed, 1, __ATOMIC_RELAXED);
        s->req_start_ms = INT64_MAX / 2;   /* do not kill twice before the reap */
    }
}

static void srv_signal_workers(struct srv_master *m, int sig, bool old_only)
{
    for (unsigned i = 0; i < m->board->n_slots; i++) {
        const struct srv_slot *s = &m->board->slots[i];
        if (s->pid > 0 && (!old_only || s->generation != m->generation))
            kill(s->pid, sig);
    }
}

static unsigned srv_count(const struct srv_master *m, bool current_only)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->board->n_slots; i++) {
        const struct srv_slot *s = &m->board->slots[i];
        if (s->pid && (!current_only || s->generation == m->generation))
            n++;
    }
    return n;
}

static unsigned srv_workers_wanted(const struct cfg *c)
{
    if (c->workers)
        return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)(n > 256 ? 256 : n) : 2;
}
