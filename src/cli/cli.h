/*
 * cli/cli.h - the command-line front-ends of the tasklist command that are
 *   not the server: `tasklist db ...` and `tasklist cache ...` (main.c
 *   dispatches to them). They use only the layers' public headers.
 * Context: one-shot commands.
 */
#ifndef TASKLIST_CLI_CLI_H
#define TASKLIST_CLI_CLI_H

struct cache_settings;
struct db_settings;

/* `tasklist db upgrade [V] | downgrade [V] | current | history`: argv[0] is
 * the verb. Uses the database of s and the migrations in mig_dir. Returns
 * the process exit status (0 ok, 1 failure, 2 usage). */
int cli_db(const struct db_settings *s, const char *mig_dir, int argc, char **argv);

/* `tasklist cache stats | flush`: argv[0] is the verb. Prints per-server
 * get_hits, get_misses, cmd_get, cmd_set, curr_items, bytes, evictions and
 * the running pools' same-host tiers (a client made from s). Returns the exit status. */
int cli_cache(const struct cache_settings *s, int argc, char **argv);

#endif
