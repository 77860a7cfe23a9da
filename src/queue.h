/*
 * queue.h - the reconcile work queue: client-go's rate-limiting workqueue in C.
 *
 * Keys are byte strings ("TrainingJob/default/xgboost-mnist"). The contract is
 * client-go's (util/workqueue), which every controller author knows:
 *
 *  - Stingy: a key added while it waits is not queued twice (dirty set); a
 *    key added while it is processed is marked dirty and queued again by
 *    queue_done; a key is never handed out while it is processed.
 *  - Fair: ready keys are handed out in the order they became ready (FIFO).
 *  - Delayed adds: queue_add_after(k, s) adds k once s seconds have passed;
 *    for a key already waiting the earlier deadline wins (waitingForQueue).
 *    s <= 0 adds at once. Waiting keys are not dirty: they dedupe only
 *    against each other, and become a plain queue_add when due.
 *  - Rate limiting: queue_add_rate_limited(k) = add_after(k, when(k)), where
 *    when = max(per-key exponential, overall token bucket), like
 *    DefaultControllerRateLimiter: base_delay * 2^failures capped at
 *    max_delay (each call counts one failure; queue_forget resets it), and a
 *    bucket of `burst` tokens refilled at `qps` (every call takes a token,
 *    as golang.org/x/time/rate's Reserve does). qps = 0 disables the bucket.
 *    Optional jitter (default 0, as client-go): the exponential part is
 *    stretched by a uniform factor in [1, 1 + jitter) so keys that failed
 *    together (throttling) do not retry together; it is applied after the
 *    max_delay cap, so a capped delay still spreads.
 *  - Shutdown: adds are ignored, waiting keys dropped; keys already ready are
 *    still handed out (client-go's Get drains them), then queue_get says no.
 *    Waiting for in-flight work (ShutDownWithDrain) is the caller's: its
 *    workers end when get says shut down.
 *
 * The queue is not driven by a clock of its own: queue_advance moves due
 * keys to the ready list, and queue_next_deadline says when to call it next
 * (the Lua binding arms one libuv timer to it). Time comes from cfg.clock
 * (monotonic seconds) so tests can use a fake one.
 *
 * Cost: add, get, done, forget are O(1) (a hash table of keys; ready and
 * processing lists are intrusive in the key record); delayed adds and
 * advance are O(log n) per key (a binary min-heap of deadlines). One record
 * per key, alive while the key is dirty, processed, waiting or has failures
 * (a limiter entry, kept until queue_forget, as in client-go). The hash table
 * grows and never shrinks.
 *
 * Memory comes from cfg.alloc (lua_Alloc's contract: (ud, ptr, osize, nsize),
 * nsize 0 frees), so the Lua binding charges it to the VM's cap. Functions
 * that allocate return SMOP_ERR when it refuses, and leave the queue as it
 * was.
 *
 * Metrics (client-go's workqueue_* names): depth = dirty keys (ready, or
 * re-added while processed); adds (adds_total) counts keys that became
 * dirty; retries (retries_total) counts add_after and add_rate_limited
 * calls; queue_duration = dirty -> handed out, work_duration = handed out ->
 * done, both as histograms with client-go's buckets (1e-8 .. 10 s, x10);
 * unfinished work and longest running processor are computed on demand.
 *
 * Not thread-safe: one loop thread owns a queue.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct queue queue;

typedef void *(*queue_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);
typedef double (*queue_clock_fn)(void *ud);

typedef struct queue_config {
    double base_delay;     /* seconds, >= 0 (client-go: 0.005) */
    double max_delay;      /* seconds, >= 0 (1000) */
    double qps;            /* token bucket refill per second, >= 0; 0: no bucket (10) */
    double burst;          /* bucket size, >= 1 when qps > 0 (100) */
    double jitter;         /* 0..1 (0) */
    uint64_t seed;         /* for jitter */
    queue_alloc_fn alloc;  /* NULL: realloc/free */
    void *alloc_ud;
    queue_clock_fn clock;  /* NULL: CLOCK_MONOTONIC */
    void *clock_ud;
} queue_config;

#define QUEUE_HIST_BUCKETS 10   /* upper bounds 1e-8 .. 10 seconds; +Inf = count */

typedef struct queue_histogram {
    double sum;
    uint64_t count;
    uint64_t bucket[QUEUE_HIST_BUCKETS];   /* per bucket, not cumulative */
} queue_histogram;

extern const double queue_hist_bounds[QUEUE_HIST_BUCKETS];

typedef struct queue_metrics {
    size_t depth;           /* dirty keys */
    size_t len;             /* ready keys (queue_len) */
    size_t processing;      /* keys handed out, not done */
    size_t waiting;         /* delayed keys */
    size_t keys;            /* records alive (incl. limiter memory) */
    size_t bytes;           /* memory held */
    uint64_t adds;
    uint64_t retries;
    queue_histogram queue_duration;
    queue_histogram work_duration;
    double unfinished_work_seconds;
    double longest_running_processor_seconds;
} queue_metrics;

/* Fills cfg with client-go's defaults (DefaultControllerRateLimiter). */
void queue_config_init(queue_config *cfg);

/* NULL on a bad setting or no memory, with why in err. */
queue *queue_new(const queue_config *cfg, char *err, size_t errlen);
void queue_free(queue *q);

/* SMOP_OK (also when ignored: duplicate, or shutting down) or SMOP_ERR (no memory). */
int queue_add(queue *q, const char *key, size_t len);
int queue_add_after(queue *q, const char *key, size_t len, double seconds);
/* *delay (may be NULL) gets the delay chosen, 0 when shutting down. */
int queue_add_rate_limited(queue *q, const char *key, size_t len, double *delay);

void queue_forget(queue *q, const char *key, size_t len);
unsigned queue_num_requeues(const queue *q, const char *key, size_t len);

/* Hands out the oldest ready key and marks it processed, or returns NULL if
 * none is ready. The key (NUL-terminated, *len bytes) stays valid until
 * queue_done or queue_unget of it, or queue_free. */
const char *queue_get(queue *q, size_t *len);

/* Ends processing; a key re-added meanwhile is queued again. Returns 1, or 0
 * if the key was not being processed (nothing changes). */
int queue_done(queue *q, const char *key, size_t len);

/* Takes back a key queue_get handed out whose consumer vanished before
 * starting on it: it goes back to the head of the ready list. Returns 1, or 0
 * if the key was not being processed. */
int queue_unget(queue *q, const char *key, size_t len);

void queue_shutdown(queue *q);
int queue_shutting_down(const queue *q);

size_t queue_len(const queue *q);

/* 1 and the earliest deadline (cfg.clock's seconds) if a key waits, else 0. */
int queue_next_deadline(const queue *q, double *at);

/* Adds every waiting key whose deadline has passed, earliest first; returns
 * how many. */
size_t queue_advance(queue *q);

void queue_get_metrics(const queue *q, queue_metrics *m);

/* Checks every internal invariant (hash table, lists, flags, heap, counters);
 * for tests. SMOP_OK, or SMOP_ERR with the first violation in err. */
int queue_check(const queue *q, char *err, size_t errlen);

#endif
