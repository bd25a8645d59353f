/*
 * tests/app/fuzz_cache_entries.c - libFuzzer target for what the app reads
 * back from memcached (anyone who can write to it controls these bytes): the
 * view entry (cache_view_entry_decode) and the memoized task list
 * (task_list_codec) and page (task_page_codec). The first input byte picks
 * the decoder; the rest is the
 * value. Besides "no crash, no sanitizer report" it asserts that whatever
 * decodes lies inside the input and re-encodes to exactly the same bytes
 * (so nothing is read past the value, whatever its lengths claim).
 * Built only when meson's `fuzzing` is true (clang, -Dfuzz=true).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/task_cache.h"
#include "web/cached.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_inside(struct str part, struct str whole)
{
    return part.len == 0 || (part.p >= whole.p && part.p + part.len <= whole.p + whole.len);
}

static void fuzz_view_entry(struct arena *a, struct str in)
{
    struct cache_view_entry e;
    if (cache_view_entry_decode(in, &e) != TL_OK)
        return;
    if (!fuzz_inside(e.content_type, in) || !fuzz_inside(e.headers, in) || !fuzz_inside(e.etag, in) ||
        !fuzz_inside(e.body, in))
        abort();
    struct strbuf sb;
    strbuf_init(&sb, a, in.len + 64);
    cache_view_entry_encode(&e, &sb);
    if (sb.oom || !str_eq(strbuf_str(&sb), in))
        abort();
}

static void fuzz_task_list(struct arena *a, struct str in)
{
    struct task_list tl;
    if (task_list_codec.decode(in, a, &tl) != TL_OK)
        return;
    struct strbuf sb;
    strbuf_init(&sb, a, in.len + 64);
    if (task_list_codec.encode(&tl, &sb) != TL_OK || !str_eq(strbuf_str(&sb), in))
        abort();
}

static void fuzz_task_page(struct arena *a, struct str in)
{
    struct task_page p;
    if (task_page_codec.decode(in, a, &p) != TL_OK)
        return;
    struct strbuf sb;
    strbuf_init(&sb, a, in.len + 64);
    if (task_page_codec.encode(&p, &sb) != TL_OK || !str_eq(strbuf_str(&sb), in))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct arena *a;
    if (!a && !(a = arena_new(0)))
        abort();
    if (size < 1)
        return 0;
    /* a copy of its own, so a read past the value is a heap overflow ASan sees */
    char *copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    struct str in = { copy, size - 1 };
    switch (data[0] % 3) {
    case 0: fuzz_view_entry(a, in); break;
    case 1: fuzz_task_list(a, in); break;
    default: fuzz_task_page(a, in); break;
    }
    free(copy);
    arena_reset(a);
    return 0;
}
