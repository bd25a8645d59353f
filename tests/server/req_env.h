/*
 * tests/server/req_env.h - "NAME=VALUE" strings -> the FastCGI params a
 *   worker hands req_parse (what fcgi_read_request decodes off the wire),
 *   for the request tests and the request fuzzer.
 */
#ifndef TL_TESTS_REQ_ENV_H
#define TL_TESTS_REQ_ENV_H

#include <string.h>

#include "server/request.h"

/* envp: NULL-terminated; a string without '=' is skipped. The pairs live in a. */
static inline const struct req_kvs *req_env(struct arena *a, char *const *envp)
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    struct req_kvs *kvs = arena_calloc(a, 1, sizeof *kvs);
    struct req_kv *v = arena_alloc(a, (n ? n : 1) * sizeof *v);
    if (!kvs || !v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(envp[i], '=');
        if (!eq)
            continue;
        v[kvs->n++] = (struct req_kv){ { envp[i], (size_t)(eq - envp[i]) },
                                       { eq + 1, strlen(eq + 1) } };
    }
    kvs->v = v;
    return kvs;
}

#endif
