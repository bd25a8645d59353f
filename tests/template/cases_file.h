/*
 * tests/template/cases_file.h - reader for tests/template/cases, shared by the
 *   case runner and the benchmark-free tests.
 * Owns: the case file format (documented in tests/template/cases itself) and
 *   the JSON -> tpl_value conversion (jansson), all in one arena.
 * Context: tests only.
 */
#ifndef TASKLIST_TESTS_TEMPLATE_CASES_FILE_H
#define TASKLIST_TESTS_TEMPLATE_CASES_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "template/template.h"

#define TC_TEMPLATES_MAX 8

struct tc_case {
    const char *name;
    unsigned line;                       /* of "@@ case" in the file */
    const char *tnames[TC_TEMPLATES_MAX];
    const char *tsources[TC_TEMPLATES_MAX];
    size_t n_templates;
    const char *render;                  /* template to render (default: the first) */
    const char *context;                 /* JSON object or NULL */
    const char *flashes;                 /* JSON list or NULL */
    const char *cache;                   /* JSON object of preset fragments or NULL */
    const char *expect;                  /* expected output, or NULL when error is set */
    const char *error;                   /* "name:line:col fragment" */
    const char *calls;                   /* expected fragment-cache call log or NULL */
};

/* Parse the whole file; cases and their strings live in a. Returns the
 * number of cases, or -1 with a message on stderr. */
long tc_read(const char *path, struct arena *a, struct tc_case **out);

/* JSON text to a value in a ({"__safe__": "x"} is TPL_SAFE "x"). false on a
 * JSON error (message on stderr). */
bool tc_json_value(const char *json, struct arena *a, struct tpl_value *out);

#endif
