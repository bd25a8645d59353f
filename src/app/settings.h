/*
 * app/settings.h - the task list's own settings: [app] page_size and
 *   [limits] name_max of conf/tasklist.ini.
 * Owns: struct app_settings, its defaults (APP_SETTINGS_DEFAULT) and bounds.
 * Invariants: plain data, no includes of other layers and nothing to link:
 *   the config loader (server/config.c) composes it into struct cfg without
 *   depending on the app library. Fixed-size fields (copied by value, survives fork).
 * Context: master builds it; workers read it.
 */
#ifndef TASKLIST_APP_SETTINGS_H
#define TASKLIST_APP_SETTINGS_H

struct app_settings {
    unsigned page_size;     /* tasks per page of GET / and the JSON list, 1..APP_PAGE_SIZE_MAX */
    unsigned name_max;      /* task name length in characters ([limits] name_max), > 0 */
};

#define APP_SETTINGS_DEFAULT { .page_size = 50, .name_max = 200 }
#define APP_PAGE_SIZE_MAX 1000

#endif
