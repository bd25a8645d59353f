/*
 * app/app.h - the task list application as the server sees it.
 * Owns: the srv_app hooks (template loading in the master, per-worker
 *   db/cache/session setup, before/after hooks) and the route table.
 * Context: master (load) and workers (everything else).
 */
#ifndef TASKLIST_APP_APP_H
#define TASKLIST_APP_APP_H

#include "../server/server.h"

extern const struct srv_app app_tasklist;

#endif
