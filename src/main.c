/*
 * main.c - the `tasklist` command: serve | db | cache | check-config | help | --version.
 * Owns: command-line parsing and the config precedence chain's last step
 *   (flags over defaults < ini < .env < environment), kept so that SIGHUP
 *   can rebuild the same config.
 * Context: the process started by the user, systemd or spawn-fcgi.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "help.h"
#include "cli/cli.h"
#include "server/config.h"
#include "base/log.h"
#include "server/paths.h"
#include "server/server.h"

#ifndef TL_VERSION
#define TL_VERSION "unknown"
#endif

/* Flags given on the command line, re-applied on every reload. */
struct main_flags {
    const char *config;
    const char *listen;
    const char *workers;
    const char *templates;
    const char *migrations;
};

static struct main_flags main_flags;

/* Take the known --flags out of argv (keeping the rest in order); returns
 * the new argc or -1 on a flag without its value. */
static int main_take_flags(int argc, char **argv)
{
    static const struct { const char *name; size_t off; } known[] = {
        { "--config", offsetof(struct main_flags, config) },
        { "--listen", offsetof(struct main_flags, listen) },
        { "--workers", offsetof(struct main_flags, workers) },
        { "--templates", offsetof(struct main_flags, templates) },
        { "--migrations", offsetof(struct main_flags, migrations) },
    };
    int out = 0;
    for (int i = 0; i < argc; i++) {
        size_t k;
        for (k = 0; k < sizeof known / sizeof *known; k++) {
            size_t n = strlen(known[k].name);
            if (strncmp(argv[i], known[k].name, n) != 0)
                continue;
            const char *v;
            if (argv[i][n] == '=')
                v = argv[i] + n + 1;
            else if (argv[i][n] == '\0' && i + 1 < argc)
                v = argv[++i];
            else if (argv[i][n] == '\0')
                return -1;
            else
                continue;
            *(const char **)((char *)&main_flags + known[k].off) = v;
            break;
        }
        if (k == sizeof known / sizeof *known)
            argv[out++] = argv[i];
    }
    return out;
}

/* srv_config_loader: the whole precedence chain, flags last. */
static enum tl_err main_load_config(struct cfg *c, struct tl_diag *d, void *arg)
{
    (void)arg;
    enum tl_err e = cfg_build(c, main_flags.config, d);
    if (e != TL_OK)
        return e;
    if (main_flags.listen && (e = cfg_set(c, "server", "listen", main_flags.listen, d)) != TL_OK)
        return e;
    if (main_flags.workers && (e = cfg_set(c, "server", "workers", main_flags.workers, d)) != TL_OK)
        return e;
    if (main_flags.templates &&
        (e = cfg_set(c, "server", "templates", main_flags.templates, d)) != TL_OK)
        return e;
    return TL_OK;
}

static int main_config_error(const struct tl_diag *d)
{
    char buf[1024];
    tl_diag_format(d, buf, sizeof buf);
    fprintf(stderr, "tasklist: %s\n", buf);
    return 2;
}

/* --migrations, else migrations/ in the working directory (a checkout),
 * else the installed ones. */
static const char *main_migrations_dir(void)
{
    static char dir[CFG_PATH_MAX];
    if (main_flags.migrations)
        return main_flags.migrations;
    if (!paths_data_default("migrations", dir, sizeof dir))
        return "migrations";
    return dir;
}

/* `tasklist help [COMMAND]`: 0, or 2 for an unknown command. */
static int main_help(int argc, char **argv)
{
    if (argc < 3) {
        help_usage(stdout);
        fputs("Run \"tasklist help COMMAND\" for one command; man tasklist for everything.\n",
              stdout);
        return 0;
    }
    if (help_command(argv[2], stdout))
        return 0;
    fprintf(stderr, "tasklist: no help for \"%s\"\n", argv[2]);
    help_usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
        return main_help(argc, argv);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
        printf("tasklist %s\n", TL_VERSION);
        return 0;
    }
    int rest = main_take_flags(argc - 2, argv + 2);
    if (rest < 0) {
        fprintf(stderr, "tasklist: a flag is missing its value\n");
        help_usage(stderr);
        return 2;
    }
    char **args = argv + 2;

    struct cfg c;
    struct tl_diag d = { 0 };
    if (main_load_config(&c, &d, NULL) != TL_OK)
        return main_config_error(&d);

    if (!strcmp(cmd, "check-config")) {
        if (cfg_validate(&c, &d) != TL_OK)
            return main_config_error(&d);
        cfg_print(&c, stdout);
        return 0;
    }
    if (!strcmp(cmd, "serve")) {
        if (rest != 0) {
            help_usage(stderr);
            return 2;
        }
        if (cfg_validate(&c, &d) != TL_OK)
            return main_config_error(&d);
        return srv_serve(&c, &app_tasklist, main_load_config, NULL);
    }
    if (!strcmp(cmd, "db"))
        return cli_db(&c.db, main_migrations_dir(), rest, args);
    if (!strcmp(cmd, "cache"))
        return cli_cache(&c.cache, rest, args);
    fprintf(stderr, "tasklist: unknown command \"%s\"\n", cmd);
    help_usage(stderr);
    return 2;
}
