/*
 * cli/cache_cmd.c - `tasklist cache stats | flush`: the command-line front-end
 *   of the cache client (cache/client.h) and the same-host tier (tier.h).
 * Owns: the per-server counter table (like the MemCachier dashboard), the
 *   tiers of running pools, and the flush command. Exit status: 0 done, 1 a
 *   server cannot be reached or refuses our credentials, 2 usage. Uses only
 *   the public cache API.
 * Context: one-shot command in the foreground (stdout for results, stderr and
 *   the log for problems).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/client.h"
#include "../cache/tier.h"
#include "cli.h"

static int cache_cli_stats(struct cache *cc);
static int cache_cli_flush(struct cache *cc);

int cli_cache(const struct cache_settings *s, int argc, char **argv)
{
    bool is_stats = argc == 1 && strcmp(argv[0], "stats") == 0;
    bool is_flush = argc == 1 && strcmp(argv[0], "flush") == 0;
    if (!is_stats && !is_flush) {
        fprintf(stderr, "usage: tasklist cache stats | flush\n");
        return 2;
    }
    struct cache *cc = cache_new(s);
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
    struct cache_server_stat *list;
    size_t n;
    enum tl_err e = cache_server_stats(cc, &list, &n);
    if (e == TL_EUNAVAIL)
        return cache_cli_unreachable(cache_auth_failed(cc));
    if (e != TL_OK) {
        fprintf(stderr, "tasklist cache: stats failed: %s (details in the log)\n", tl_strerror(e));
        return 1;
    }
    int status = 0;
    printf("%-28s %12s %12s %12s %12s %12s %14s %10s\n", "server", "get_hits", "get_misses", "cmd_get",
           "cmd_set", "curr_items", "bytes", "evictions");
    for (size_t i = 0; i < n; i++) {
        const struct cache_server_stat *s = &list[i];
        if (!s->answered) {
            printf("%-28s %s\n", s->name, "unreachable");
            fprintf(stderr, "tasklist cache: %s does not answer: %s\n", s->name, s->error);
            status = 1;
            continue;
        }
        printf("%-28s %12llu %12llu %12llu %12llu %12llu %14llu %10llu\n", s->name, s->get_hits,
               s->get_misses, s->cmd_get, s->cmd_set, s->curr_items, s->bytes, s->evictions);
    }
    free(list);
    /* the same-host tiers of the pools running on this host (same user or root) */
    if (tier_print_running(stdout) == 0)
        printf("same-host tier: no running pool's segment found (none running, another user's, or off)\n");
    return status;
}

static int cache_cli_flush(struct cache *cc)
{
    uint64_t before = cache_stats_of(cc)->errors;
    enum tl_err e = cache_flush(cc);
    if (e == TL_EUNAVAIL && (cache_auth_failed(cc) || cache_stats_of(cc)->errors != before))
        return cache_cli_unreachable(cache_auth_failed(cc));
    if (e != TL_OK || cache_stats_of(cc)->errors != before) {
        fprintf(stderr, "tasklist cache: flush failed (%s; details in the log)\n", tl_strerror(e));
        return 1;
    }
    printf("cache flushed: every server emptied\n");
    return 0;
}
