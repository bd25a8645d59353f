/*
 * tests/server/fuzz_request.c - libFuzzer target for req_parse (params +
 *   body), cookies, urlencoded forms, the same-origin and Host checks, and
 *   log_client (what a client's bytes look like in a log line).
 * Input: "NAME=VALUE" lines, then an empty line, then the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "server/request.h"
#include "req_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct arena *a;
    if (!a)
        a = arena_new(0);
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *envp[65];
    size_t n = 0;
    char *p = copy, *body = NULL;
    size_t body_len = 0;
    while (p < copy + size && n < 64) {
        char *nl = memchr(p, '\n', (size_t)(copy + size - p));
        if (nl == p) {
            body = p + 1;
            body_len = (size_t)(copy + size - body);
            break;
        }
        if (nl)
            *nl = '\0';
        envp[n++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    envp[n] = NULL;
    struct req_limits lim = { 4096, 32, 1024 };
    struct req r;
    const char *why;
    if (req_parse(&r, a, req_env(a, envp), body, body_len, &lim, &why) == 0) {
        req_is_cross_origin(&r, NULL);
        req_is_cross_origin(&r, "https://example.com");
        req_is_cross_origin(&r, "https://example.com, http://127.0.0.1:8080");
        req_host_allowed(&r, "https://example.com, http://[::1]:8080");
        req_own_origin(&r, NULL);
        for (size_t i = 0; i < r.cookies.n; i++)   /* foreign cookies are dropped, never kept raw */
            if (!str_is_valid_utf8(r.cookies.v[i].name) || !str_is_valid_utf8(r.cookies.v[i].value))
                abort();
    }
    struct req_kvs kvs;
    req_parse_cookies(a, (struct str){ copy, size }, &kvs);
    /* whatever a client sends, its log form holds no control byte, quote or
     * backslash of its own and stays within LOG_CLIENT_BUF */
    char shown[LOG_CLIENT_BUF];
    log_client((struct str){ copy, size }, shown, sizeof shown);
    for (const char *c = shown; *c; c++) {
        unsigned char b = (unsigned char)*c;
        if (b < 0x20 || b == 0x7f || b == '"' || (b == '\\' && c[1] != 'x'))
            abort();
    }
    arena_reset(a);
    free(copy);
    return 0;
}
