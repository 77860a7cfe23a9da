/*
 * lqueue.c - smop.queue: the reconcile work queue (queue.h) for scripts.
 *
 *   local q = queue.new{ base_delay = 0.005, max_delay = 1000, qps = 10,
 *                        burst = 100, jitter = 0 }   -- all optional (client-go's)
 *   q:add(key)                  queue key unless already queued; if it is being
 *                               processed, queue it again when done
 *   q:add_after(key, seconds)   add once seconds passed (earliest deadline wins)
 *   q:add_rate_limited(key)     -> seconds: add_after(key, backoff); counts a failure
 *   q:forget(key)               reset key's failure count
 *   q:num_requeues(key)         -> failures counted since the last forget
 *   q:get()                     -> key | nil (shut down and drained); yields
 *                               while nothing is ready (then it must run in a task)
 *   q:done(key)                 -> true | false (key was not being processed)
 *   q:len()                     -> ready keys
 *   q:shutdown()                ignore adds, drop delayed keys; get() drains what
 *                               is ready, then returns nil to every caller
 *   q:shutting_down()           -> boolean
 *   q:metrics()                 -> { depth, len, processing, waiting, keys, bytes,
 *                                    adds, retries, unfinished_work_seconds,
 *                                    longest_running_processor_seconds,
 *                                    queue_duration = H, work_duration = H }
 *                                  H = { sum, count, buckets = { {le=, count=}... } }
 *                                  (cumulative, Prometheus style; +Inf = count)
 *
 * Keys are strings of at most QUEUE_KEY_MAX bytes. Waiting tasks are served in
 * the order they called get(): a key that becomes ready is handed straight to
 * the oldest waiter (and counts as processed from then on), so a woken task
 * always gets its key. Memory is charged to the VM (its allocator).
 *
 * Lifetimes: the queue's state lives in malloc'd memory (the timer must
 * outlive the userdata until libuv closes it), freed when the userdata is
 * collected. A waiting get() keeps a waiter userdata on its task's stack,
 * next to the queue it waits on; the queue links its waiters. When one side
 * is collected first (at VM close, in any order) it detaches the other, and a
 * key handed to a task that never resumed goes back to the head of the queue.
 * The timer keeps the loop alive only while some task waits in get().
 */
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "hostlibs.h"
#include "lvm.h"
#include "queue.h"
#include "smop.h"

#define QUEUE_MT "smop.queue"
#define WAITER_MT "smop.queue.waiter"
#define QUEUE_KEY_MAX 4096
#define TIMER_MAX_MS 1e9   /* longer waits re-arm when the timer fires */

struct lqueue;

struct qtimer {
    uv_timer_t timer;
    struct lqueue *lq;            /* NULL once the queue is collected */
};

typedef struct waiter {
    struct lqueue *lq;            /* NULL once detached */
    struct waiter *prev, *next;   /* in lq->waiting, or lq->handed */
    lvm_task *task;
    char *key;                    /* handed-off key: a copy, so a stray done()
                                     elsewhere cannot pull it from under us */
    size_t len;
    int handed;
} waiter;

typedef struct wlist {
    waiter *head, *tail;
} wlist;

typedef struct lqueue {
    queue *q;                     /* NULL once collected */
    struct qtimer *timer;
    double armed_at;              /* deadline the timer is set for; INFINITY: none */
    wlist waiting;                /* tasks in get(), oldest first */
    wlist handed;                 /* woken with a key, not resumed yet */
} lqueue;

static void wlist_push(wlist *l, waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
}

static void wlist_remove(wlist *l, waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
}

static void waiter_detach(waiter *w)
{
    if (!w->lq)
        return;
    wlist_remove(w->handed ? &w->lq->handed : &w->lq->waiting, w);
    w->lq = NULL;
    free(w->key);
    w->key = NULL;
}

/* The clock of task.now(), so deadlines and scripts agree. */
static double hr_clock(void *ud)
{
    (void)ud;
    return (double)uv_hrtime() / 1e9;
}

static void keepalive(lqueue *lq)
{
    if (lq->waiting.head)
        uv_ref((uv_handle_t *)&lq->timer->timer);
    else
        uv_unref((uv_handle_t *)&lq->timer->timer);
}

/* Hands ready keys to waiting tasks, oldest first; once shut down and
 * drained, wakes the rest with nil. */
static void dispatch(lqueue *lq)
{
    const char *key;
    size_t len;

    while (lq->waiting.head && (key = queue_get(lq->q, &len)) != NULL) {
        waiter *w = lq->waiting.head;
        char *copy = malloc(len + 1);

        if (!copy) {   /* the key waits for the next get() or dispatch */
            queue_unget(lq->q, key, len);
            break;
        }
        memcpy(copy, key, len + 1);
        wlist_remove(&lq->waiting, w);
        w->key = copy;
        w->len = len;
        w->handed = 1;
        wlist_push(&lq->handed, w);
        lvm_task_wake(w->task);
    }
    if (queue_shutting_down(lq->q) && queue_len(lq->q) == 0) {
        while (lq->waiting.head) {
            waiter *w = lq->waiting.head;

            waiter_detach(w);
            lvm_task_wake(w->task);
        }
    }
    keepalive(lq);
}

static void arm(lqueue *lq);

static void timer_fired(uv_timer_t *timer)
{
    lqueue *lq = ((struct qtimer *)timer->data)->lq;

    if (!lq)
        return;
    lq->armed_at = INFINITY;
    queue_advance(lq->q);
    dispatch(lq);
    arm(lq);
}

/* One timer for all delayed keys, set to the earliest deadline. */
static void arm(lqueue *lq)
{
    double at, ms;

    if (!queue_next_deadline(lq->q, &at)) {
        if (lq->armed_at != INFINITY) {
            uv_timer_stop(&lq->timer->timer);
            lq->armed_at = INFINITY;
        }
        return;
    }
    if (at == lq->armed_at)
        return;
    ms = ceil((at - hr_clock(NULL)) * 1000.0);
    if (!(ms > 0))
        ms = 0;
    if (ms > TIMER_MAX_MS)
        ms = TIMER_MAX_MS;
    uv_timer_start(&lq->timer->timer, timer_fired, (uint64_t)ms, 0);
    lq->armed_at = at;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static lqueue *check_queue(lua_State *L)
{
    lqueue *lq = luaL_checkudata(L, 1, QUEUE_MT);

    if (!lq->q)
        luaL_error(L, "smop.queue: the queue has been collected");
    return lq;
}

static const char *check_key(lua_State *L, size_t *len)
{
    const char *key = luaL_checklstring(L, 2, len);

    luaL_argcheck(L, *len <= QUEUE_KEY_MAX, 2, "key longer than 4096 bytes");
    return key;
}

static int out_of_memory(lua_State *L, const char *what)
{
    return luaL_error(L, "%s: not enough memory", what);
}

static int queue_gc(lua_State *L)
{
    lqueue *lq = luaL_checkudata(L, 1, QUEUE_MT);

    if (!lq->q)
        return 0;
    while (lq->waiting.head)
        waiter_detach(lq->waiting.head);   /* their tasks go too, or the VM closes */
    while (lq->handed.head)
        waiter_detach(lq->handed.head);
    lq->timer->lq = NULL;
    uv_timer_stop(&lq->timer->timer);
    uv_close((uv_handle_t *)&lq->timer->timer, timer_closed);
    lq->timer = NULL;
    queue_free(lq->q);
    lq->q = NULL;
    return 0;
}

static int waiter_gc(lua_State *L)
{
    waiter *w = luaL_checkudata(L, 1, WAITER_MT);
    lqueue *lq = w->lq;

    if (!lq)
        return 0;
    if (w->handed)
        queue_unget(lq->q, w->key, w->len);   /* its task never took it */
    waiter_detach(w);
    dispatch(lq);
    return 0;
}

static int read_options(lua_State *L, queue_config *cfg)
{
    static const char *const names[] = {
        "base_delay", "max_delay", "qps", "burst", "jitter", NULL};
    double *fields[] = {
        &cfg->base_delay, &cfg->max_delay, &cfg->qps, &cfg->burst, &cfg->jitter};

    if (lua_isnoneornil(L, 1))
        return 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int i;

        for (i = 0; name && names[i] && strcmp(names[i], name) != 0; i++)
            ;
        if (!name || !names[i])
            return luaL_error(L, "queue.new: unknown option %s (known: base_delay, "
                                 "max_delay, qps, burst, jitter)",
                              name ? name : luaL_typename(L, -2));
        if (lua_type(L, -1) != LUA_TNUMBER)
            return luaL_error(L, "queue.new: option %s must be a number", name);
        *fields[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    return 0;
}

static int l_new(lua_State *L)
{
    queue_config cfg;
    lqueue *lq;
    char err[200];

    queue_config_init(&cfg);
    read_options(L, &cfg);
    lq = lua_newuserdatauv(L, sizeof *lq, 0);
    memset(lq, 0, sizeof *lq);
    lq->armed_at = INFINITY;
    luaL_setmetatable(L, QUEUE_MT);
    cfg.alloc = lua_getallocf(L, &cfg.alloc_ud);
    cfg.clock = hr_clock;
    cfg.seed = uv_hrtime() ^ (uint64_t)(uintptr_t)lq;
    lq->timer = malloc(sizeof *lq->timer);
    if (!lq->timer)
        return out_of_memory(L, "queue.new");
    lq->q = queue_new(&cfg, err, sizeof err);
    if (!lq->q) {
        free(lq->timer);
        lq->timer = NULL;
        return luaL_error(L, "%s", err);
    }
    uv_timer_init(uv_default_loop(), &lq->timer->timer);
    lq->timer->timer.data = lq->timer;
    lq->timer->lq = lq;
    uv_unref((uv_handle_t *)&lq->timer->timer);
    return 1;
}

static int l_add(lua_State *L)
{
    lqueue *lq = check_queue(L);
    size_t len;
    const char *key = check_key(L, &len);

    if (queue_add(lq->q, key, len) != SMOP_OK)
        return out_of_memory(L, "queue:add");
    dispatch(lq);
    return 0;
}

static int l_add_after(lua_State *L)
{
    lqueue *lq = check_queue(L);
    size_t len;
    const char *key = check_key(L, &len);
    lua_Number seconds = luaL_checknumber(L, 3);

    luaL_argcheck(L, isfinite(seconds), 3, "seconds must be a finite number");
    if (queue_add_after(lq->q, key, len, seconds) != SMOP_OK)
        return out_of_memory(L, "queue:add_after");
    dispatch(lq);
    arm(lq);
    return 0;
}

static int l_add_rate_limited(lua_State *L)
{
    lqueue *lq = check_queue(L);
    size_t len;
    const char *key = check_key(L, &len);
    double delay;

    if (queue_add_rate_limited(lq->q, key, len, &delay) != SMOP_OK)
        return out_of_memory(L, "queue:add_rate_limited");
    dispatch(lq);
    arm(lq);
    lua_pushnumber(L, delay);
    return 1;
}

static int l_forget(lua_State *L)
{
    lqueue *lq = check_queue(L);
    size_t len;
    const char *key = check_key(L, &len);

    queue_forget(lq->q, key, len);
    return 0;
}

static int l_num_requeues(lua_State *L)
{
    lqueue *lq = check_queue(L);
    size_t len;
    const char *key = check_key(L, &len);

    lua_pushinteger(L, (lua_Integer)queue_num_requeues(lq->q, key, len));
    return 1;
}

static int k_get(lua_State *L, int status, lua_KContext ctx)
{
    waiter *w = (waiter *)ctx;
    lqueue *lq = w->lq;

    (void)status;
    if (lq && w->handed)
        lua_pushlstring(L, w->key, w->len);
    else
        lua_pushnil(L);   /* shut down, or the queue went away */
    waiter_detach(w);
    if (lq)
        keepalive(lq);
    return 1;
}

static int l_get(lua_State *L)
{
    lqueue *lq = check_queue(L);
    lvm_task *t;
    const char *key;
    size_t len;
    waiter *w;

    key = queue_get(lq->q, &len);   /* nobody waits while keys are ready */
    if (key) {
        lua_pushlstring(L, key, len);
        return 1;
    }
    if (queue_shutting_down(lq->q)) {
        lua_pushnil(L);
        return 1;
    }
    t = lvm_task_current(L);
    if (!t)
        return luaL_error(L, "queue:get must be called from a task when nothing is ready");
    lua_settop(L, 1);   /* the queue stays anchored while we wait */
    w = lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    luaL_setmetatable(L, WAITER_MT);
    w->lq = lq;
    w->task = t;
    wlist_push(&lq->waiting, w);
    keepalive(lq);
    return lvm_task_suspend(L, (lua_KContext)w, k_get);
}

static int l_done(lua_State *L)
{
    lqueue *lq = check_queue(L);
    size_t len;
    const char *key = check_key(L, &len);
    int was = queue_done(lq->q, key, len);

    dispatch(lq);
    lua_pushboolean(L, was);
    return 1;
}

static int l_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)queue_len(check_queue(L)->q));
    return 1;
}

static int l_shutdown(lua_State *L)
{
    lqueue *lq = check_queue(L);

    queue_shutdown(lq->q);
    dispatch(lq);
    arm(lq);
    return 0;
}

static int l_shutting_down(lua_State *L)
{
    lua_pushboolean(L, queue_shutting_down(check_queue(L)->q));
    return 1;
}

static void set_integer(lua_State *L, const char *name, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, name);
}

static void set_number(lua_State *L, const char *name, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

static void push_histogram(lua_State *L, const queue_histogram *h)
{
    uint64_t cumulative = 0;
    int i;

    lua_createtable(L, 0, 3);
    set_number(L, "sum", h->sum);
    set_integer(L, "count", h->count);
    lua_createtable(L, QUEUE_HIST_BUCKETS, 0);
    for (i = 0; i < QUEUE_HIST_BUCKETS; i++) {
        cumulative += h->bucket[i];
        lua_createtable(L, 0, 2);
        set_number(L, "le", queue_hist_bounds[i]);
        set_integer(L, "count", cumulative);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "buckets");
}

static int l_metrics(lua_State *L)
{
    lqueue *lq = check_queue(L);
    queue_metrics m;

    queue_get_metrics(lq->q, &m);
    lua_createtable(L, 0, 14);
    set_integer(L, "depth", m.depth);
    set_integer(L, "len", m.len);
    set_integer(L, "processing", m.processing);
    set_integer(L, "waiting", m.waiting);
    set_integer(L, "keys", m.keys);
    set_integer(L, "bytes", m.bytes);
    set_integer(L, "adds", m.adds);
    set_integer(L, "retries", m.retries);
    set_number(L, "unfinished_work_seconds", m.unfinished_work_seconds);
    set_number(L, "longest_running_processor_seconds", m.longest_running_processor_seconds);
    push_histogram(L, &m.queue_duration);
    lua_setfield(L, -2, "queue_duration");
    push_histogram(L, &m.work_duration);
    lua_setfield(L, -2, "work_duration");
    return 1;
}

int luaopen_smop_queue(lua_State *L)
{
    static const luaL_Reg fns[] = {{"new", l_new}, {NULL, NULL}};
    static const luaL_Reg methods[] = {
        {"add", l_add},
        {"add_after", l_add_after},
        {"add_rate_limited", l_add_rate_limited},
        {"forget", l_forget},
        {"num_requeues", l_num_requeues},
        {"get", l_get},
        {"done", l_done},
        {"len", l_len},
        {"shutdown", l_shutdown},
        {"shutting_down", l_shutting_down},
        {"metrics", l_metrics},
        {"__gc", queue_gc},
        {NULL, NULL}};
    static const luaL_Reg waiter_methods[] = {{"__gc", waiter_gc}, {NULL, NULL}};

    if (luaL_newmetatable(L, QUEUE_MT)) {
        luaL_setfuncs(L, methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, WAITER_MT))
        luaL_setfuncs(L, waiter_methods, 0);
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
