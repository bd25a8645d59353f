/*
 * cache/client_cli.c - `tasklist cache stats | flush` (stats also show the
 * same-host tiers of running pools).
 * Owns: the per-server counter table (like the MemCachier dashboard) and the
 *   flush command. Exit status: 0 done, 1 a server cannot be reached or
 *   refuses our credentials, 2 usage.
 * Context: one-shot command in the foreground (stdout for results, stderr and
 *   the log for problems).
 */
#include <stdio.h>
#include <string.h>

#include "../server/config.h"
#include "../server/log.h"
#include "client_internal.h"
#include "tier.h"

static int cache_cli_stats(struct cache *cc);
static int cache_cli_flush(struct cache *cc);

int cache_cli(const struct cfg *c, int argc, char **argv)
{
    bool is_stats = argc == 1 && strcmp(argv[0], "stats") == 0;
    bool is_flush = argc == 1 && strcmp(argv[0], "flush") == 0;
    if (!is_stats && !is_flush) {
        fprintf(stderr, "usage: tasklist cache stats | flush\n");
        return 2;
    }
    struct cache *cc = cache_new(c);
    if (!cc) {
        fprintf(stderr, "tasklist cache: out of memory\n");
        return 1;
    }
    int status;
    if (!cache_enabled(cc)) {
        fprintf(stderr, "tasklist cache: no cache servers configured (cache_servers in the ini, or "
                        "MEMCACHIER_SERVERS)\n");
        status = 1;
    } else {
        status = is_stats ? cache_cli_stats(cc) : cache_cli_flush(cc);
    }
    cache_free(cc);
    return status;
}

static int cache_cli_unreachable(bool is_auth_failure)
{
    if (is_auth_failure)
        fprintf(stderr, "tasklist cache: authentication failed (check MEMCACHIER_USERNAME and "
                        "MEMCACHIER_PASSWORD; details in the log)\n");
    else
        fprintf(stderr, "tasklist cache: no cache server answers (details in the log)\n");
    return 1;
}

static int cache_cli_stats(struct cache *cc)
{
    bool is_auth_failure;
    memcached_st *mc = cache_handle_for_cli(cc, &is_auth_failure);
    if (!mc)
        return cache_cli_unreachable(is_auth_failure);
    memcached_return_t rc;
    memcached_stat_st *st = memcached_stat(mc, NULL, &rc);
    if (!st) {
        fprintf(stderr, "tasklist cache: stats failed: %s\n", memcached_last_error_message(mc));
        return 1;
    }
    int status = 0;
    printf("%-28s %12s %12s %12s %12s %12s %14s %10s\n", "server", "get_hits", "get_misses", "cmd_get",
           "cmd_set", "curr_items", "bytes", "evictions");
    uint32_t n = memcached_server_count(mc);
    for (uint32_t i = 0; i < n; i++) {
        const memcached_instance_st *inst = memcached_server_instance_by_position(mc, i);
        char name[300];
        snprintf(name, sizeof name, "%s:%u", memcached_server_name(inst),
                 (unsigned)memcached_server_port(inst));
        if (memcached_server_major_version(inst) == UINT8_MAX || st[i].pid <= 0 || !st[i].version[0]) {
            /* No VERSION answer at the check, or no pid/version in the stats:
             * memcached always reports both, so this server did not answer. */
            printf("%-28s %s\n", name, "unreachable");
            fprintf(stderr, "tasklist cache: %s does not answer: %s\n", name, memcached_server_error(inst));
            status = 1;
            continue;
        }
        printf("%-28s %12llu %12llu %12llu %12llu %12lu %14llu %10llu\n", name, st[i].get_hits,
               st[i].get_misses, st[i].cmd_get, st[i].cmd_set, st[i].curr_items, st[i].bytes,
               st[i].evictions);
    }
    memcached_stat_free(mc, st);
    /* the same-host tiers of the pools running on this host (same user or root) */
    if (tier_print_running(stdout) == 0)
        printf("same-host tier: no running pool's segment found (none running, another user's, or off)\n");
    return status;
}

static int cache_cli_flush(struct cache *cc)
{
    bool is_auth_failure;
    if (!cache_handle_for_cli(cc, &is_auth_failure))
        return cache_cli_unreachable(is_auth_failure);
    uint64_t before = cache_stats_of(cc)->errors;
    enum tl_err e = cache_flush(cc);
    if (e != TL_OK || cache_stats_of(cc)->errors != before) {
        fprintf(stderr, "tasklist cache: flush failed (%s; details in the log)\n", tl_strerror(e));
        return 1;
    }
    printf("cache flushed: generation bumped and every server emptied\n");
    return 0;
}
