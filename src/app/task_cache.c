/*
 * app/task_cache.c - the tutorial's query cache, as a memoized function.
 * Owns: get_all_tasks (MEMOIZE, keyed by the data version), the task list
 *   codec (a plain, validated text format: nothing read from memcached can
 *   execute), and the explicit deletes every write runs after its commit.
 * Context: worker only.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../cache/client.h"
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

uint64_t app_tasks_will_change(struct req *r)
{
    uint64_t v = 0;
    if (!cache_enabled(app_worker_of(r)->cache) || cache_data_version(r->arena, &v) != TL_OK)
        return 0;
    return v;
}

/* The tutorial's deletes, of the version the write replaced. They are not
 * what keeps pages correct (the write moved the version: nothing will ask
 * for these keys again); they free the memory now rather than at expiry.
 * A deleted task's fragment is keyed by its row version and simply ages
 * out (a reused id would have a new version, so it can never be shown). */
void app_tasks_changed(struct req *r, uint64_t version_before)
{
    (void)r;
    if (!version_before)
        return;
    cache_delete_memoized(&get_all_tasks_memo, NULL, version_before);
    cache_delete_view(STR("/"), version_before);
}

/* "T2 <n>\n" then per task "<id> <rev> <name length>\n<name>\n". */
static enum tl_err task_list_encode(const void *value, struct strbuf *out)
{
    const struct task_list *tl = value;
    strbuf_puts(out, "T2 ");
    strbuf_put_int(out, (long long)tl->n);
    strbuf_putc(out, '\n');
    for (size_t i = 0; i < tl->n; i++) {   /* no printf: 1,000 rows are on a hot path */
        strbuf_put_int(out, tl->items[i].id);
        strbuf_putc(out, ' ');
        strbuf_put_int(out, (long long)tl->items[i].rev);
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
    /* canonical only ("07" is refused): what decodes re-encodes to the same bytes */
    if (!digits || s >= lim || *s != end || (digits > 1 && **p == '0'))
        return false;
    *out = v;
    *p = s + 1;
    return true;
}

static enum tl_err task_list_decode(struct str bytes, struct arena *a, void *value)
{
    struct task_list *tl = value;
    const char *p = bytes.p, *lim = bytes.p + bytes.len;
    unsigned long long n, id, rev, len;
    if (bytes.len < 3 || memcmp(p, "T2 ", 3) != 0)
        return TL_EPARSE;
    p += 3;
    if (!task_codec_number(&p, lim, '\n', TASK_CODEC_MAX_TASKS, &n) || n > bytes.len / 6)
        return TL_EPARSE;
    tl->items = arena_alloc(a, (n ? n : 1) * sizeof *tl->items);
    if (!tl->items)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!task_codec_number(&p, lim, ' ', (unsigned long long)INT64_MAX, &id) || id == 0 ||
            !task_codec_number(&p, lim, ' ', (unsigned long long)INT64_MAX, &rev) ||
            !task_codec_number(&p, lim, '\n', bytes.len, &len) || (size_t)(lim - p) < len + 1 ||
            p[len] != '\n')
            return TL_EPARSE;
        struct str name = { p, len };
        if (!str_is_valid_utf8(name))
            return TL_EPARSE;
        tl->items[i].id = (long long)id;
        tl->items[i].rev = rev;
        tl->items[i].name = name;   /* points into the arena copy of the value */
        p += len + 1;
    }
    if (p != lim)
        return TL_EPARSE;
    tl->n = n;
    return TL_OK;
}
