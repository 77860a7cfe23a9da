/*
 * bench_queue.c - how fast the work queue is, and what a key costs.
 *
 * Prints operations per second for each queue operation over N distinct keys
 * shaped like the operator's ("TrainingJob/team-17/xgboost-mnist-000042"),
 * and the memory per key while they are queued: bytes the queue asked for,
 * and bytes malloc really set aside. Figures to watch, never asserted on.
 *
 *   bench_queue [keys]   (default 100000)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue.h"
#include "smop.h"

static size_t usable;    /* malloc's footprint of the queue's blocks */
static double fake_now;  /* deadlines run on a clock we move */

static void *bench_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (ptr)
        usable -= malloc_usable_size(ptr);
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    ptr = realloc(ptr, nsize);
    if (ptr)
        usable += malloc_usable_size(ptr);
    return ptr;
}

static double bench_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static double wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, long n, double secs)
{
    printf("  %-28s %8.2f M ops/s  %7.1f ns/op\n", what, (double)n / secs / 1e6,
           secs / (double)n * 1e9);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_queue: %s failed (out of memory?)\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000, i;
    queue_config cfg;
    queue_metrics m;
    char err[128];
    char (*keys)[48];
    size_t empty_bytes, empty_usable, keylen_sum = 0;
    double t;
    queue *q;

    if (n <= 0 || n > 50000000) {
        fprintf(stderr, "usage: bench_queue [keys, 1..5e7]\n");
        return 2;
    }
    keys = malloc((size_t)n * sizeof *keys);
    if (!keys)
        return fail("key table");
    for (i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "TrainingJob/team-%ld/xgboost-mnist-%06ld", i % 97, i);
        keylen_sum += strlen(keys[i]);
    }
    queue_config_init(&cfg);
    cfg.alloc = bench_alloc;
    cfg.clock = bench_clock;
    q = queue_new(&cfg, err, sizeof err);
    if (!q)
        return fail(err);
    queue_get_metrics(q, &m);
    empty_bytes = m.bytes;
    empty_usable = usable;

    printf("bench_queue: %ld keys, %.1f bytes each on average\n", n, (double)keylen_sum / (double)n);

    t = wall();
    for (i = 0; i < n; i++)
        if (queue_add(q, keys[i], strlen(keys[i])) != SMOP_OK)
            return fail("add");
    report("add (new key)", n, wall() - t);

    queue_get_metrics(q, &m);
    printf("  memory while queued: %.1f bytes/key asked, %.1f bytes/key from malloc\n",
           (double)(m.bytes - empty_bytes) / (double)n,
           (double)(usable - empty_usable) / (double)n);

    t = wall();
    for (i = 0; i < n; i++)
        if (queue_add(q, keys[i], strlen(keys[i])) != SMOP_OK)
            return fail("add");
    report("add (already queued)", n, wall() - t);

    t = wall();
    for (i = 0; i < n; i++) {
        size_t len;
        const char *k = queue_get(q, &len);

        if (!k || queue_done(q, k, len) != 1)
            return fail("get+done");
    }
    report("get + done", n, wall() - t);

    queue_get_metrics(q, &m);
    printf("  after done: %zu records, %.1f bytes/key still held (hash table only)\n",
           m.keys, (double)(m.bytes - empty_bytes) / (double)n);

    srand(1);
    t = wall();
    for (i = 0; i < n; i++)
        if (queue_add_after(q, keys[i], strlen(keys[i]), 1 + rand() % 60000 / 1000.0) != SMOP_OK)
            return fail("add_after");
    report("add_after (random deadline)", n, wall() - t);

    queue_get_metrics(q, &m);
    printf("  memory while delayed: %.1f bytes/key from malloc\n",
           (double)(usable - empty_usable) / (double)n);

    fake_now += 120;
    t = wall();
    if (queue_advance(q) != (size_t)n)
        return fail("advance");
    report("advance (per due key)", n, wall() - t);

    t = wall();
    for (i = 0; i < n; i++) {
        size_t len;
        const char *k = queue_get(q, &len);

        if (!k || queue_done(q, k, len) != 1)
            return fail("get+done");
    }
    report("get + done", n, wall() - t);

    t = wall();
    for (i = 0; i < n; i++)
        if (queue_add_rate_limited(q, keys[i], strlen(keys[i]), NULL) != SMOP_OK)
            return fail("add_rate_limited");
    report("add_rate_limited", n, wall() - t);

    t = wall();
    for (i = 0; i < n; i++)
        queue_forget(q, keys[i], strlen(keys[i]));
    report("forget", n, wall() - t);

    queue_free(q);
    free(keys);
    return 0;
}
