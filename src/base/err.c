/*
 * base/err.c - text for enum tl_err, generated from the same X-macro as the enum.
 */
#include "err.h"

static const char *const tl_err_text[TL_ERR__MAX] = {
#define TL_ERR_TEXT(name, text) [name] = text,
    TL_ERR_LIST(TL_ERR_TEXT)
#undef TL_ERR_TEXT
};

const char *tl_strerror(enum tl_err e)
{
    if ((unsigned)e >= TL_ERR__MAX)
        return "unknown error";
    return tl_err_text[e];
}

#include <stdarg.h>
#include <stdio.h>

void tl_diag_set(struct tl_diag *d, const char *file, unsigned line, unsigned col,
                 const char *fmt, ...)
{
    if (!d)
        return;
    snprintf(d->file, sizeof d->file, "%s", file ? file : "");
    d->line = line;
    d->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
}

void tl_diag_format(const struct tl_diag *d, char *buf, unsigned long buf_len)
{
    if (d->file[0] && d->line && d->col)
        snprintf(buf, buf_len, "%s:%u:%u: %s", d->file, d->line, d->col, d->msg);
    else if (d->file[0] && d->line)
        snprintf(buf, buf_len, "%s:%u: %s", d->file, d->line, d->msg);
    else if (d->file[0])
        snprintf(buf, buf_len, "%s: %s", d->file, d->msg);
    else
        snprintf(buf, buf_len, "%s", d->msg);
}
