/*
 * queue.c - the work queue's data structures: one record per key in a
 * chained hash table, linked into the ready or the processing list, and
 * indexed from a min-heap of deadlines while it waits. See queue.h.
 */
#include "queue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smop.h"

#define NOT_WAITING UINT32_MAX
#define MIN_BUCKETS 16
#define KEY_LEN_MAX (UINT32_MAX - 1)
/* 2^1100 overflows any base delay: past this many failures, max_delay. */
#define FAILURES_SATURATE 1100

enum {
    F_DIRTY = 1,       /* wants processing: in the ready list, or processed now */
    F_QUEUED = 2,      /* in the ready list */
    F_PROCESSING = 4,  /* handed out, in the processing list */
};

typedef struct item {
    struct item *hnext;         /* hash chain */
    struct item *prev, *next;   /* ready list (F_QUEUED) or processing list */
    double added_at;            /* when it became dirty */
    double started_at;          /* when it was handed out */
    uint32_t hash;
    uint32_t heap_idx;          /* NOT_WAITING unless delayed */
    uint32_t failures;          /* rate limiter's count, until forgotten */
    uint32_t len;
    uint8_t flags;
    char key[];                 /* len bytes + NUL */
} item;

typedef struct list {
    item *head, *tail;
    size_t n;
} list;

typedef struct slot {
    double at;
    item *it;
} slot;

struct queue {
    queue_config cfg;
    item **buckets;
    size_t nbuckets;            /* power of two */
    size_t count;               /* records */
    list ready, processing;
    slot *heap;
    size_t heap_n, heap_cap;
    size_t ndirty;
    double tokens, last;        /* token bucket */
    uint64_t rng;
    uint64_t hseed;
    int shutting_down;
    size_t bytes;
    uint64_t adds, retries;
    queue_histogram queue_duration, work_duration;
};

const double queue_hist_bounds[QUEUE_HIST_BUCKETS] = {
    1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10,
};

/* ---- memory and time ---- */

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static double default_clock(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *q_realloc(queue *q, void *ptr, size_t osize, size_t nsize)
{
    void *p = q->cfg.alloc(q->cfg.alloc_ud, ptr, osize, nsize);

    if (nsize == 0) {
        q->bytes -= osize;
        return NULL;
    }
    if (p)
        q->bytes = q->bytes - osize + nsize;
    return p;
}

static void q_free(queue *q, void *ptr, size_t size)
{
    if (ptr)
        q_realloc(q, ptr, size, 0);
}

static double now(const queue *q)
{
    return q->cfg.clock(q->cfg.clock_ud);
}

static size_t item_size(size_t len)
{
    return offsetof(item, key) + len + 1;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static double rand01(queue *q)
{
    uint64_t x = q->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    q->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

/* ---- lists ---- */

static void list_push(list *l, item *it)
{
    it->next = NULL;
    it->prev = l->tail;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n++;
}

static void list_push_front(list *l, item *it)
{
    it->prev = NULL;
    it->next = l->head;
    if (l->head)
        l->head->prev = it;
    else
        l->tail = it;
    l->head = it;
    l->n++;
}

static void list_remove(list *l, item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        l->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        l->tail = it->prev;
    it->prev = it->next = NULL;
    l->n--;
}

/* ---- heap of deadlines ---- */

static void heap_place(queue *q, size_t i, slot s)
{
    q->heap[i] = s;
    s.it->heap_idx = (uint32_t)i;
}

static void sift_up(queue *q, size_t i)
{
    slot s = q->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (q->heap[parent].at <= s.at)
            break;
        heap_place(q, i, q->heap[parent]);
        i = parent;
    }
    heap_place(q, i, s);
}

static void sift_down(queue *q, size_t i)
{
    slot s = q->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= q->heap_n)
            break;
        if (child + 1 < q->heap_n && q->heap[child + 1].at < q->heap[child].at)
            child++;
        if (s.at <= q->heap[child].at)
            break;
        heap_place(q, i, q->heap[child]);
        i = child;
    }
    heap_place(q, i, s);
}

/* Makes room for one more deadline, so callers can fail before changing
 * anything else. */
static int heap_reserve(queue *q)
{
    size_t ncap;
    slot *h;

    if (q->heap_n < q->heap_cap)
        return SMOP_OK;
    if (q->heap_cap >= NOT_WAITING / 2)
        return SMOP_ERR;
    ncap = q->heap_cap ? q->heap_cap * 2 : 64;
    h = q_realloc(q, q->heap, q->heap_cap * sizeof *h, ncap * sizeof *h);
    if (!h)
        return SMOP_ERR;
    q->heap = h;
    q->heap_cap = ncap;
    return SMOP_OK;
}

static void heap_push(queue *q, item *it, double at)
{
    slot s = { at, it };

    q->heap_n++;
    heap_place(q, q->heap_n - 1, s);
    sift_up(q, q->heap_n - 1);
}

static item *heap_pop(queue *q)
{
    item *it = q->heap[0].it;

    q->heap_n--;
    if (q->heap_n > 0) {
        heap_place(q, 0, q->heap[q->heap_n]);
        sift_down(q, 0);
    }
    it->heap_idx = NOT_WAITING;
    return it;
}

/* ---- records ---- */

static uint32_t hash_key(const queue *q, const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL ^ q->hseed;   /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static item *find(const queue *q, const char *key, size_t len)
{
    uint32_t h = hash_key(q, key, len);
    item *it;

    for (it = q->buckets[h & (q->nbuckets - 1)]; it; it = it->hnext)
        if (it->hash == h && it->len == len && memcmp(it->key, key, len) == 0)
            return it;
    return NULL;
}

/* Doubles the table; on no memory the chains just get longer. */
static void grow(queue *q)
{
    size_t nb = q->nbuckets * 2, i;
    item **b = q_realloc(q, NULL, 0, nb * sizeof *b);

    if (!b)
        return;
    memset(b, 0, nb * sizeof *b);
    for (i = 0; i < q->nbuckets; i++) {
        item *it = q->buckets[i], *next;

        for (; it; it = next) {
            next = it->hnext;
            it->hnext = b[it->hash & (nb - 1)];
            b[it->hash & (nb - 1)] = it;
        }
    }
    q_free(q, q->buckets, q->nbuckets * sizeof *b);
    q->buckets = b;
    q->nbuckets = nb;
}

static item *find_or_create(queue *q, const char *key, size_t len)
{
    item *it = find(q, key, len);
    size_t idx;

    if (it)
        return it;
    if (len > KEY_LEN_MAX)
        return NULL;
    if (q->count >= q->nbuckets)
        grow(q);
    it = q_realloc(q, NULL, 0, item_size(len));
    if (!it)
        return NULL;
    memset(it, 0, offsetof(item, key));
    memcpy(it->key, key, len);
    it->key[len] = '\0';
    it->len = (uint32_t)len;
    it->hash = hash_key(q, key, len);
    it->heap_idx = NOT_WAITING;
    idx = it->hash & (q->nbuckets - 1);
    it->hnext = q->buckets[idx];
    q->buckets[idx] = it;
    q->count++;
    return it;
}

/* Drops a record that no longer carries any state. */
static void release(queue *q, item *it)
{
    item **p;

    if (it->flags || it->heap_idx != NOT_WAITING || it->failures)
        return;
    for (p = &q->buckets[it->hash & (q->nbuckets - 1)]; *p != it; p = &(*p)->hnext)
        ;
    *p = it->hnext;
    q->count--;
    q_free(q, it, item_size(it->len));
}

/* ---- metrics ---- */

static void observe(queue_histogram *h, double v)
{
    int i;

    if (!(v > 0))
        v = 0;
    h->sum += v;
    h->count++;
    for (i = 0; i < QUEUE_HIST_BUCKETS; i++) {
        if (v <= queue_hist_bounds[i]) {
            h->bucket[i]++;
            break;
        }
    }
}

/* ---- the queue ---- */

void queue_config_init(queue_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->base_delay = 0.005;
    cfg->max_delay = 1000;
    cfg->qps = 10;
    cfg->burst = 100;
}

static int check_config(const queue_config *cfg, char *err, size_t errlen)
{
    if (!(cfg->base_delay >= 0) || !isfinite(cfg->base_delay))
        return smop_fail(err, errlen, "queue: base_delay must be a finite number >= 0");
    if (!(cfg->max_delay >= 0) || !isfinite(cfg->max_delay))
        return smop_fail(err, errlen, "queue: max_delay must be a finite number >= 0");
    if (!(cfg->qps >= 0) || !isfinite(cfg->qps))
        return smop_fail(err, errlen, "queue: qps must be a finite number >= 0 (0: no overall limit)");
    if (cfg->qps > 0 && (!(cfg->burst >= 1) || !isfinite(cfg->burst)))
        return smop_fail(err, errlen, "queue: burst must be a finite number >= 1");
    if (!(cfg->jitter >= 0 && cfg->jitter <= 1))
        return smop_fail(err, errlen, "queue: jitter must be between 0 and 1");
    return SMOP_OK;
}

queue *queue_new(const queue_config *cfg, char *err, size_t errlen)
{
    queue_alloc_fn alloc = cfg->alloc ? cfg->alloc : default_alloc;
    queue *q;

    if (check_config(cfg, err, errlen) != SMOP_OK)
        return NULL;
    q = alloc(cfg->alloc_ud, NULL, 0, sizeof *q);
    if (!q)
        goto fail;
    memset(q, 0, sizeof *q);
    q->cfg = *cfg;
    q->cfg.alloc = alloc;
    if (!q->cfg.clock)
        q->cfg.clock = default_clock;
    q->bytes = sizeof *q;
    q->buckets = q_realloc(q, NULL, 0, MIN_BUCKETS * sizeof *q->buckets);
    if (!q->buckets) {
        alloc(cfg->alloc_ud, q, sizeof *q, 0);
        goto fail;
    }
    memset(q->buckets, 0, MIN_BUCKETS * sizeof *q->buckets);
    q->nbuckets = MIN_BUCKETS;
    q->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ULL;
    q->hseed = cfg->seed * 0xbf58476d1ce4e5b9ULL;
    q->tokens = cfg->burst;
    q->last = now(q);
    return q;
fail:
    smop_fail(err, errlen, "queue: out of memory");
    return NULL;
}

void queue_free(queue *q)
{
    size_t i;

    if (!q)
        return;
    for (i = 0; i < q->nbuckets; i++) {
        item *it = q->buckets[i], *next;

        for (; it; it = next) {
            next = it->hnext;
            q_free(q, it, item_size(it->len));
        }
    }
    q_free(q, q->buckets, q->nbuckets * sizeof *q->buckets);
    q_free(q, q->heap, q->heap_cap * sizeof *q->heap);
    q->cfg.alloc(q->cfg.alloc_ud, q, sizeof *q, 0);
}

/* Marks a key dirty and queues it unless it is being processed. */
static void item_add(queue *q, item *it)
{
    if (it->flags & F_DIRTY)
        return;
    q->adds++;
    q->ndirty++;
    it->flags |= F_DIRTY;
    it->added_at = now(q);
    if (it->flags & F_PROCESSING)
        return;
    it->flags |= F_QUEUED;
    list_push(&q->ready, it);
}

/* The heap has room (heap_reserve). */
static void item_add_after(queue *q, item *it, double seconds)
{
    double at;

    q->retries++;
    if (!(seconds > 0)) {
        item_add(q, it);
        return;
    }
    at = now(q) + seconds;
    if (it->heap_idx == NOT_WAITING) {
        heap_push(q, it, at);
    } else if (at < q->heap[it->heap_idx].at) {
        q->heap[it->heap_idx].at = at;
        sift_up(q, it->heap_idx);
    }
}

int queue_add(queue *q, const char *key, size_t len)
{
    item *it;

    if (q->shutting_down)
        return SMOP_OK;
    it = find_or_create(q, key, len);
    if (!it)
        return SMOP_ERR;
    item_add(q, it);
    return SMOP_OK;
}

int queue_add_after(queue *q, const char *key, size_t len, double seconds)
{
    item *it;

    if (q->shutting_down)
        return SMOP_OK;
    it = find_or_create(q, key, len);
    if (!it)
        return SMOP_ERR;
    if (seconds > 0 && heap_reserve(q) != SMOP_OK) {
        release(q, it);
        return SMOP_ERR;
    }
    item_add_after(q, it, seconds);
    return SMOP_OK;
}

/* Token bucket, as golang.org/x/time/rate's Reserve: take a token now, and
 * wait until the debt is paid. */
static double bucket_delay(queue *q)
{
    double t;

    if (q->cfg.qps <= 0)
        return 0;
    t = now(q);
    if (t > q->last)
        q->tokens += (t - q->last) * q->cfg.qps;
    if (q->tokens > q->cfg.burst)
        q->tokens = q->cfg.burst;
    q->last = t;
    q->tokens -= 1;
    return q->tokens < 0 ? -q->tokens / q->cfg.qps : 0;
}

static double when(queue *q, item *it)
{
    double d = it->failures >= FAILURES_SATURATE ? INFINITY
                                                 : ldexp(q->cfg.base_delay, (int)it->failures);
    double b;

    if (!(d <= q->cfg.max_delay))
        d = q->cfg.max_delay;
    if (q->cfg.jitter > 0)
        d += d * q->cfg.jitter * rand01(q);
    if (it->failures < UINT32_MAX)
        it->failures++;
    b = bucket_delay(q);
    return d > b ? d : b;
}

int queue_add_rate_limited(queue *q, const char *key, size_t len, double *delay)
{
    item *it;
    double d;

    if (delay)
        *delay = 0;
    if (q->shutting_down)
        return SMOP_OK;
    it = find_or_create(q, key, len);
    if (!it)
        return SMOP_ERR;
    if (heap_reserve(q) != SMOP_OK) {
        release(q, it);
        return SMOP_ERR;
    }
    d = when(q, it);
    item_add_after(q, it, d);
    if (delay)
        *delay = d;
    return SMOP_OK;
}

void queue_forget(queue *q, const char *key, size_t len)
{
    item *it = find(q, key, len);

    if (it) {
        it->failures = 0;
        release(q, it);
    }
}

unsigned queue_num_requeues(const queue *q, const char *key, size_t len)
{
    const item *it = find(q, key, len);

    return it ? it->failures : 0;
}

const char *queue_get(queue *q, size_t *len)
{
    item *it = q->ready.head;
    double t;

    if (!it)
        return NULL;
    t = now(q);
    list_remove(&q->ready, it);
    it->flags = (uint8_t)((it->flags & ~(F_QUEUED | F_DIRTY)) | F_PROCESSING);
    q->ndirty--;
    observe(&q->queue_duration, t - it->added_at);
    it->started_at = t;
    list_push(&q->processing, it);
    *len = it->len;
    return it->key;
}

int queue_done(queue *q, const char *key, size_t len)
{
    item *it = find(q, key, len);

    if (!it || !(it->flags & F_PROCESSING))
        return 0;
    observe(&q->work_duration, now(q) - it->started_at);
    list_remove(&q->processing, it);
    it->flags &= (uint8_t)~F_PROCESSING;
    if (it->flags & F_DIRTY) {
        it->flags |= F_QUEUED;
        list_push(&q->ready, it);
    } else {
        release(q, it);
    }
    return 1;
}

int queue_unget(queue *q, const char *key, size_t len)
{
    item *it = find(q, key, len);

    if (!it || !(it->flags & F_PROCESSING))
        return 0;
    list_remove(&q->processing, it);
    it->flags &= (uint8_t)~F_PROCESSING;
    if (!(it->flags & F_DIRTY)) {
        it->flags |= F_DIRTY;
        q->ndirty++;
        it->added_at = now(q);
    }
    it->flags |= F_QUEUED;
    list_push_front(&q->ready, it);
    return 1;
}

void queue_shutdown(queue *q)
{
    size_t i, n = q->heap_n;

    q->shutting_down = 1;
    q->heap_n = 0;
    for (i = 0; i < n; i++) {
        item *it = q->heap[i].it;

        it->heap_idx = NOT_WAITING;
        release(q, it);
    }
}

int queue_shutting_down(const queue *q)
{
    return q->shutting_down;
}

size_t queue_len(const queue *q)
{
    return q->ready.n;
}

int queue_next_deadline(const queue *q, double *at)
{
    if (q->heap_n == 0)
        return 0;
    *at = q->heap[0].at;
    return 1;
}

size_t queue_advance(queue *q)
{
    double t;
    size_t n = 0;

    if (q->heap_n == 0)
        return 0;
    t = now(q);
    while (q->heap_n > 0 && q->heap[0].at <= t) {
        item_add(q, heap_pop(q));
        n++;
    }
    return n;
}

void queue_get_metrics(const queue *q, queue_metrics *m)
{
    const item *it;
    double t = now(q);

    memset(m, 0, sizeof *m);
    m->depth = q->ndirty;
    m->len = q->ready.n;
    m->processing = q->processing.n;
    m->waiting = q->heap_n;
    m->keys = q->count;
    m->bytes = q->bytes;
    m->adds = q->adds;
    m->retries = q->retries;
    m->queue_duration = q->queue_duration;
    m->work_duration = q->work_duration;
    for (it = q->processing.head; it; it = it->next) {
        double d = t - it->started_at;

        if (d > 0) {
            m->unfinished_work_seconds += d;
            if (d > m->longest_running_processor_seconds)
                m->longest_running_processor_seconds = d;
        }
    }
}

/* ---- invariants, for tests ---- */

static int check_list(const list *l, unsigned flag, const char *name, char *err, size_t errlen)
{
    const item *it, *prev = NULL;
    size_t n = 0;

    for (it = l->head; it; prev = it, it = it->next) {
        if (it->prev != prev)
            return smop_fail(err, errlen, "%s list: bad back link at %s", name, it->key);
        if (!(it->flags & flag))
            return smop_fail(err, errlen, "%s list: %s lacks its flag", name, it->key);
        n++;
    }
    if (l->tail != prev || l->n != n)
        return smop_fail(err, errlen, "%s list: tail or length wrong (%zu, walked %zu)",
                         name, l->n, n);
    return SMOP_OK;
}

int queue_check(const queue *q, char *err, size_t errlen)
{
    size_t i, count = 0, queued = 0, processing = 0, dirty = 0, waiting = 0, bytes;

    bytes = sizeof *q + q->nbuckets * sizeof *q->buckets + q->heap_cap * sizeof *q->heap;
    for (i = 0; i < q->nbuckets; i++) {
        const item *it;

        for (it = q->buckets[i]; it; it = it->hnext) {
            count++;
            bytes += item_size(it->len);
            if (it->hash != hash_key(q, it->key, it->len) || (it->hash & (q->nbuckets - 1)) != i)
                return smop_fail(err, errlen, "%s: in the wrong bucket", it->key);
            if (!it->flags && it->heap_idx == NOT_WAITING && !it->failures)
                return smop_fail(err, errlen, "%s: a record with no state was kept", it->key);
            if ((it->flags & F_QUEUED) && (!(it->flags & F_DIRTY) || (it->flags & F_PROCESSING)))
                return smop_fail(err, errlen, "%s: queued but not dirty, or processing", it->key);
            if ((it->flags & F_DIRTY) && !(it->flags & (F_QUEUED | F_PROCESSING)))
                return smop_fail(err, errlen, "%s: dirty but neither queued nor processing", it->key);
            if (it->heap_idx != NOT_WAITING) {
                if (it->heap_idx >= q->heap_n || q->heap[it->heap_idx].it != it)
                    return smop_fail(err, errlen, "%s: bad heap index", it->key);
                waiting++;
            }
            queued += !!(it->flags & F_QUEUED);
            processing += !!(it->flags & F_PROCESSING);
            dirty += !!(it->flags & F_DIRTY);
        }
    }
    if (count != q->count || queued != q->ready.n || processing != q->processing.n ||
        dirty != q->ndirty || waiting != q->heap_n)
        return smop_fail(err, errlen, "counters disagree with the records");
    if (check_list(&q->ready, F_QUEUED, "ready", err, errlen) != SMOP_OK ||
        check_list(&q->processing, F_PROCESSING, "processing", err, errlen) != SMOP_OK)
        return SMOP_ERR;
    for (i = 1; i < q->heap_n; i++)
        if (q->heap[(i - 1) / 2].at > q->heap[i].at)
            return smop_fail(err, errlen, "heap order broken at %zu", i);
    if (q->shutting_down && q->heap_n)
        return smop_fail(err, errlen, "keys wait after shutdown");
    if (bytes != q->bytes)
        return smop_fail(err, errlen, "memory count %zu, records add up to %zu", q->bytes, bytes);
    return SMOP_OK;
}
