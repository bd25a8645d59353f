/*
 * help.c - `tasklist help [COMMAND]` and the usage lines.
 * Owns: the per-command help table. man/tasklist.1 documents the same
 *   commands and flags at length; tests/package/test_man.sh checks that every
 *   command and flag here is in the man page.
 * Context: the one-shot command process.
 */
#include "help.h"

#include <string.h>

struct help_entry {
    const char *name;
    const char *text;
};

static const struct help_entry help_entries[] = {
    { "serve",
      "usage: tasklist serve [--config FILE] [--listen ADDR] [--workers N] [--templates DIR]\n"
      "Run the preforked FastCGI worker pool until TERM/INT (graceful stop).\n"
      "  --config FILE     the ini file (default: conf/tasklist.ini in the working directory,\n"
      "                    else the installed tasklist.ini)\n"
      "  --listen ADDR     unix:PATH, HOST:PORT or [IPV6]:PORT ([server] listen)\n"
      "  --workers N       worker processes, 0 = one per CPU ([server] workers)\n"
      "  --templates DIR   template folder ([server] templates)\n"
      "Signals: TERM/INT/QUIT stop, HUP reloads config and templates, USR1 reopens the log.\n" },
    { "db",
      "usage: tasklist db upgrade [VERSION] | downgrade [VERSION] | current | history\n"
      "                   [--config FILE] [--migrations DIR]\n"
      "Migrate the database named by DATABASE_URL / [database] url.\n"
      "  upgrade [VERSION]    apply pending migrations (up to VERSION)\n"
      "  downgrade [VERSION]  undo migrations (down to VERSION, default one step)\n"
      "  current              the database's version and whether it is the latest\n"
      "  history              every version: applied (with time) or pending\n"
      "  --migrations DIR     migration folder (default: migrations/ in the working\n"
      "                       directory, else the installed ones)\n" },
    { "cache",
      "usage: tasklist cache stats | flush [--config FILE]\n"
      "  stats   each memcached server's counters (hits, misses, items, bytes, evictions)\n"
      "  flush   bump the cache generation and flush every server\n" },
    { "check-config",
      "usage: tasklist check-config [--config FILE]\n"
      "Print the effective configuration (secrets masked) after the ini, .env, the\n"
      "environment and flags; errors name file:line and exit with status 2.\n" },
    { "help", "usage: tasklist help [COMMAND]\nThis help, or one command's.\n" },
    { "version", "usage: tasklist --version\nPrint the version.\n" },
};

void help_usage(FILE *out)
{
    fputs("usage: tasklist serve [--config FILE] [--listen unix:PATH|HOST:PORT|[::1]:PORT]\n"
          "                      [--workers N] [--templates DIR]\n"
          "       tasklist db upgrade [VERSION] | downgrade [VERSION] | current | history\n"
          "                      [--config FILE] [--migrations DIR]\n"
          "       tasklist cache stats | flush [--config FILE]\n"
          "       tasklist check-config [--config FILE]\n"
          "       tasklist help [COMMAND] | --version\n",
          out);
}

bool help_command(const char *cmd, FILE *out)
{
    for (size_t i = 0; i < sizeof help_entries / sizeof *help_entries; i++) {
        if (strcmp(help_entries[i].name, cmd) == 0) {
            fputs(help_entries[i].text, out);
            return true;
        }
    }
    return false;
}
