/*
 * tests/template/fuzz_template.c - libFuzzer target for the template engine:
 *   lexer, parser, linker and renderer.
 * Input: up to four templates separated by NUL bytes, named a.html, b.txt,
 *   c.html, d.html (so extends/include between them resolve). Each compiled set
 *   is rendered from every template with a fixed context and all hooks set;
 *   the fragment cache answers a hit for every other key.
 * Inputs naming range or using "*" are skipped: range(100000) nested in
 *   itself is a legal, merely slow template, and templates are trusted code;
 *   everything else must finish quickly and cleanly under ASan+UBSan.
 * Built with -fsanitize=fuzzer when -Dfuzz=true (clang); fuzz_main.c replays
 *   the corpus in ordinary builds (test template_fuzz_corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum tl_err fz_url_for(void *ctx, struct str endpoint, const struct tpl_kv *kw, size_t n,
                              struct strbuf *out)
{
    (void)ctx;
    if (endpoint.len == 0)
        return TL_ENOTFOUND;
    strbuf_putc(out, '/');
    strbuf_append_str(out, endpoint);
    for (size_t i = 0; i < n; i++) {
        strbuf_putc(out, i ? '&' : '?');
        strbuf_append_str(out, kw[i].key);
    }
    return TL_OK;
}

static struct tpl_value fz_flashes(void *ctx, bool with_categories)
{
    static struct tpl_value msgs[2], pairs[2][2], with[2];
    (void)ctx;
    msgs[0] = tpl_str(STR("saved"));
    msgs[1] = tpl_str(STR("<b>bold</b> & co"));
    if (!with_categories)
        return tpl_list(msgs, 2);
    for (size_t i = 0; i < 2; i++) {
        pairs[i][0] = tpl_str(i ? STR("error") : STR("success"));
        pairs[i][1] = msgs[i];
        with[i] = tpl_list(pairs[i], 2);
    }
    return tpl_list(with, 2);
}

static enum tl_err fz_get_multi(void *ctx, const struct str *keys, size_t n, struct arena *a,
                                struct str *values, bool *found)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        found[i] = keys[i].len % 2 == 0;
        if (found[i]) {
            char *p = arena_printf(a, "<hit %zu>", keys[i].len);
            values[i] = str_c(p);
        }
    }
    return TL_OK;
}

static void fz_store(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a)
{
    (void)ctx;
    (void)frags;
    (void)n;
    (void)a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "a.html", "b.txt", "c.html", "d.html" };
    if (size > 8192 || memmem(data, size, "range", 5) || memchr(data, '*', size))
        return 0;
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *sources[4];
    size_t n = 0;
    for (char *p = copy; n < 4;) {
        sources[n++] = p;
        size_t len = strlen(p);
        if (p + len >= copy + size)
            break;
        p += len + 1;
    }
    struct tl_diag d;
    struct tpl_set *set = tpl_set_from_strings(names, sources, n, &d);
    if (set) {
        struct arena *a = arena_new(0);
        struct tpl_kv task_kv[2][2] = {
            { { STR("id"), tpl_int(1) }, { STR("name"), tpl_str(STR("Buy <milk>")) } },
            { { STR("id"), tpl_int(2) }, { STR("name"), tpl_str(STR("Walk 'dog' & \"cat\"")) } },
        };
        struct tpl_value tasks[2] = { tpl_map(task_kv[0], 2), tpl_map(task_kv[1], 2) };
        struct tpl_kv vars_kv[] = {
            { STR("tasks"), tpl_list(tasks, 2) },
            { STR("name"), tpl_str(STR("W\xc3\xb6rld <x>")) },
            { STR("n"), tpl_int(-3) },
            { STR("flag"), tpl_bool(true) },
            { STR("nothing"), tpl_none() },
            { STR("html"), tpl_safe(STR("<i>ok</i>")) },
        };
        struct tpl_value vars = tpl_map(vars_kv, sizeof vars_kv / sizeof vars_kv[0]);
        struct tpl_hooks hooks = { .url_for = fz_url_for, .flashed_messages = fz_flashes,
                                   .frags = { .get_multi = fz_get_multi, .store = fz_store } };
        for (size_t i = 0; i < n && a; i++) {
            struct strbuf out;
            strbuf_init(&out, a, 256);
            tpl_render(set, names[i], &vars, &hooks, a, &out, &d);
            tpl_render(set, names[i], NULL, NULL, a, &out, &d);
            arena_reset(a);
        }
        arena_free(a);
        tpl_set_free(set);
    }
    free(copy);
    return 0;
}
