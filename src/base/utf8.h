/*
 * base/utf8.h - code points out of UTF-8 text, and the few Unicode classes
 *   the server and the app must recognise without ICU.
 * Owns: utf8_next (one code point, or -1 for a malformed byte) and its
 *   lenient form for printers, validation with the position of the first bad
 *   byte (utf8_invalid_at, which str_is_valid_utf8 and the template loader
 *   use), encoding (utf8_encode), code-point counts (utf8_len), and the classes: controls (C0, DEL, C1), Unicode spaces (Zs, plus the line and
 *   paragraph separators), format characters (Cf, zero-width ones among them),
 *   and the bidirectional embedding/override/isolate controls.
 * Invariants: the tables follow Unicode 15.1 (General_Category Zs and Cf);
 *   they are small and sorted, searched linearly (at most ~20 ranges).
 * Context: any process; pure functions.
 */
#ifndef TASKLIST_SERVER_UTF8_H
#define TASKLIST_SERVER_UTF8_H

#include <stdbool.h>
#include <stdint.h>

#include "str.h"

/* The code point at s.p[*pos], advancing *pos past it. A malformed, overlong
 * or surrogate sequence gives -1 and advances one byte; *pos must be < s.len. */
int32_t utf8_next(struct str s, size_t *pos);

/* utf8_next for printers: a malformed byte decodes as itself (its value,
 * U+0080..U+00FF) and advances one byte, so a loop always makes progress
 * and shows every byte. *pos must be < s.len. */
int32_t utf8_next_or_byte(struct str s, size_t *pos);

/* The offset of the first byte of s that starts a malformed, overlong,
 * surrogate or truncated sequence, or is NUL; s.len when s is valid UTF-8
 * without NUL. ASCII runs are scanned 8 bytes at a time (hot path). */
size_t utf8_invalid_at(struct str s);

/* Write the UTF-8 encoding of cp (0..0x10FFFF, not a surrogate: callers
 * check) to out: 1 to 4 bytes, returned. */
size_t utf8_encode(int32_t cp, char *out);

/* Code points in s (bytes that are not continuation bytes): for valid
 * UTF-8, Python's len() of the decoded text. */
size_t utf8_len(struct str s);

/* C0 controls U+0000..U+001F, DEL U+007F and C1 controls U+0080..U+009F. */
bool utf8_is_control(int32_t cp);
/* Spaces a reader cannot see as text: General_Category Zs (U+0020, NBSP,
 * U+3000 ...), U+2028/U+2029, and the Hangul/Braille fillers that render blank. */
bool utf8_is_space(int32_t cp);
/* General_Category Cf: soft hyphen, zero-width (U+200B..U+200D, U+2060,
 * U+FEFF), bidi marks and controls, tags ... */
bool utf8_is_format(int32_t cp);
/* Bidi embeddings/overrides U+202A..U+202E and isolates U+2066..U+2069:
 * they reorder the text around them (the "Trojan Source" characters). */
bool utf8_is_bidi_control(int32_t cp);

#endif
