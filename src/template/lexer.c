/*
 * template/lexer.c - template source to tokens, with Jinja2's whitespace rules.
 * Owns: newline normalization, text/tag splitting, {# comments #}, {% raw %},
 *   whitespace control ({%- -%} {{- -}} {#- -#}) and expression tokens.
 * Invariants: matches Jinja2's default lexer settings (trim_blocks, lstrip_blocks
 *   and keep_trailing_newline all off); "-" strips Python whitespace (Unicode
 *   too); inside open brackets an end tag is not recognized, as in Jinja2.
 * Context: master, at load time; tokens live in the set's arena.
 */
#include "internal.h"

#include "../base/utf8.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct tpl_lexer {
    const char *name;
    struct str src;
    size_t pos;
    unsigned line, col;
    struct arena *a;
    struct tpl_tokens *out;
    struct tl_diag *d;
    char brackets[TPL_NEST_MAX];
    size_t n_brackets;
};

static bool tpl_lx_push(struct tpl_lexer *lx, enum tpl_tok type, unsigned line, unsigned col,
                    struct str s, long long i);
static void tpl_lx_advance(struct tpl_lexer *lx, size_t n);
static bool tpl_lx_fail(struct tpl_lexer *lx, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool tpl_lx_text(struct tpl_lexer *lx);
static bool tpl_lx_tag(struct tpl_lexer *lx, bool is_block);
static bool tpl_lx_raw(struct tpl_lexer *lx, size_t raw_end);
static size_t tpl_lx_match_raw_tag(struct str s, size_t at, const char *word, bool *strip_before,
                               bool *strip_after);
static bool tpl_lx_string(struct tpl_lexer *lx);
static bool tpl_lx_number(struct tpl_lexer *lx);
static bool tpl_lx_operator(struct tpl_lexer *lx);
static void tpl_lx_skip_space(struct tpl_lexer *lx);

struct str tpl_normalize_source(struct arena *a, struct str src)
{
    char *p = arena_alloc(a, src.len + 1);
    if (!p)
        return STR_NULL;
    size_t n = 0;
    for (size_t i = 0; i < src.len; i++) {
        if (src.p[i] == '\r') {
            p[n++] = '\n';
            if (i + 1 < src.len && src.p[i + 1] == '\n')
                i++;
        } else {
            p[n++] = src.p[i];
        }
    }
    if (n && p[n - 1] == '\n')
        n--;
    p[n] = '\0';
    return (struct str){ p, n };
}

bool tpl_lex(const char *name, struct str src, struct arena *a, struct tpl_tokens *out,
             struct tl_diag *d)
{
    struct tpl_lexer lx = { .name = name, .src = src, .line = 1, .col = 1, .a = a, .out = out,
                            .d = d };
    while (lx.pos < src.len) {
        if (!tpl_lx_text(&lx))
            return false;
    }
    return tpl_lx_push(&lx, TK_EOF, lx.line, lx.col, STR_NULL, 0);
}

/* Text up to the next tag, then the tag itself. */
static bool tpl_lx_text(struct tpl_lexer *lx)
{
    struct str s = lx->src;
    size_t k = lx->pos;
    while (k + 1 < s.len && !(s.p[k] == '{' && (s.p[k + 1] == '{' || s.p[k + 1] == '%' ||
                                                 s.p[k + 1] == '#')))
        k++;
    if (k + 1 >= s.len)
        k = s.len;
    size_t end = k;
    bool strip = k + 2 < s.len && s.p[k + 2] == '-';
    size_t raw_end = 0;
    bool raw_strip = false, dummy;
    if (k < s.len && s.p[k + 1] == '%') {
        raw_end = tpl_lx_match_raw_tag(s, k, "raw", &raw_strip, &dummy);
        if (raw_end)
            strip = raw_strip;
    }
    if (strip) {
        size_t n;
        while (end > lx->pos && tpl_is_space_before(s, end, &n))
            end -= n;
    }
    if (end > lx->pos &&
        !tpl_lx_push(lx, TK_TEXT, lx->line, lx->col, (struct str){ s.p + lx->pos, end - lx->pos }, 0))
        return false;
    tpl_lx_advance(lx, k - lx->pos);
    if (k >= s.len)
        return true;
    if (raw_end)
        return tpl_lx_raw(lx, raw_end);
    char kind = s.p[k + 1];
    if (kind == '#') {
        unsigned line = lx->line, col = lx->col;
        size_t j = k + 2 + (k + 2 < s.len && (s.p[k + 2] == '-' || s.p[k + 2] == '+'));
        while (j + 1 < s.len && !(s.p[j] == '#' && s.p[j + 1] == '}'))
            j++;
        if (j + 1 >= s.len)
            return tpl_lx_fail(lx, line, col, "unclosed comment, expected \"#}\"");
        size_t body = k + 2 + (s.p[k + 2] == '-' || s.p[k + 2] == '+');
        bool strip_after = j > body && s.p[j - 1] == '-';
        tpl_lx_advance(lx, j + 2 - k);
        if (strip_after)
            tpl_lx_skip_space(lx);
        return true;
    }
    return tpl_lx_tag(lx, kind == '%');
}

/* {{ ... }} or {% ... %}: the begin token, expression tokens, the end token. */
static bool tpl_lx_tag(struct tpl_lexer *lx, bool is_block)
{
    struct str s = lx->src;
    if (!tpl_lx_push(lx, is_block ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, lx->line, lx->col, STR_NULL, 0))
        return false;
    tpl_lx_advance(lx, 2);
    if (lx->pos < s.len && (s.p[lx->pos] == '-' || s.p[lx->pos] == '+'))
        tpl_lx_advance(lx, 1);
    lx->n_brackets = 0;
    char close = is_block ? '%' : '}';
    for (;;) {
        tpl_lx_skip_space(lx);
        if (lx->pos >= s.len)
            return tpl_lx_push(lx, TK_EOF, lx->line, lx->col, STR_NULL, 0);
        const char *p = s.p + lx->pos;
        size_t left = s.len - lx->pos;
        if (lx->n_brackets == 0) {
            size_t m = 0;
            bool strip = false;
            if (left >= 2 && p[0] == close && p[1] == '}')
                m = 2;
            else if (left >= 3 && (p[0] == '-' || (is_block && p[0] == '+')) && p[1] == close &&
                     p[2] == '}')
                m = 3, strip = p[0] == '-';
            if (m) {
                if (!tpl_lx_push(lx, is_block ? TK_BLOCK_END : TK_VAR_END, lx->line, lx->col,
                             STR_NULL, 0))
                    return false;
                tpl_lx_advance(lx, m);
                if (strip)
                    tpl_lx_skip_space(lx);
                return true;
            }
        }
        char c = p[0];
        bool ok;
        if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t n = 1;
            while (n < left && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') ||
                                (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9')))
                n++;
            ok = tpl_lx_push(lx, TK_NAME, lx->line, lx->col, (struct str){ p, n }, 0);
            tpl_lx_advance(lx, n);
        } else if (c == '\'' || c == '"') {
            ok = tpl_lx_string(lx);
        } else if (c >= '0' && c <= '9') {
            ok = tpl_lx_number(lx);
        } else {
            ok = tpl_lx_operator(lx);
        }
        if (!ok)
            return false;
    }
}

/* {% raw %}...{% endraw %} as one text token; raw_end is just past the begin tag. */
static bool tpl_lx_raw(struct tpl_lexer *lx, size_t raw_end)
{
    struct str s = lx->src;
    unsigned line = lx->line, col = lx->col;
    bool strip_before = false, strip_after = false;
    tpl_lx_advance(lx, raw_end - lx->pos);
    if (raw_end >= 3 && s.p[raw_end - 3] == '-')
        tpl_lx_skip_space(lx);
    size_t start = lx->pos, k = start, end = 0;
    for (; k + 1 < s.len; k++) {
        if (s.p[k] == '{' && s.p[k + 1] == '%' &&
            (end = tpl_lx_match_raw_tag(s, k, "endraw", &strip_before, &strip_after)))
            break;
    }
    if (!end)
        return tpl_lx_fail(lx, line, col, "missing end of raw directive, expected \"{%% endraw %%}\"");
    size_t text_end = k, n;
    if (strip_before)
        while (text_end > start && tpl_is_space_before(s, text_end, &n))
            text_end -= n;
    if (text_end > start &&
        !tpl_lx_push(lx, TK_TEXT, lx->line, lx->col, (struct str){ s.p + start, text_end - start }, 0))
        return false;
    tpl_lx_advance(lx, end - lx->pos);
    if (strip_after)
        tpl_lx_skip_space(lx);
    return true;
}

/* Length-aware match of "{%[-+]? \s* word \s* [-+]?%}" at s[at]; returns the
 * offset just past it, or 0. */
static size_t tpl_lx_match_raw_tag(struct str s, size_t at, const char *word, bool *strip_before,
                               bool *strip_after)
{
    size_t i = at + 2, n, wl = strlen(word);
    *strip_before = *strip_after = false;
    if (i < s.len && (s.p[i] == '-' || s.p[i] == '+'))
        *strip_before = s.p[i++] == '-';
    while (i < s.len && tpl_is_space_at(s, i, &n))
        i += n;
    if (s.len - i < wl || memcmp(s.p + i, word, wl) != 0)
        return 0;
    i += wl;
    while (i < s.len && tpl_is_space_at(s, i, &n))
        i += n;
    if (i < s.len && (s.p[i] == '-' || s.p[i] == '+'))
        *strip_after = s.p[i++] == '-';
    if (i + 1 < s.len && s.p[i] == '%' && s.p[i + 1] == '}')
        return i + 2;
    return 0;
}

static bool tpl_lx_string(struct tpl_lexer *lx)
{
    struct str s = lx->src;
    unsigned line = lx->line, col = lx->col;
    char q = s.p[lx->pos];
    size_t i = lx->pos + 1;
    while (i < s.len && s.p[i] != q) {
        if (s.p[i] == '\\' && i + 1 < s.len)
            i++;
        i++;
    }
    if (i >= s.len)
        return tpl_lx_fail(lx, line, col, "unterminated string literal");
    size_t raw_len = i - lx->pos - 1;
    const char *raw = s.p + lx->pos + 1;
    char *buf = arena_alloc(lx->a, raw_len + 1);
    if (!buf)
        return tpl_lx_fail(lx, line, col, "out of memory");
    size_t n = 0;
    for (size_t j = 0; j < raw_len; j++) {
        char c = raw[j];
        if (c != '\\' || j + 1 >= raw_len) {
            buf[n++] = c;
            continue;
        }
        char e = raw[++j];
        unsigned long cp;
        int digits = 0;
        switch (e) {
        case '\n': continue;
        case '\\': buf[n++] = '\\'; continue;
        case '\'': buf[n++] = '\''; continue;
        case '"': buf[n++] = '"'; continue;
        case 'a': buf[n++] = '\a'; continue;
        case 'b': buf[n++] = '\b'; continue;
        case 'f': buf[n++] = '\f'; continue;
        case 'n': buf[n++] = '\n'; continue;
        case 'r': buf[n++] = '\r'; continue;
        case 't': buf[n++] = '\t'; continue;
        case 'v': buf[n++] = '\v'; continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                cp = (unsigned long)(e - '0');
                for (int k = 0; k < 2 && j + 1 < raw_len && raw[j + 1] >= '0' && raw[j + 1] <= '7'; k++)
                    cp = cp * 8 + (unsigned long)(raw[++j] - '0');
                n += utf8_encode((int32_t)cp, buf + n);
                continue;
            }
            buf[n++] = '\\';
            buf[n++] = e;
            continue;
        }
        cp = 0;
        for (int k = 0; k < digits; k++) {
            char h = j + 1 < raw_len ? raw[++j] : 0;
            int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (v < 0)
                return tpl_lx_fail(lx, line, col, "invalid \\%c escape in string literal", e);
            cp = cp * 16 + (unsigned long)v;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return tpl_lx_fail(lx, line, col, "invalid \\%c escape in string literal", e);
        /* An escape never encodes longer than its source text (\x41 is 4 bytes
         * for 1, \U0001F600 is 10 for 4), so buf has room. */
        n += utf8_encode((int32_t)cp, buf + n);
    }
    buf[n] = '\0';
    bool ok = tpl_lx_push(lx, TK_STRING, line, col, (struct str){ buf, n }, 0);
    tpl_lx_advance(lx, raw_len + 2);
    return ok;
}

/* Integers: 123, 1_000, 0x1f, 0o17, 0b101. Float literals are refused. */
static bool tpl_lx_number(struct tpl_lexer *lx)
{
    struct str s = lx->src;
    const char *p = s.p + lx->pos;
    size_t left = s.len - lx->pos, n = 0;
    unsigned base = 10;
    if (left > 2 && p[0] == '0' && strchr("xXoObB", p[1]) && p[1]) {
        base = (p[1] | 0x20) == 'x' ? 16 : (p[1] | 0x20) == 'o' ? 8 : 2;
        n = 2;
    }
    unsigned long long v = 0;
    bool overflow = false, any = false;
    for (; n < left; n++) {
        char c = p[n];
        int dv = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f'
                 ? (c | 0x20) - 'a' + 10 : -1;
        if (c == '_' && n + 1 < left && any)
            continue;
        if (dv < 0 || (unsigned)dv >= base)
            break;
        any = true;
        if (v > (unsigned long long)INT64_MAX / base)
            overflow = true;
        v = v * base + (unsigned)dv;
        if (v > (unsigned long long)INT64_MAX)
            overflow = true;
    }
    if (!any)
        return tpl_lx_fail(lx, lx->line, lx->col, "invalid number literal");
    if (base == 10 && p[0] == '0' && v != 0)
        return tpl_lx_fail(lx, lx->line, lx->col,
                       "leading zeros in decimal integer literals are not permitted");
    if (base == 10 && n < left &&
        ((p[n] == '.' && n + 1 < left && p[n + 1] >= '0' && p[n + 1] <= '9') ||
         (p[n] | 0x20) == 'e'))
        return tpl_lx_fail(lx, lx->line, lx->col, "float literals are not supported");
    if (overflow)
        return tpl_lx_fail(lx, lx->line, lx->col, "integer literal too large");
    bool ok = tpl_lx_push(lx, TK_INT, lx->line, lx->col, (struct str){ p, n }, (long long)v);
    tpl_lx_advance(lx, n);
    return ok;
}

static bool tpl_lx_operator(struct tpl_lexer *lx)
{
    static const struct { const char *op; enum tpl_tok tok; } ops[] = {
        { "//", TK_FLOORDIV }, { "**", TK_POW }, { "==", TK_EQ }, { "!=", TK_NE },
        { "<=", TK_LE }, { ">=", TK_GE }, { "+", TK_ADD }, { "-", TK_SUB }, { "/", TK_DIV },
        { "*", TK_MUL }, { "%", TK_MOD }, { "~", TK_TILDE }, { "[", TK_LBRACKET },
        { "]", TK_RBRACKET }, { "(", TK_LPAREN }, { ")", TK_RPAREN }, { "{", TK_LBRACE },
        { "}", TK_RBRACE }, { "<", TK_LT }, { ">", TK_GT }, { "=", TK_ASSIGN }, { ".", TK_DOT },
        { ":", TK_COLON }, { "|", TK_PIPE }, { ",", TK_COMMA },
    };
    const char *p = lx->src.p + lx->pos;
    size_t left = lx->src.len - lx->pos;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].op);
        if (left < n || memcmp(p, ops[i].op, n) != 0)
            continue;
        char c = p[0];
        if (c == '(' || c == '[' || c == '{') {
            if (lx->n_brackets >= TPL_NEST_MAX)
                return tpl_lx_fail(lx, lx->line, lx->col, "brackets nested too deeply");
            lx->brackets[lx->n_brackets++] = c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (c == ')' || c == ']' || c == '}') {
            if (lx->n_brackets == 0)
                return tpl_lx_fail(lx, lx->line, lx->col, "unexpected \"%c\"", c);
            char want = lx->brackets[--lx->n_brackets];
            if (want != c)
                return tpl_lx_fail(lx, lx->line, lx->col, "unexpected \"%c\", expected \"%c\"", c,
                               want);
        }
        bool ok = tpl_lx_push(lx, ops[i].tok, lx->line, lx->col, (struct str){ p, n }, 0);
        tpl_lx_advance(lx, n);
        return ok;
    }
    if ((unsigned char)p[0] < 0x20 || (unsigned char)p[0] >= 0x7f)
        return tpl_lx_fail(lx, lx->line, lx->col, "unexpected character 0x%02x",
                       (unsigned char)p[0]);
    return tpl_lx_fail(lx, lx->line, lx->col, "unexpected character \"%c\"", p[0]);
}

static void tpl_lx_skip_space(struct tpl_lexer *lx)
{
    size_t n;
    while (lx->pos < lx->src.len && tpl_is_space_at(lx->src, lx->pos, &n))
        tpl_lx_advance(lx, n);
}

static void tpl_lx_advance(struct tpl_lexer *lx, size_t n)
{
    for (size_t i = 0; i < n && lx->pos < lx->src.len; i++) {
        unsigned char c = (unsigned char)lx->src.p[lx->pos++];
        if (c == '\n') {
            lx->line++;
            lx->col = 1;
        } else if ((c & 0xC0) != 0x80) {
            lx->col++;
        }
    }
}

static bool tpl_lx_push(struct tpl_lexer *lx, enum tpl_tok type, unsigned line, unsigned col,
                    struct str s, long long i)
{
    struct tpl_tokens *t = lx->out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct tpl_token *v = arena_realloc(lx->a, t->v, t->cap * sizeof *v, cap * sizeof *v);
        if (!v)
            return tpl_lx_fail(lx, line, col, "out of memory");
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (struct tpl_token){ type, line, col, s, i };
    return true;
}

static bool tpl_lx_fail(struct tpl_lexer *lx, unsigned line, unsigned col, const char *fmt, ...)
{
    if (lx->d) {
        char msg[sizeof lx->d->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        tl_diag_set(lx->d, lx->name, line, col, "%s", msg);
    }
    return false;
}
