/*
 * cli/db_cmd.c - `tasklist db upgrade [VERSION] | downgrade [VERSION] |
 *   current | history`: the command-line front-end of db/migrate.h.
 * Owns: argument checking, messages and exit statuses (0 ok, 1 failure,
 *   2 usage). Uses only the public db and migrate API.
 * Context: one-shot command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../db/db.h"
#include "../db/migrate.h"
#include "cli.h"

static int migrate_cli_usage(void);
static bool migrate_cli_version(const char *s, unsigned *out);
static int migrate_cli_fail(const struct tl_diag *d, enum tl_err e);
static int migrate_cli_history(struct db *db, const char *dir, unsigned cur);

int cli_db(const struct db_settings *s, const char *mig_dir, int argc, char **argv)
{
    if (argc < 1 || argc > 2)
        return migrate_cli_usage();
    const char *verb = argv[0];
    bool takes_version = !strcmp(verb, "upgrade") || !strcmp(verb, "downgrade");
    if (!takes_version && strcmp(verb, "current") && strcmp(verb, "history"))
        return migrate_cli_usage();
    unsigned v = 0;
    bool has_v = argc == 2;
    if (has_v && (!takes_version || !migrate_cli_version(argv[1], &v)))
        return migrate_cli_usage();
    if (has_v && v == 0 && !strcmp(verb, "upgrade")) {
        fputs("tasklist db: upgrade to version 0 means nothing; use downgrade 0\n", stderr);
        return 2;
    }

    struct tl_diag d = { 0 };
    struct db *db = db_open(s->url, s->timeout_ms, &d);
    if (!db)
        return migrate_cli_fail(&d, TL_EPARSE);
    int rc = 1;
    unsigned before, after, latest;
    enum tl_err e = migrate_latest(mig_dir, &latest, &d);
    if (e == TL_OK && (e = migrate_current(db, &before)) != TL_OK)
        tl_diag_set(&d, NULL, 0, 0, "cannot read the schema version of %s: %s", db_label(db),
                    db_last_error(db)[0] ? db_last_error(db) : tl_strerror(e));
    if (e != TL_OK) {
        rc = migrate_cli_fail(&d, e);
    } else if (!strcmp(verb, "current")) {
        printf("%u%s\n", before, before == latest ? " (latest)" : before < latest ? " (upgrade pending)"
                                                                                  : " (newer than this code)");
        rc = before > latest ? 1 : 0;
    } else if (!strcmp(verb, "history")) {
        rc = migrate_cli_history(db, mig_dir, before);
    } else if (!strcmp(verb, "upgrade")) {
        if ((e = migrate_upgrade(db, mig_dir, v, &d)) != TL_OK || (e = migrate_current(db, &after)) != TL_OK) {
            rc = migrate_cli_fail(&d, e);
        } else {
            rc = 0;
            if (after == before)
                printf("%s is already at version %u%s\n", db_label(db), after,
                       after == latest ? " (latest)" : "");
            else
                printf("upgraded %s from %u to %u\n", db_label(db), before, after);
        }
    } else {    /* downgrade: one step unless told */
        if (!has_v)
            v = before ? before - 1 : 0;
        if ((e = migrate_downgrade(db, mig_dir, v, &d)) != TL_OK ||
            (e = migrate_current(db, &after)) != TL_OK) {
            rc = migrate_cli_fail(&d, e);
        } else {
            rc = 0;
            if (after == before)
                printf("%s is already at version %u\n", db_label(db), after);
            else
                printf("downgraded %s from %u to %u\n", db_label(db), before, after);
        }
    }
    db_close(db);
    return rc;
}

static int migrate_cli_history(struct db *db, const char *dir, unsigned cur)
{
    struct migrate_entry *list;
    size_t n;
    unsigned latest;
    struct tl_diag d = { 0 };
    enum tl_err e = migrate_history(db, dir, &list, &n, &latest, &d);
    if (e != TL_OK)
        return migrate_cli_fail(&d, e);
    printf("%-8s %-32s %s\n", "version", "name", "state");
    for (size_t i = 0; i < n; i++) {
        const struct migrate_entry *m = &list[i];
        if (m->applied)
            printf("%-8u %-32s applied %s%s\n", m->version, m->name, m->applied_at,
                   m->known ? "" : " (unknown to this code)");
        else
            printf("%-8u %-32s pending\n", m->version, m->name);
    }
    printf("current %u, latest %u\n", cur, latest);
    free(list);
    return cur > latest ? 1 : 0;
}

static int migrate_cli_usage(void)
{
    fputs("usage: tasklist db upgrade [VERSION] | downgrade [VERSION] | current | history\n", stderr);
    return 2;
}

static bool migrate_cli_version(const char *s, unsigned *out)
{
    unsigned long v = 0;
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6)
        return false;
    v = strtoul(s, NULL, 10);
    *out = (unsigned)v;
    return true;
}

static int migrate_cli_fail(const struct tl_diag *d, enum tl_err e)
{
    char buf[1024];
    tl_diag_format(d, buf, sizeof buf);
    fprintf(stderr, "tasklist db: %s\n", buf[0] ? buf : tl_strerror(e));
    return 1;
}
