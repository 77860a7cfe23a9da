/*
 * ltask.c - smop.task: tasks and time for scripts.
 *
 *   task.spawn(fn, ...)   -> handle       run fn(...) as a new task
 *   task.wait(handle)     -> true, ... | false, err   (yields until it ends)
 *   task.sleep(seconds)                   (yields; 0 lets other tasks run)
 *   task.now()            -> monotonic seconds (float)
 *   task.time()           -> wall-clock epoch seconds (float)
 *   task.run(fn, ...)     -> ...          outside any task only: run fn as a
 *                                          task, drive the loop until it ends,
 *                                          return its results or raise its error
 *   task.condition()      -> cond         tasks wait on it until notified:
 *     cond:wait([seconds])  -> true (notified) | false (timed out)   (yields)
 *     cond:notify_all()     wakes every waiter; cond:notify_one() the oldest
 *     cond:waiting()        -> number of waiting tasks
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "hostlibs.h"
#include "lvm.h"
#include "smop.h"

#define HANDLE_MT "smop.task.handle"
#define SLEEP_MT "smop.task.sleep"
#define COND_MT "smop.task.condition"
#define WAITER_MT "smop.task.waiter"

typedef struct task_handle {
    lvm_task *task;
} task_handle;

static lvm_task *check_task(lua_State *L, int idx)
{
    return ((task_handle *)luaL_checkudata(L, idx, HANDLE_MT))->task;
}

static int handle_gc(lua_State *L)
{
    task_handle *h = luaL_checkudata(L, 1, HANDLE_MT);

    if (h->task) {
        lvm_task_unref(h->task);
        h->task = NULL;
    }
    return 0;
}

static int handle_tostring(lua_State *L)
{
    lvm_task *t = check_task(L, 1);

    lua_pushfstring(L, "task %s (%s)", lvm_task_name(t),
                    lvm_task_done(t) ? "done" : "running");
    return 1;
}

static int push_handle(lua_State *L, lvm_task *t)
{
    task_handle *h = lua_newuserdatauv(L, sizeof *h, 0);

    h->task = t;
    lvm_task_ref(t);
    luaL_setmetatable(L, HANDLE_MT);
    return 1;
}

static int l_spawn(lua_State *L)
{
    int nargs = lua_gettop(L) - 1;
    lvm_task *t;

    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checkstack(L, 4, NULL);
    t = lvm_spawn(L, nargs, "task", NULL, NULL);
    if (!t)
        return luaL_error(L, "task.spawn: out of memory");
    return push_handle(L, t);
}

/* Pushes `true, results...` or `false, message` of a finished task. */
static int push_outcome(lua_State *L, lvm_task *t)
{
    lua_State *co = lvm_task_thread(t);
    int n, i;

    if (lvm_task_error(t) || !co) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, lvm_task_error(t) ? lvm_task_error(t) : "task failed");
        return 2;
    }
    n = lua_gettop(co);
    luaL_checkstack(L, n + 1, "too many results");
    if (!lua_checkstack(co, 1))
        return luaL_error(L, "task.wait: out of memory");
    lua_pushboolean(L, 1);
    for (i = 1; i <= n; i++) {
        lua_pushvalue(co, i);
        lua_xmove(co, L, 1);
    }
    return n + 1;
}

static int k_wait(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return push_outcome(L, (lvm_task *)ctx);
}

static int l_wait(lua_State *L)
{
    lvm_task *target = check_task(L, 1);
    lvm_task *self = lvm_task_current(L);

    if (lvm_task_done(target))
        return push_outcome(L, target);
    if (!self)
        return luaL_error(L, "task.wait must be called from a task (use task.run outside)");
    if (self == target)
        return luaL_error(L, "task.wait: a task cannot wait for itself");
    if (lvm_task_add_waiter(target, self) != SMOP_OK)
        return luaL_error(L, "task.wait: out of memory");
    lua_settop(L, 1);   /* the handle stays on the stack: it anchors target */
    return lvm_task_suspend(L, (lua_KContext)target, k_wait);
}

/* A timer outlives the Lua side until libuv closes it, so the userdata holds
 * a pointer and the two sides detach from each other. */
struct sleep_op {
    uv_timer_t timer;
    lvm_task *task;
    struct sleep_op **slot;   /* the userdata's pointer to us, or NULL */
};

static void sleep_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sleep_detach(struct sleep_op *op)
{
    if (op->slot)
        *op->slot = NULL;
    op->slot = NULL;
    op->task = NULL;
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, sleep_closed);
}

static void sleep_fired(uv_timer_t *timer)
{
    struct sleep_op *op = timer->data;
    lvm_task *t = op->task;

    sleep_detach(op);
    if (t)
        lvm_task_wake(t);
}

static int sleep_gc(lua_State *L)
{
    struct sleep_op **slot = luaL_checkudata(L, 1, SLEEP_MT);

    if (*slot)
        sleep_detach(*slot);
    return 0;
}

static int k_sleep(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    (void)ctx;
    return 0;
}

static int l_sleep(lua_State *L)
{
    lua_Number seconds = luaL_checknumber(L, 1);
    lvm_task *t = lvm_task_current(L);
    struct sleep_op **slot;
    struct sleep_op *op;
    uint64_t ms;

    if (!t)
        return luaL_error(L, "task.sleep must be called from a task");
    if (!(seconds >= 0) || seconds > 1e7)
        return luaL_error(L, "task.sleep: seconds must be between 0 and 1e7");
    ms = (uint64_t)(seconds * 1000.0 + 0.5);
    slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, SLEEP_MT);
    op = calloc(1, sizeof *op);
    if (!op)
        return luaL_error(L, "task.sleep: out of memory");
    uv_timer_init(uv_default_loop(), &op->timer);
    op->timer.data = op;
    op->task = t;
    op->slot = slot;
    *slot = op;
    uv_timer_start(&op->timer, sleep_fired, ms, 0);
    return lvm_task_suspend(L, 0, k_sleep);
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
    return 1;
}

static int l_time(lua_State *L)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static void run_done(lvm_task *t, int ok, void *ud)
{
    (void)t;
    (void)ok;
    (void)ud;   /* task.run reports the outcome itself */
}

static int l_run(lua_State *L)
{
    int nargs = lua_gettop(L) - 1, n, rc;
    lvm_task *t;

    luaL_checktype(L, 1, LUA_TFUNCTION);
    if (lvm_task_current(L))
        return luaL_error(L, "task.run cannot be called from inside a task (use task.spawn/wait)");
    t = lvm_spawn(L, nargs, "run", run_done, NULL);
    if (!t)
        return luaL_error(L, "task.run: out of memory");
    push_handle(L, t);   /* keeps t alive while we drive the loop */
    rc = lvm_run(lvm_from_state(L), t);
    if (rc != SMOP_OK)
        return luaL_error(L, "task.run: the task waits on something that can never "
                             "happen (no pending I/O or timers)");
    n = push_outcome(L, t);    /* above the handle, which still anchors t */
    if (!lua_toboolean(L, 2))
        return lua_error(L);
    return n - 1;
}

/* Conditions. A waiter lives in malloc'd memory (its timer outlives Lua until
 * closed); the condition links its waiters, the waiting task's stack holds
 * a userdata pointing at its waiter, and each side detaches from the other. */
struct cond_waiter;

typedef struct task_cond {
    struct cond_waiter *head, *tail;
} task_cond;

struct cond_waiter {
    uv_timer_t timer;
    task_cond *cond;
    struct cond_waiter *prev, *next;
    lvm_task *task;
    struct cond_waiter **slot;
    int notified;
};

static void waiter_unlink(struct cond_waiter *w)
{
    task_cond *c = w->cond;

    if (!c)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        c->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        c->tail = w->prev;
    w->prev = w->next = NULL;
    w->cond = NULL;
}

static void waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void waiter_free(struct cond_waiter *w)
{
    waiter_unlink(w);
    if (w->slot)
        *w->slot = NULL;
    w->slot = NULL;
    w->task = NULL;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

/* Ends the wait (notified or timed out) and wakes the task once. */
static void waiter_finish(struct cond_waiter *w, int notified)
{
    lvm_task *t = w->task;

    waiter_unlink(w);
    uv_timer_stop(&w->timer);
    w->notified = notified;
    w->task = NULL;
    if (t)
        lvm_task_wake(t);
}

static void waiter_timeout(uv_timer_t *timer)
{
    waiter_finish(timer->data, 0);
}

static int waiter_gc(lua_State *L)
{
    struct cond_waiter **slot = luaL_checkudata(L, 1, WAITER_MT);

    if (*slot)
        waiter_free(*slot);
    return 0;
}

static task_cond *check_cond(lua_State *L)
{
    return luaL_checkudata(L, 1, COND_MT);
}

static int cond_gc(lua_State *L)
{
    task_cond *c = check_cond(L);

    while (c->head)
        waiter_unlink(c->head);  /* its task is gone too, or the VM closes */
    return 0;
}

static int l_condition(lua_State *L)
{
    task_cond *c = lua_newuserdatauv(L, sizeof *c, 0);

    c->head = c->tail = NULL;
    luaL_setmetatable(L, COND_MT);
    return 1;
}

static int k_cond_wait(lua_State *L, int status, lua_KContext ctx)
{
    struct cond_waiter **slot = (struct cond_waiter **)ctx;
    int notified = *slot ? (*slot)->notified : 0;

    (void)status;
    if (*slot)
        waiter_free(*slot);
    lua_pushboolean(L, notified);
    return 1;
}

static int cond_wait(lua_State *L)
{
    task_cond *c = check_cond(L);
    lua_Number seconds = luaL_optnumber(L, 2, -1);
    lvm_task *t = lvm_task_current(L);
    struct cond_waiter **slot;
    struct cond_waiter *w;

    if (!t)
        return luaL_error(L, "condition:wait must be called from a task");
    if (seconds > 1e7)
        return luaL_error(L, "condition:wait: timeout must be at most 1e7 seconds");
    lua_settop(L, 1);           /* the condition stays anchored while we wait */
    slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, WAITER_MT);
    w = calloc(1, sizeof *w);
    if (!w)
        return luaL_error(L, "condition:wait: out of memory");
    uv_timer_init(uv_default_loop(), &w->timer);
    w->timer.data = w;
    w->task = t;
    w->slot = slot;
    *slot = w;
    w->cond = c;
    w->prev = c->tail;
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    if (seconds >= 0)
        uv_timer_start(&w->timer, waiter_timeout, (uint64_t)(seconds * 1000.0 + 0.5), 0);
    return lvm_task_suspend(L, (lua_KContext)slot, k_cond_wait);
}

static int cond_notify_one(lua_State *L)
{
    task_cond *c = check_cond(L);

    if (c->head)
        waiter_finish(c->head, 1);
    return 0;
}

static int cond_notify_all(lua_State *L)
{
    task_cond *c = check_cond(L);

    while (c->head)
        waiter_finish(c->head, 1);
    return 0;
}

static int cond_waiting(lua_State *L)
{
    task_cond *c = check_cond(L);
    struct cond_waiter *w;
    lua_Integer n = 0;

    for (w = c->head; w; w = w->next)
        n++;
    lua_pushinteger(L, n);
    return 1;
}

static void register_metatable(lua_State *L, const char *name, const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, name)) {
        luaL_setfuncs(L, methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

int luaopen_smop_task(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"spawn", l_spawn}, {"wait", l_wait}, {"sleep", l_sleep}, {"now", l_now},
        {"time", l_time},   {"run", l_run},   {"condition", l_condition},
        {NULL, NULL}};
    static const luaL_Reg cond_methods[] = {
        {"wait", cond_wait},       {"notify_one", cond_notify_one},
        {"notify_all", cond_notify_all}, {"waiting", cond_waiting},
        {"__gc", cond_gc},         {NULL, NULL}};
    static const luaL_Reg waiter_methods[] = {{"__gc", waiter_gc}, {NULL, NULL}};
    static const luaL_Reg sleep_methods[] = {{"__gc", sleep_gc}, {NULL, NULL}};
    static const luaL_Reg handle_methods[] = {
        {"__gc", handle_gc}, {"__tostring", handle_tostring}, {NULL, NULL}};

    register_metatable(L, HANDLE_MT, handle_methods);
    register_metatable(L, SLEEP_MT, sleep_methods);
    register_metatable(L, COND_MT, cond_methods);
    register_metatable(L, WAITER_MT, waiter_methods);
    luaL_newlib(L, fns);
    return 1;
}
