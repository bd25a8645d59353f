/*
 * bench/bench_causal.c - what a causal read costs on Galera: the data
 *   version read (SELECT version FROM data_version) through db_query and
 *   through db_query_causal (wsrep_sync_wait = 1 for that statement), on
 *   one connection, alternating in blocks so both see the same load.
 * usage: bench_causal URL [N]   (N reads of each kind, default 2000)
 * Prints the mean and p50/p99 in microseconds of each kind. A figure, not
 *   a test: run it against scripts/run-cluster.sh's nodes, idle and while
 *   something writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db/db.h"

static const char bench_sql[] = "SELECT version FROM data_version WHERE name = 'task'";

static int bench_row(void *arg, const struct db_val *cols, size_t n_cols)
{
    (void)arg; (void)cols; (void)n_cols;
    return 1;
}

static double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_report(const char *what, double *us, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += us[i];
    qsort(us, (size_t)n, sizeof *us, bench_cmp);
    printf("%-28s mean %7.1f us   p50 %7.1f us   p99 %7.1f us\n", what, sum / n, us[n / 2],
           us[n * 99 / 100]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_causal URL [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (n < 100)
        n = 100;
    struct tl_diag d = { 0 };
    struct db *db = db_open(argv[1], 1000, &d);
    double *plain = calloc((size_t)n, sizeof *plain), *causal = calloc((size_t)n, sizeof *causal);
    if (!db || !plain || !causal) {
        fprintf(stderr, "bench_causal: %s\n", db ? "out of memory" : d.msg);
        return 1;
    }
    /* the first read on a new connection is causal anyway: get it done */
    if (db_query(db, bench_sql, NULL, 0, bench_row, NULL) != TL_OK) {
        fprintf(stderr, "bench_causal: cannot read the version (is the schema upgraded?)\n");
        return 1;
    }
    for (int i = 0; i < n; i += 50) {
        for (int j = i; j < i + 50 && j < n; j++) {
            double t0 = bench_now_us();
            enum tl_err e = db_query(db, bench_sql, NULL, 0, bench_row, NULL);
            plain[j] = bench_now_us() - t0;
            t0 = bench_now_us();
            enum tl_err e2 = db_query_causal(db, bench_sql, NULL, 0, bench_row, NULL);
            causal[j] = bench_now_us() - t0;
            if (e != TL_OK || e2 != TL_OK) {
                fprintf(stderr, "bench_causal: %s / %s\n", tl_strerror(e), tl_strerror(e2));
                return 1;
            }
        }
    }
    bench_report("version read", plain, n);
    bench_report("causal version read", causal, n);
    db_close(db);
    free(plain);
    free(causal);
    return 0;
}
