/*
 * app/task_cache.h - the memoized task query and its codec.
 * Owns: get_all_tasks (MEMOIZE over task_all) and task_list_codec.
 * Context: worker only.
 */
#ifndef TASKLIST_APP_TASK_CACHE_H
#define TASKLIST_APP_TASK_CACHE_H

#include "../cache/cached.h"
#include "task_dao.h"

extern const struct cache_codec task_list_codec;
extern const struct cache_memo_spec get_all_tasks_memo;

/* args->ctx is the struct db *; no key parts. */
enum tl_err get_all_tasks(struct arena *a, const struct cache_args *args, struct task_list *out);

#endif
