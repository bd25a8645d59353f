/*
 * help.h - `tasklist help [COMMAND]` and the usage lines.
 * Owns: the text of every command's help (what man/tasklist.1 expands on).
 * Context: the one-shot command process.
 */
#ifndef TASKLIST_HELP_H
#define TASKLIST_HELP_H

#include <stdbool.h>
#include <stdio.h>

/* The synopsis of every command (for usage errors and plain `help`). */
void help_usage(FILE *out);

/* The help of one command ("serve", "db", "cache", "check-config", "help",
 * "version") to out; false (nothing printed) for an unknown command. */
bool help_command(const char *cmd, FILE *out);

#endif
