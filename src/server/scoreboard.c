/*
 * server/scoreboard.c - the shared-memory scoreboard and its JSON view.
 * Owns: the mapping (master creates it before the first fork, so every
 *   worker of every generation shares it) and the status document.
 * Invariants: fixed size, no pointers inside (addresses are per process).
 * Context: master creates and frees; workers update and render.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"
#include "../base/log.h"

static const char *const srv_state_names[] = {
    [SRV_SLOT_FREE] = "free",       [SRV_SLOT_STARTING] = "starting", [SRV_SLOT_IDLE] = "idle",
    [SRV_SLOT_BUSY] = "busy",       [SRV_SLOT_EXITING] = "exiting",
};

struct srv_board *srv_board_new(unsigned n_slots)
{
    size_t size = sizeof(struct srv_board) + n_slots * sizeof(struct srv_slot);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_error("scoreboard: mmap %zu bytes: %s", size, strerror(errno));
        return NULL;
    }
    struct srv_board *b = p;   /* anonymous mappings are zero-filled */
    b->n_slots = n_slots;
    b->started_ms = tl_clock_ms();
    return b;
}

void srv_board_free(struct srv_board *b)
{
    if (b)
        munmap(b, sizeof *b + b->n_slots * sizeof(struct srv_slot));
}

void srv_board_json(const struct srv_board *b, struct strbuf *out)
{
    int64_t now = tl_clock_ms();
    unsigned idle = 0, busy = 0;
    for (unsigned i = 0; i < b->n_slots; i++) {
        unsigned st = __atomic_load_n(&b->slots[i].state, __ATOMIC_RELAXED);
        idle += st == SRV_SLOT_IDLE;
        busy += st == SRV_SLOT_BUSY;
    }
    strbuf_printf(out,
                  "{\"master_pid\":%d,\"generation\":%u,\"uptime_s\":%lld,\"accepted\":%llu,"
                  "\"active\":%u,\"idle\":%u,\"max_active\":%llu,\"restarts\":%llu,"
                  "\"slow_requests\":%llu,\"workers\":[",
                  (int)b->master_pid, (unsigned)b->generation,
                  (long long)((now - b->started_ms) / 1000),
                  (unsigned long long)__atomic_load_n(&b->accepted, __ATOMIC_RELAXED), busy, idle,
                  (unsigned long long)__atomic_load_n(&b->max_active, __ATOMIC_RELAXED),
                  (unsigned long long)__atomic_load_n(&b->restarts, __ATOMIC_RELAXED),
                  (unsigned long long)__atomic_load_n(&b->slow_requests, __ATOMIC_RELAXED));
    bool first = true;
    for (unsigned i = 0; i < b->n_slots; i++) {
        const struct srv_slot *s = &b->slots[i];
        unsigned st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        if (st == SRV_SLOT_FREE || st >= sizeof srv_state_names / sizeof *srv_state_names)
            continue;
        long long busy_ms = st == SRV_SLOT_BUSY ? (long long)(now - s->req_start_ms) : 0;
        strbuf_printf(out,
                      "%s{\"pid\":%d,\"generation\":%u,\"state\":\"%s\",\"requests\":%llu,"
                      "\"busy_ms\":%lld,\"age_s\":%lld}",
                      first ? "" : ",", (int)s->pid, (unsigned)s->generation, srv_state_names[st],
                      (unsigned long long)s->requests, busy_ms,
                      (long long)((now - s->started_ms) / 1000));
        first = false;
    }
    strbuf_puts(out, "]}\n");
}
