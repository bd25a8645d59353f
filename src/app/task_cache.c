/*
 * app/task_cache.c - the tutorial's query cache, as a memoized function.
 * Owns: get_task_page (MEMOIZE, keyed by its page and the data version),
 *   the task list and page codecs (a plain, validated text format: nothing
 *   read from memcached can execute), and the explicit deletes every write
 *   runs after its commit.
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
static enum tl_err task_page_encode(const void *value, struct strbuf *out);
static enum tl_err task_page_decode(struct str bytes, struct arena *a, void *value);

const struct cache_codec task_list_codec = {
    .name = "task_list", .encode = task_list_encode, .decode = task_list_decode,
};

const struct cache_codec task_page_codec = {
    .name = "task_page", .encode = task_page_encode, .decode = task_page_decode,
};

MEMOIZE(get_task_page, struct task_page, .timeout_s = 300, .codec = &task_page_codec)
{
    const struct task_page_ctx *c = args->ctx;
    return task_page(c->db, c->q, a, out);
}

/* The memo key's parts of page q: its direction, anchor and limit as text
 * (in the caller's buffers, which must outlive parts). The one place that
 * says what a page's key is made of: lookups and deletes both use it. */
struct task_page_key {
    char anchor[24], limit[12];
    struct str parts[3];
};

static void task_page_key_of(const struct task_page_query *q, struct task_page_key *k)
{
    static const char *const dirs[] = { "last", "before", "after" };
    k->parts[0] = str_c(dirs[q->dir]);
    k->parts[1] = (struct str){ k->anchor, (size_t)snprintf(k->anchor, sizeof k->anchor, "%lld",
                                                            q->dir == TASK_PAGE_LAST ? 0 : q->anchor) };
    k->parts[2] = (struct str){ k->limit, (size_t)snprintf(k->limit, sizeof k->limit, "%u", q->limit) };
}

enum tl_err app_task_page(struct req *r, const struct task_page_query *q, struct task_page *out)
{
    struct task_page_key k;
    task_page_key_of(q, &k);
    struct task_page_ctx ctx = { app_worker_of(r)->db, q };
    struct cache_args args = { k.parts, 3, &ctx };
    return get_task_page(r->arena, &args, out);
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
    if (!version_before)
        return;
    /* the landing page: the newest page of the HTML view and of its query */
    struct task_page_query q = { TASK_PAGE_LAST, 0, app_worker_of(r)->cfg->app.page_size };
    struct task_page_key k;
    task_page_key_of(&q, &k);
    struct cache_args args = { k.parts, 3, NULL };
    cache_delete_memoized(&get_task_page_memo, &args, version_before);
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

/* "P1 <has_more 0|1>\n" + the task list encoding. */
static enum tl_err task_page_encode(const void *value, struct strbuf *out)
{
    const struct task_page *p = value;
    strbuf_puts(out, p->has_more ? "P1 1\n" : "P1 0\n");
    return task_list_encode(&p->list, out);
}

static enum tl_err task_page_decode(struct str bytes, struct arena *a, void *value)
{
    struct task_page *p = value;
    if (bytes.len < 5 || memcmp(bytes.p, "P1 ", 3) != 0 || (bytes.p[3] != '0' && bytes.p[3] != '1') ||
        bytes.p[4] != '\n')
        return TL_EPARSE;
    p->has_more = bytes.p[3] == '1';
    return task_list_decode((struct str){ bytes.p + 5, bytes.len - 5 }, a, &p->list);
}
