/* Unit tests for the work queue: sets and lists, the deadline heap, the
 * limiter's arithmetic on a fake clock, metrics, allocation failures, and
 * the Lua binding's teardown at VM close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvm.h"
#include "queue.h"
#include "scripts.h"
#include "smop.h"

static double fake_now;

static double fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

/* Counts live blocks and refuses the allocation numbered fail_at. */
static struct {
    long live;
    long calls;
    long fail_at;   /* -1: never */
} mem;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        if (ptr)
            mem.live--;
        free(ptr);
        return NULL;
    }
    if (mem.calls++ == mem.fail_at)
        return NULL;
    if (!ptr) {
        ptr = malloc(nsize);
        if (ptr)
            mem.live++;
        return ptr;
    }
    return realloc(ptr, nsize);
}

static queue *new_queue(double base, double max, double qps, double burst)
{
    queue_config cfg;
    char err[128];
    queue *q;

    queue_config_init(&cfg);
    cfg.base_delay = base;
    cfg.max_delay = max;
    cfg.qps = qps;
    cfg.burst = burst;
    cfg.clock = fake_clock;
    cfg.alloc = counting_alloc;
    q = queue_new(&cfg, err, sizeof err);
    assert_non_null(q);
    return q;
}

static void check(const queue *q)
{
    char err[200] = "";

    if (queue_check(q, err, sizeof err) != SMOP_OK)
        fail_msg("invariant: %s", err);
}

static int setup(void **state)
{
    (void)state;
    fake_now = 1000;
    mem.live = 0;
    mem.calls = 0;
    mem.fail_at = -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(mem.live, 0);   /* queue_free returned every block */
    return 0;
}

#define ADD(q, k) assert_int_equal(queue_add((q), (k), strlen(k)), SMOP_OK)

static const char *get(queue *q)
{
    size_t len;
    const char *k = queue_get(q, &len);

    if (k)
        assert_int_equal(strlen(k), len);
    return k;
}

static void test_dedupe_and_fifo(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    queue_metrics m;

    (void)state;
    ADD(q, "a");
    ADD(q, "b");
    ADD(q, "a");
    ADD(q, "c");
    ADD(q, "b");
    check(q);
    assert_int_equal(queue_len(q), 3);
    assert_string_equal(get(q), "a");
    assert_string_equal(get(q), "b");
    assert_string_equal(get(q), "c");
    assert_null(get(q));
    queue_get_metrics(q, &m);
    assert_int_equal(m.adds, 3);
    assert_int_equal(m.depth, 0);
    assert_int_equal(m.processing, 3);
    check(q);
    queue_free(q);
}

static void test_readd_while_processing(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    queue_metrics m;

    (void)state;
    ADD(q, "k");
    assert_string_equal(get(q), "k");
    ADD(q, "k");
    ADD(q, "k");
    check(q);
    assert_int_equal(queue_len(q), 0);   /* never handed out twice at once */
    assert_null(get(q));
    queue_get_metrics(q, &m);
    assert_int_equal(m.depth, 1);
    assert_int_equal(m.adds, 2);
    assert_int_equal(queue_done(q, "k", 1), 1);
    check(q);
    assert_int_equal(queue_len(q), 1);
    assert_string_equal(get(q), "k");
    assert_int_equal(queue_done(q, "k", 1), 1);
    assert_int_equal(queue_done(q, "k", 1), 0);
    assert_int_equal(queue_done(q, "nope", 4), 0);
    queue_get_metrics(q, &m);
    assert_int_equal(m.keys, 0);          /* no state left, record freed */
    check(q);
    queue_free(q);
}

static void test_unget_returns_to_head(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);

    (void)state;
    ADD(q, "a");
    ADD(q, "b");
    assert_string_equal(get(q), "a");
    assert_int_equal(queue_unget(q, "a", 1), 1);
    check(q);
    assert_int_equal(queue_unget(q, "a", 1), 0);   /* not processed now */
    assert_string_equal(get(q), "a");
    ADD(q, "a");                                    /* dirty while handed out */
    assert_int_equal(queue_unget(q, "a", 1), 1);
    check(q);
    assert_int_equal(queue_len(q), 2);
    assert_string_equal(get(q), "a");
    assert_string_equal(get(q), "b");
    queue_free(q);
}

static void test_keys_are_bytes(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    size_t len;
    const char *k;

    (void)state;
    assert_int_equal(queue_add(q, "a\0b", 3), SMOP_OK);
    assert_int_equal(queue_add(q, "a\0c", 3), SMOP_OK);
    assert_int_equal(queue_add(q, "", 0), SMOP_OK);
    assert_int_equal(queue_len(q), 3);
    k = queue_get(q, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(k, "a\0b", 3);
    check(q);
    queue_free(q);
}

/* Deterministic permutation of 0..n-1 for distinct deadlines. */
static unsigned perm(unsigned i, unsigned n)
{
    return (i * 7919u) % n;   /* 7919 is prime, n not a multiple of it */
}

static void test_heap_orders_deadlines(void **state)
{
    enum { N = 2000 };
    static double deadline[N];
    queue *q = new_queue(0.005, 1000, 10, 100);
    char key[32];
    double last = -1, at;
    unsigned i, got = 0;

    (void)state;
    for (i = 0; i < N; i++) {
        double d = 1 + perm(i, N) * 0.01;

        snprintf(key, sizeof key, "k%u", i);
        assert_int_equal(queue_add_after(q, key, strlen(key), d), SMOP_OK);
        deadline[i] = fake_now + d;
        if (i % 3 == 0) {   /* a later deadline: ignored */
            assert_int_equal(queue_add_after(q, key, strlen(key), d + 5), SMOP_OK);
        } else if (i % 3 == 1) {   /* an earlier one: wins */
            assert_int_equal(queue_add_after(q, key, strlen(key), d - 0.5), SMOP_OK);
            deadline[i] = fake_now + d - 0.5;
        }
        if (i % 97 == 0)
            check(q);
    }
    check(q);
    assert_int_equal(queue_len(q), 0);
    assert_int_equal(queue_next_deadline(q, &at), 1);
    assert_true(at >= fake_now + 0.5);
    while (got < N) {
        const char *k;

        fake_now += 0.25;
        queue_advance(q);
        check(q);
        while ((k = get(q)) != NULL) {
            unsigned idx = (unsigned)strtoul(k + 1, NULL, 10);

            assert_true(deadline[idx] <= fake_now);          /* never early */
            assert_true(deadline[idx] > fake_now - 0.25);    /* nor late */
            assert_true(deadline[idx] >= last);              /* earliest first */
            last = deadline[idx];
            assert_int_equal(queue_done(q, k, strlen(k)), 1);
            got++;
        }
    }
    assert_int_equal(queue_next_deadline(q, &at), 0);
    check(q);
    queue_free(q);
}

static void test_delayed_key_dedupes_against_queued(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    queue_metrics m;

    (void)state;
    ADD(q, "k");
    assert_int_equal(queue_add_after(q, "k", 1, 1), SMOP_OK);   /* waits on its own */
    assert_int_equal(queue_add_after(q, "z", 1, 0), SMOP_OK);   /* <= 0: at once */
    queue_get_metrics(q, &m);
    assert_int_equal(m.waiting, 1);
    assert_int_equal(m.retries, 2);
    assert_int_equal(queue_len(q), 2);
    fake_now += 1;
    assert_int_equal(queue_advance(q), 1);
    assert_int_equal(queue_len(q), 2);    /* "k" was still queued: no duplicate */
    check(q);
    queue_free(q);
}

static double rate_limited(queue *q, const char *key)
{
    double d = -1;

    assert_int_equal(queue_add_rate_limited(q, key, strlen(key), &d), SMOP_OK);
    return d;
}

static void test_exponential_backoff(void **state)
{
    queue *q = new_queue(0.005, 0.04, 0, 0);
    static const double want[] = {0.005, 0.01, 0.02, 0.04, 0.04};
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_true(rate_limited(q, "k") == want[i]);
    assert_int_equal(queue_num_requeues(q, "k", 1), 5);
    assert_int_equal(queue_num_requeues(q, "x", 1), 0);
    queue_forget(q, "k", 1);
    assert_int_equal(queue_num_requeues(q, "k", 1), 0);
    assert_true(rate_limited(q, "k") == 0.005);
    for (i = 0; i < 3000; i++) {          /* far past 2^1024: still the cap */
        double d = rate_limited(q, "many");

        assert_true(i < 3 ? d < 0.04 : d == 0.04);
    }
    check(q);
    queue_free(q);

    q = new_queue(0, 10, 0, 0);            /* base 0: no per-key delay at all */
    assert_true(rate_limited(q, "k") == 0);
    assert_true(rate_limited(q, "k") == 0);
    assert_int_equal(queue_len(q), 1);
    queue_free(q);
}

static void test_token_bucket(void **state)
{
    queue *q = new_queue(0, 1000, 10, 2);

    (void)state;
    assert_float_equal(rate_limited(q, "a"), 0, 1e-12);
    assert_float_equal(rate_limited(q, "b"), 0, 1e-12);
    assert_float_equal(rate_limited(q, "c"), 0.1, 1e-12);
    assert_float_equal(rate_limited(q, "d"), 0.2, 1e-12);
    fake_now += 1;                          /* refills 10, capped at the burst */
    assert_float_equal(rate_limited(q, "e"), 0, 1e-12);
    assert_float_equal(rate_limited(q, "f"), 0, 1e-12);
    assert_float_equal(rate_limited(q, "g"), 0.1, 1e-12);
    fake_now += 0.05;                       /* half a token back */
    assert_float_equal(rate_limited(q, "h"), 0.15, 1e-12);
    queue_free(q);

    /* the larger of the two limits wins */
    q = new_queue(1, 1000, 10, 1);
    assert_float_equal(rate_limited(q, "a"), 1, 1e-12);
    assert_float_equal(rate_limited(q, "b"), 1, 1e-12);
    queue_free(q);
    q = new_queue(0.01, 1000, 10, 1);
    assert_float_equal(rate_limited(q, "a"), 0.01, 1e-12);
    assert_float_equal(rate_limited(q, "b"), 0.1, 1e-12);
    queue_free(q);
}

static void test_jitter_stays_in_range(void **state)
{
    queue_config cfg;
    char err[128], key[16];
    queue *q;
    double lo = 1e9, hi = 0;
    int i;

    (void)state;
    queue_config_init(&cfg);
    cfg.base_delay = 1;
    cfg.qps = 0;
    cfg.jitter = 0.25;
    cfg.seed = 42;
    cfg.clock = fake_clock;
    cfg.alloc = counting_alloc;
    q = queue_new(&cfg, err, sizeof err);
    assert_non_null(q);
    for (i = 0; i < 500; i++) {
        double d;

        snprintf(key, sizeof key, "k%d", i);
        d = rate_limited(q, key);
        assert_true(d >= 1 && d < 1.25);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(hi - lo > 0.2);   /* spread over the range */
    queue_free(q);
}

static void test_shutdown(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    queue_metrics m;
    double at, d = -1;

    (void)state;
    ADD(q, "a");
    ADD(q, "b");
    assert_int_equal(queue_add_after(q, "later", 5, 3), SMOP_OK);
    assert_int_equal(queue_add_rate_limited(q, "rl", 2, NULL), SMOP_OK);
    assert_string_equal(get(q), "a");
    ADD(q, "a");
    queue_shutdown(q);
    check(q);
    assert_true(queue_shutting_down(q));
    assert_int_equal(queue_next_deadline(q, &at), 0);
    ADD(q, "c");
    assert_int_equal(queue_add_after(q, "d", 1, 0), SMOP_OK);
    assert_int_equal(queue_add_rate_limited(q, "e", 1, &d), SMOP_OK);
    assert_true(d == 0);
    assert_int_equal(queue_len(q), 1);
    assert_string_equal(get(q), "b");
    assert_int_equal(queue_done(q, "a", 1), 1);   /* added before shutdown */
    assert_string_equal(get(q), "a");
    assert_null(get(q));
    queue_get_metrics(q, &m);
    assert_int_equal(m.keys, 3);                   /* a, b processed; rl's failure */
    check(q);
    queue_free(q);
}

static void test_metrics(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    queue_metrics m;

    (void)state;
    fake_now = 0;
    ADD(q, "a");
    ADD(q, "b");
    fake_now = 2;
    assert_string_equal(get(q), "a");      /* waited 2 s */
    fake_now = 5;
    assert_int_equal(queue_done(q, "a", 1), 1);   /* worked 3 s */
    fake_now = 5.5;
    ADD(q, "c");
    fake_now = 6;
    assert_string_equal(get(q), "b");      /* waited 6 s */
    assert_string_equal(get(q), "c");      /* waited 0.5 s */
    fake_now = 10;
    queue_get_metrics(q, &m);
    assert_int_equal(m.queue_duration.count, 3);
    assert_float_equal(m.queue_duration.sum, 8.5, 1e-9);
    assert_int_equal(m.queue_duration.bucket[8], 1);   /* le 1 */
    assert_int_equal(m.queue_duration.bucket[9], 2);   /* le 10 */
    assert_int_equal(m.work_duration.count, 1);
    assert_float_equal(m.work_duration.sum, 3, 1e-9);
    assert_float_equal(m.unfinished_work_seconds, 8, 1e-9);   /* 4 + 4 */
    assert_float_equal(m.longest_running_processor_seconds, 4, 1e-9);
    fake_now = 200;
    assert_int_equal(queue_done(q, "b", 1), 1);        /* 194 s: past every bucket */
    queue_get_metrics(q, &m);
    assert_int_equal(m.work_duration.count, 2);
    assert_int_equal(m.work_duration.bucket[9], 1);
    assert_float_equal(m.longest_running_processor_seconds, 194, 1e-9);
    queue_free(q);
}

static void test_records_freed(void **state)
{
    queue *q = new_queue(0.005, 1000, 10, 100);
    queue_metrics m;
    char key[32];
    size_t base;
    int i;

    (void)state;
    queue_get_metrics(q, &m);
    base = m.bytes;
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "TrainingJob/ns/job-%d", i);
        ADD(q, key);
    }
    check(q);
    queue_get_metrics(q, &m);
    assert_int_equal(m.keys, 5000);
    assert_true(m.bytes > base);
    for (i = 0; i < 5000; i++) {
        size_t len;
        const char *k = queue_get(q, &len);

        assert_non_null(k);
        snprintf(key, sizeof key, "%s", k);
        assert_int_equal(queue_done(q, key, len), 1);
    }
    queue_get_metrics(q, &m);
    assert_int_equal(m.keys, 0);
    check(q);   /* also checks the byte count adds up */
    queue_free(q);
}

static void test_bad_config(void **state)
{
    queue_config cfg;
    char err[128] = "";

    (void)state;
    queue_config_init(&cfg);
    cfg.burst = 0.5;
    assert_null(queue_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "burst"));
    queue_config_init(&cfg);
    cfg.base_delay = -1;
    assert_null(queue_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "base_delay"));
    queue_config_init(&cfg);
    cfg.jitter = 1.5;
    assert_null(queue_new(&cfg, err, sizeof err));
    queue_config_init(&cfg);
    cfg.qps = 0;
    cfg.burst = 0;   /* no bucket: no burst needed */
    cfg.alloc = counting_alloc;
    queue_free(queue_new(&cfg, err, sizeof err));
}

/* One scenario under every allocation failure in turn: each call succeeds
 * or fails cleanly, and the queue stays consistent and leak-free. */
static int scenario(long fail_at)
{
    queue_config cfg;
    char err[128], key[32];
    queue *q;
    int i, failures = 0;

    mem.calls = 0;
    mem.fail_at = fail_at;
    queue_config_init(&cfg);
    cfg.clock = fake_clock;
    cfg.alloc = counting_alloc;
    q = queue_new(&cfg, err, sizeof err);
    if (!q)
        return 1;
    for (i = 0; i < 120; i++) {
        queue_metrics before, after;
        int rc;

        snprintf(key, sizeof key, "key-%d", i);
        queue_get_metrics(q, &before);
        switch (i % 3) {
        case 0: rc = queue_add(q, key, strlen(key)); break;
        case 1: rc = queue_add_after(q, key, strlen(key), 1 + i); break;
        default: rc = queue_add_rate_limited(q, key, strlen(key), NULL); break;
        }
        queue_get_metrics(q, &after);
        if (rc != SMOP_OK) {
            failures++;
            assert_int_equal(after.keys, before.keys);   /* nothing changed */
            assert_int_equal(after.adds, before.adds);
            assert_int_equal(after.retries, before.retries);
            assert_int_equal(queue_num_requeues(q, key, strlen(key)), 0);
        }
        check(q);
    }
    queue_free(q);
    assert_int_equal(mem.live, 0);
    return failures;
}

static void test_allocation_failures(void **state)
{
    long n;

    (void)state;
    for (n = 0; scenario(n) > 0 || n == 0; n++)
        ;
    assert_true(n > 5);   /* the scenario allocates, so failures were tried */
    mem.fail_at = -1;
}

/* At VM close, waiters are collected before their queue (newest first): a
 * key handed to a task that never resumed goes back and on to the next
 * waiter, and everything is freed (ASan/LSan check the rest). */
static void test_vm_close_with_waiters(void **state)
{
    static const char chunk[] =
        "local queue, task = require('smop.queue'), require('smop.task')\n"
        "q = queue.new()\n"
        "for i = 1, 3 do task.spawn(function() q:get() end) end\n"
        "task.sleep(0)\n"
        "q:add_after('later', 1000)\n"
        "q:add('a')\n"   /* handed to the first waiter, which never resumes */
        "q:add('b')\n";
    lvm_config cfg = {0};
    scripts_set *set = scripts_new();
    char err[256];
    lvm *vm;
    lua_State *L;
    lvm_task *t;

    (void)state;
    cfg.scripts = set;
    vm = lvm_new(&cfg, err, sizeof err);
    assert_non_null(vm);
    L = lvm_state(vm);
    assert_int_equal(luaL_loadstring(L, chunk), LUA_OK);
    t = lvm_spawn(L, 0, "main", NULL, NULL);
    assert_non_null(t);
    lvm_task_ref(t);
    assert_int_equal(lvm_run(vm, t), SMOP_OK);
    assert_null(lvm_task_error(t));
    lvm_task_unref(t);
    lvm_free(vm);
    scripts_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedupe_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readd_while_processing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unget_returns_to_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_are_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heap_orders_deadlines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delayed_key_dedupes_against_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exponential_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jitter_stays_in_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_freed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
        cmocka_unit_test(test_vm_close_with_waiters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
