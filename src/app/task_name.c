/*
 * app/task_name.c - what a task name may be (app_task_name_check of internal.h).
 * Owns: the rules and their messages. A name is refused when it holds a
 *   control character (C0 with TAB, CR and LF, DEL, C1 with U+0085) or a bidi
 *   embedding/override/isolate (U+202A..U+202E, U+2066..U+2069: they make a
 *   name display as something else, "abc<U+202E>gnp.exe" shows as
 *   "abcexe.png"), or when nothing visible is left once Unicode spaces and
 *   format characters (zero-width ones among them) are taken out.
 * Invariants: pure; the input is valid UTF-8 (the request parser refused
 *   anything else), a malformed byte is still refused here, not trusted.
 * Context: worker only (and tests).
 */
#include "internal.h"

#include "../base/utf8.h"

static const char *const app_name_messages[APP_NAME__MAX] = {
    [APP_NAME_OK] = NULL,
    [APP_NAME_EMPTY] = "Task name is required.",
    [APP_NAME_INVISIBLE] = "Task name must contain visible characters, not only spaces or "
                           "invisible characters.",
    [APP_NAME_CONTROL] = "Task name must not contain control characters (tabs, line breaks and "
                         "the like).",
    [APP_NAME_BIDI] = "Task name must not contain bidirectional override or isolate characters "
                      "(U+202A to U+202E, U+2066 to U+2069).",
    [APP_NAME_BAD_UTF8] = "Task name is not valid UTF-8.",
    [APP_NAME_TOO_LONG] = "Task name is too long.",
};

enum app_name_verdict app_task_name_check(struct str name, unsigned max_chars)
{
    size_t chars = 0, pos = 0;
    bool visible = false, only_ascii_spaces = true;
    while (pos < name.len) {
        int32_t cp = utf8_next(name, &pos);
        chars++;
        if (cp < 0)
            return APP_NAME_BAD_UTF8;
        if (utf8_is_control(cp))
            return APP_NAME_CONTROL;
        if (utf8_is_bidi_control(cp))
            return APP_NAME_BIDI;
        if (cp != ' ')
            only_ascii_spaces = false;
        if (!utf8_is_space(cp) && !utf8_is_format(cp))
            visible = true;
    }
    if (!visible)
        return only_ascii_spaces ? APP_NAME_EMPTY : APP_NAME_INVISIBLE;
    if (max_chars && chars > max_chars)
        return APP_NAME_TOO_LONG;
    return APP_NAME_OK;
}

const char *app_task_name_message(enum app_name_verdict v)
{
    return v < APP_NAME__MAX ? app_name_messages[v] : NULL;
}
