/*
 * app/task_cache.c - the tutorial's query cache, as a memoized function.
 * Owns: get_all_tasks (MEMOIZE), the task list codec (a plain, validated
 *   text format: nothing read from memcached can execute), and the
 *   invalidation every write runs after its commit.
 * Context: worker only.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../cache/fragment.h"
#include "internal.h"
#include "task_cache.h"

#define TASK_CODEC_MAX_TASKS 1000000

static enum tl_err task_list_encode(const void *value, struct strbuf *out);
static enum tl_err task_list_decode(struct str bytes, struct arena *a, void *value);

const struct cache_codec task_list_codec = {
    .name = "task_list", .encode = task_list_encode, .decode = task_list_decode,
};

MEMOIZE(get_all_tasks, struct task_list, .timeout_s = 300, .codec = &task_list_codec)
{
    return task_all((struct db *)args->ctx, a, out);
}

enum tl_err app_all_tasks(struct req *r, struct task_list *out)
{
    struct cache_args args = { .ctx = app_worker_of(r)->db };
    return get_all_tasks(r->arena, &args, out);
}

/* After a committed write: the generation first (it alone makes every view
 * and memoized entry stale, even one a concurrent GET stores later), then
 * the tutorial's explicit deletes, then the deleted task's fragment. */
void app_tasks_changed(struct req *r, long long deleted_id)
{
    cache_invalidate_all();
    cache_delete_memoized(&get_all_tasks_memo, NULL);
    cache_delete_view(STR("/"));
    if (deleted_id > 0) {
        char id[24];
        int n = snprintf(id, sizeof id, "%lld", deleted_id);
        struct str vary = { id, (size_t)n };
        frag_delete(frag_key(r->arena, STR("task-fragment"), &vary, 1));
    }
}

/* "T1 <n>\n" then per task "<id> <name length>\n<name>\n". */
static enum tl_err task_list_encode(const void *value, struct strbuf *out)
{
    const struct task_list *tl = value;
    strbuf_puts(out, "T1 ");
    strbuf_put_int(out, (long long)tl->n);
    strbuf_putc(out, '\n');
    for (size_t i = 0; i < tl->n; i++) {   /* no printf: 1,000 rows are on a hot path */
        strbuf_put_int(out, tl->items[i].id);
        strbuf_putc(out, ' ');
        strbuf_put_int(out, (long long)tl->items[i].name.len);
        strbuf_putc(out, '\n');
        strbuf_append_str(out, tl->items[i].name);
        strbuf_putc(out, '\n');
    }
    return out->oom ? TL_ENOMEM : TL_OK;
}

/* Read a decimal number ending at `end` char; advances *p. */
static bool task_codec_number(const char **p, const char *lim, char end, unsigned long long max,
                              unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    size_t digits = 0;
    while (s < lim && *s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned long long)(*s - '0');
        if (++digits > 19 || v > max)
            return false;
        s++;
    }
    if (!digits || s >= lim || *s != end)
        return false;
    *out = v;
    *p = s + 1;
    return true;
}

static enum tl_err task_list_decode(struct str bytes, struct arena *a, void *value)
{
    struct task_list *tl = value;
    const char *p = bytes.p, *lim = bytes.p + bytes.len;
    unsigned long long n, id, len;
    if (bytes.len < 3 || memcmp(p, "T1 ", 3) != 0)
        return TL_EPARSE;
    p += 3;
    if (!task_codec_number(&p, lim, '\n', TASK_CODEC_MAX_TASKS, &n) || n > bytes.len / 4)
        return TL_EPARSE;
    tl->items = arena_alloc(a, (n ? n : 1) * sizeof *tl->items);
    if (!tl->items)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!task_codec_number(&p, lim, ' ', (unsigned long long)INT64_MAX, &id) || id == 0 ||
            !task_codec_number(&p, lim, '\n', bytes.len, &len) || (size_t)(lim - p) < len + 1 ||
            p[len] != '\n')
            return TL_EPARSE;
        struct str name = { p, len };
        if (!str_is_valid_utf8(name))
            return TL_EPARSE;
        tl->items[i].id = (long long)id;
        tl->items[i].name = name;   /* points into the arena copy of the value */
        p += len + 1;
    }
    if (p != lim)
        return TL_EPARSE;
    tl->n = n;
    return TL_OK;
}
