/*
 * server/paths.h - where the installed data and config live, found at run time.
 * Owns: the install layout as the binary sees it (data folder with templates,
 *   static files and migrations; the config folder).
 * Invariants: only the install layout is compiled in (prefix-relative
 *   datadir, sysconfdir), never a path of the build machine.
 * Context: any process; results are computed once and cached.
 */
#ifndef TASKLIST_SERVER_PATHS_H
#define TASKLIST_SERVER_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/* The data folder (".../share/tasklist"): the one next to the running
 * binary (bindir/../share/tasklist, so a tree copied or installed with
 * DESTDIR still finds its own data), else the prefix's. Cannot fail. */
const char *paths_datadir(void);

/* The config folder ("/etc/tasklist" for prefix /usr). Cannot fail. */
const char *paths_sysconfdir(void);

/* The default of a data sub-folder ("templates", "migrations", "static"):
 * NAME in the working directory when it is a folder there (a checkout),
 * else datadir/NAME. Writes it into out (truncated to cap, always NUL
 * terminated); returns false when it did not fit. */
bool paths_data_default(const char *name, char *out, size_t cap);

#endif
