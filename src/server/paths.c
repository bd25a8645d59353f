/*
 * server/paths.c - where the installed data and config live, found at run time.
 * Owns: TL_DATADIR / TL_SYSCONFDIR (from the install prefix, set by
 *   meson.build) and TL_DATADIR_FROM_BINDIR (datadir relative to bindir,
 *   "" when either is absolute), and the lookup of the binary's own folder.
 * Invariants: nothing of the build machine is compiled in; the binary's
 *   folder comes from /proc/self/exe, so an installed tree works wherever it
 *   was copied (a DESTDIR, a relocated prefix) as long as its layout holds.
 * Context: any process; the first call computes, later calls read a static
 *   buffer (called before fork, or once per process: no locking).
 */
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TL_DATADIR
#define TL_DATADIR "/usr/local/share/tasklist"
#endif
#ifndef TL_SYSCONFDIR
#define TL_SYSCONFDIR "/usr/local/etc/tasklist"
#endif
#ifndef TL_DATADIR_FROM_BINDIR
#define TL_DATADIR_FROM_BINDIR "../share/tasklist"
#endif

static bool paths_is_dir(const char *p);
static bool paths_next_to_binary(char *out, size_t cap);

const char *paths_datadir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    if (!paths_next_to_binary(dir, sizeof dir))
        snprintf(dir, sizeof dir, "%s", TL_DATADIR);
    return dir;
}

const char *paths_sysconfdir(void)
{
    return TL_SYSCONFDIR;
}

bool paths_data_default(const char *name, char *out, size_t cap)
{
    int n = paths_is_dir(name) ? snprintf(out, cap, "%s", name)
                               : snprintf(out, cap, "%s/%s", paths_datadir(), name);
    return n >= 0 && (size_t)n < cap;
}

/* ---- helpers ---- */

static bool paths_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dirname(/proc/self/exe)/TL_DATADIR_FROM_BINDIR when that folder exists
 * (canonical, without ".."); false otherwise (no /proc, layout not
 * relative, a build-tree binary with nothing installed next to it). */
static bool paths_next_to_binary(char *out, size_t cap)
{
    char exe[PATH_MAX], cand[PATH_MAX + 64], real[PATH_MAX];
    if (TL_DATADIR_FROM_BINDIR[0] == '\0')
        return false;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(cand, sizeof cand, "%s/%s", exe, TL_DATADIR_FROM_BINDIR);
    if (!paths_is_dir(cand) || !realpath(cand, real) || strlen(real) >= cap)
        return false;
    memcpy(out, real, strlen(real) + 1);
    return true;
}
