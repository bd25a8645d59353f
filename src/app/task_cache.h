/*
 * app/task_cache.h - the memoized task query and its codecs.
 * Owns: get_task_page (MEMOIZE over task_page: the tutorial's get_all_tasks,
 *   one keyset page at a time), task_list_codec and task_page_codec.
 * Context: worker only.
 */
#ifndef TASKLIST_APP_TASK_CACHE_H
#define TASKLIST_APP_TASK_CACHE_H

#include "../web/cached.h"
#include "task_dao.h"

extern const struct cache_codec task_list_codec;
extern const struct cache_codec task_page_codec;
extern const struct cache_memo_spec get_task_page_memo;

/* What get_task_page's args->ctx points to. */
struct task_page_ctx {
    struct db *db;
    const struct task_page_query *q;
};

/* args->parts: the direction, anchor and limit as text (the key);
 * args->ctx: a struct task_page_ctx. */
enum tl_err get_task_page(struct arena *a, const struct cache_args *args, struct task_page *out);

#endif
