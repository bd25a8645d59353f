/*
 * tests/template/cases_file.c - reading tests/template/cases (see cases_file.h).
 * Format: a line "@@ <directive> [argument]" starts a section; the section's
 * text is every line up to the next "@@" line, minus the last newline. Lines
 * "@@#..." are comments. Directives: case NAME, template NAME, render NAME,
 * context, flashes, cache, expect, error (argument: "name:line:col fragment"),
 * calls, jinja-line N (only read by jinja_ref.py).
 */
#include "cases_file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len);
static bool conv(json_t *j, struct arena *a, struct tpl_value *out);

long tc_read(const char *path, struct arena *a, struct tc_case **out)
{
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    size_t cap = 256, n = 0;
    struct tc_case *cases = arena_calloc(a, cap, sizeof *cases);
    struct tc_case *c = NULL;
    const char **section = NULL;
    size_t sec_start = 0;
    unsigned lineno = 0;
    for (size_t pos = 0;;) {
        if (pos > len)
            pos = len;
        size_t eol = pos;
        while (eol < len && text[eol] != '\n')
            eol++;
        lineno++;
        bool directive = eol - pos >= 2 && text[pos] == '@' && text[pos + 1] == '@';
        if ((directive || pos >= len) && section) {
            size_t end = pos;
            if (end > sec_start && text[end - 1] == '\n')
                end--;  /* the newline ending the section's last line */
            *section = arena_strndup(a, text + sec_start, end > sec_start ? end - sec_start : 0);
            section = NULL;
        }
        if (pos >= len)
            break;
        if (directive && text[pos + 2] != '#') {
            char *line = arena_strndup(a, text + pos + 3 > text + eol ? text + eol : text + pos + 3,
                                       eol > pos + 3 ? eol - pos - 3 : 0);
            char *arg = strchr(line, ' ');
            if (arg)
                *arg++ = '\0';
            sec_start = eol < len ? eol + 1 : len;
            if (strcmp(line, "case") == 0) {
                if (n == cap) {
                    cases = arena_realloc(a, cases, cap * sizeof *cases, 2 * cap * sizeof *cases);
                    memset(cases + cap, 0, cap * sizeof *cases);
                    cap *= 2;
                }
                c = &cases[n++];
                c->name = arg ? arg : "";
                c->line = lineno;
            } else if (!c) {
                fprintf(stderr, "%s:%u: directive before the first case\n", path, lineno);
                free(text);
                return -1;
            } else if (strcmp(line, "template") == 0 && c->n_templates < TC_TEMPLATES_MAX && arg) {
                c->tnames[c->n_templates] = arg;
                section = &c->tsources[c->n_templates++];
            } else if (strcmp(line, "render") == 0 && arg) {
                c->render = arg;
            } else if (strcmp(line, "context") == 0) {
                section = &c->context;
            } else if (strcmp(line, "flashes") == 0) {
                section = &c->flashes;
            } else if (strcmp(line, "cache") == 0) {
                section = &c->cache;
            } else if (strcmp(line, "expect") == 0) {
                section = &c->expect;
            } else if (strcmp(line, "calls") == 0) {
                section = &c->calls;
            } else if (strcmp(line, "error") == 0 && arg) {
                c->error = arg;
            } else if (strcmp(line, "jinja-line") == 0) {
                /* for jinja_ref.py only */
            } else {
                fprintf(stderr, "%s:%u: unknown directive \"%s\"\n", path, lineno, line);
                free(text);
                return -1;
            }
        }
        pos = eol + 1;
    }
    free(text);
    *out = cases;
    return (long)n;
}

bool tc_json_value(const char *json, struct arena *a, struct tpl_value *out)
{
    json_error_t err;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &err);
    if (!j) {
        fprintf(stderr, "bad JSON (line %d): %s\n", err.line, err.text);
        return false;
    }
    bool ok = conv(j, a, out);
    json_decref(j);
    return ok;
}

static bool conv(json_t *j, struct arena *a, struct tpl_value *out)
{
    switch (json_typeof(j)) {
    case JSON_NULL: *out = tpl_none(); return true;
    case JSON_TRUE: *out = tpl_bool(true); return true;
    case JSON_FALSE: *out = tpl_bool(false); return true;
    case JSON_INTEGER: *out = tpl_int(json_integer_value(j)); return true;
    case JSON_STRING: {
        size_t n = json_string_length(j);
        *out = tpl_str((struct str){ arena_strndup(a, json_string_value(j), n), n });
        return true;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        struct tpl_value *items = arena_calloc(a, n ? n : 1, sizeof *items);
        for (size_t i = 0; i < n; i++)
            if (!conv(json_array_get(j, i), a, &items[i]))
                return false;
        *out = tpl_list(items, n);
        return true;
    }
    case JSON_OBJECT: {
        json_t *safe = json_object_get(j, "__safe__");
        if (safe && json_is_string(safe) && json_object_size(j) == 1) {
            size_t n = json_string_length(safe);
            *out = tpl_safe((struct str){ arena_strndup(a, json_string_value(safe), n), n });
            return true;
        }
        size_t n = json_object_size(j), i = 0;
        struct tpl_kv *kv = arena_calloc(a, n ? n : 1, sizeof *kv);
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            kv[i].key = (struct str){ arena_strdup(a, key), strlen(key) };
            if (!conv(v, a, &kv[i++].value))
                return false;
        }
        *out = tpl_map(kv, n);
        return true;
    }
    default:
        fprintf(stderr, "JSON reals are not part of the value model\n");
        return false;
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}
