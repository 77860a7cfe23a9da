/*
 * lvm.c - the Lua VM: counting allocator, CPU budget, tasks and their queue.
 * The restricted environment is built in lsandbox.c.
 */
#include "lvm.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "lsandbox.h"
#include "smop.h"

#define LVM_DEFAULT_MEM ((size_t)256 << 20)
#define LVM_DEFAULT_BUDGET 50000000L
/* The count hook fires every HOOK_STEP instructions: cheap enough to leave on,
 * fine-grained enough that a budget is overshot by at most this much. */
#define HOOK_STEP 1000
#define ERRMSG_MAX 4096

enum task_state { TASK_QUEUED, TASK_RUNNING, TASK_WAITING, TASK_DONE };

struct task_waiter {
    lvm_task *task;
    struct task_waiter *next;
};

struct lvm_task {
    lvm *vm;
    lua_State *co;
    int thread_ref;           /* registry ref anchoring co until the task is freed */
    int refs;                 /* 1 while alive + one per lvm_task_ref */
    enum task_state state;
    int nargs;                /* arguments for the first resume */
    int started;
    char *error;              /* failure message, malloc'd */
    char name[96];
    lvm_task_done_fn done;
    void *ud;
    struct task_waiter *waiters;
    lvm_task *next_ready;
    lvm_task *prev_all, *next_all;
};

struct lvm {
    lua_State *L;
    size_t mem_used;
    size_t mem_limit;
    int mem_cap_hit;          /* set by the allocator when it refused */
    long cpu_budget;
    long budget_left;
    int killing;              /* the running task is over budget */
    int closing;
    lvm_task *current;
    lvm_task *ready_head, *ready_tail;
    lvm_task *all;            /* every task not yet freed */
    uv_idle_t idle;
    int idle_active;
};

static const char vm_key = 'v';
static char host_yield_marker = 'h';

/* ---- memory ---- */

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lvm *vm = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    void *p;

    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    if (nsize > old && vm->mem_used - old + nsize > vm->mem_limit) {
        vm->mem_cap_hit = 1;
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    vm->mem_used = vm->mem_used - old + nsize;
    return p;
}

size_t lvm_mem_used(const lvm *vm) { return vm->mem_used; }
size_t lvm_mem_limit(const lvm *vm) { return vm->mem_limit; }
lua_State *lvm_state(lvm *vm) { return vm->L; }

lvm *lvm_from_state(lua_State *L)
{
    lvm *vm;

    lua_rawgetp(L, LUA_REGISTRYINDEX, &vm_key);
    vm = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return vm;
}

/* Where a thread is now, "chunk:line", for messages about it. */
static void where(lua_State *co, char *out, size_t size)
{
    lua_Debug ar;
    int level;

    for (level = 0; lua_getstack(co, level, &ar); level++) {
        if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
            snprintf(out, size, "%s:%d", ar.short_src, ar.currentline);
            return;
        }
    }
    snprintf(out, size, "?");
}

/* ---- CPU budget ---- */

static void count_hook(lua_State *L, lua_Debug *ar)
{
    lvm *vm = lvm_from_state(L);
    char at[256];

    (void)ar;
    if (!vm || !vm->current)
        return;
    vm->budget_left -= HOOK_STEP;
    if (vm->budget_left > 0 && !vm->killing)
        return;
    /* From now on every instruction of this thread raises, so a pcall in
     * the script cannot swallow the error and keep spinning. */
    vm->killing = 1;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    where(L, at, sizeof at);
    lua_pushfstring(L, "%s: CPU budget of %I instructions per resume exceeded",
                    at, (lua_Integer)vm->cpu_budget);
    lua_error(L);
}

/* ---- tasks ---- */

lua_State *lvm_task_thread(lvm_task *t) { return t->co; }
const char *lvm_task_name(const lvm_task *t) { return t->name; }
const char *lvm_task_error(const lvm_task *t) { return t->error; }
int lvm_task_done(const lvm_task *t) { return t->state == TASK_DONE; }

lvm_task *lvm_task_current(lua_State *L)
{
    lvm *vm = lvm_from_state(L);

    return vm ? vm->current : NULL;
}

void lvm_task_ref(lvm_task *t) { t->refs++; }

static void task_free(lvm_task *t)
{
    lvm *vm = t->vm;
    struct task_waiter *w, *next;

    for (w = t->waiters; w; w = next) {
        next = w->next;
        free(w);
    }
    if (t->prev_all)
        t->prev_all->next_all = t->next_all;
    else
        vm->all = t->next_all;
    if (t->next_all)
        t->next_all->prev_all = t->prev_all;
    if (!vm->closing)
        luaL_unref(vm->L, LUA_REGISTRYINDEX, t->thread_ref);
    free(t->error);
    free(t);
}

void lvm_task_unref(lvm_task *t)
{
    if (--t->refs == 0 && !t->vm->closing)
        task_free(t);
}

static void idle_cb(uv_idle_t *handle);

static void enqueue(lvm_task *t)
{
    lvm *vm = t->vm;

    t->state = TASK_QUEUED;
    t->next_ready = NULL;
    if (vm->ready_tail)
        vm->ready_tail->next_ready = t;
    else
        vm->ready_head = t;
    vm->ready_tail = t;
    if (!vm->idle_active) {
        uv_idle_start(&vm->idle, idle_cb);
        vm->idle_active = 1;
    }
}

void lvm_task_wake(lvm_task *t)
{
    if (t->state == TASK_WAITING)
        enqueue(t);
}

int lvm_task_suspend(lua_State *L, lua_KContext ctx, lua_KFunction k)
{
    lvm *vm = lvm_from_state(L);

    if (!vm || !vm->current)
        return luaL_error(L, "host call outside a task");
    vm->current->state = TASK_WAITING;
    lua_pushlightuserdata(L, &host_yield_marker);
    return lua_yieldk(L, 1, ctx, k);
}

int lvm_task_add_waiter(lvm_task *target, lvm_task *waiter)
{
    struct task_waiter *w = malloc(sizeof *w);

    if (!w)
        return SMOP_ERR;
    w->task = waiter;
    w->next = target->waiters;
    target->waiters = w;
    return SMOP_OK;
}

static int traceback_protected(lua_State *L)
{
    luaL_traceback(L, lua_touserdata(L, 1), "traceback:", 0);
    return 1;
}

/* tostring of the error object, honouring __tostring (busted's assertion
 * failures are tables). Runs protected: it may allocate. */
static int describe_error(lua_State *L)
{
    lua_State *co = lua_touserdata(L, 1);

    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    luaL_tolstring(L, -1, NULL);
    return 1;
}

static void task_set_error(lvm_task *t, int status)
{
    lvm *vm = t->vm;
    lua_State *L = vm->L;
    const char *msg = NULL;
    char at[256];
    size_t len = 0;
    int top = lua_gettop(L);

    t->error = malloc(ERRMSG_MAX);
    if (!t->error)
        return;
    if (status != LUA_ERRMEM && lua_checkstack(t->co, 1)) {
        lua_pushcfunction(L, describe_error);
        lua_pushlightuserdata(L, t->co);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK)
            msg = lua_tolstring(L, -1, &len);
    }
    if (status == LUA_ERRMEM || (vm->mem_cap_hit && msg && strcmp(msg, "not enough memory") == 0)) {
        where(t->co, at, sizeof at);
        snprintf(t->error, ERRMSG_MAX, "%s: memory cap of %zu MiB exceeded",
                 at, vm->mem_limit >> 20);
    } else if (msg) {
        if (len >= ERRMSG_MAX)
            len = ERRMSG_MAX - 1;
        memcpy(t->error, msg, len);
        t->error[len] = '\0';
    } else {
        snprintf(t->error, ERRMSG_MAX, "error (out of memory while describing it)");
    }
    lua_settop(L, top);
}

/* The failed thread's stack is still intact here: show where it was. */
static void log_traceback(lvm_task *t)
{
    lua_State *L = t->vm->L;

    lua_pushcfunction(L, traceback_protected);
    lua_pushlightuserdata(L, t->co);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK)
        log_printf(LOG_DEBUG, "task %s: %s", t->name, lua_tostring(L, -1));
    lua_pop(L, 1);
}

static void task_finish(lvm_task *t, int status)
{
    struct task_waiter *w;
    int ok = status == LUA_OK;

    t->state = TASK_DONE;
    if (!ok) {
        task_set_error(t, status);
        if (log_enabled(LOG_DEBUG) && status != LUA_ERRMEM)
            log_traceback(t);
        /* Drop the dead stack now: it may hold what blew the memory cap. */
        lua_resetthread(t->co);
    }
    for (w = t->waiters; w; w = w->next)
        lvm_task_wake(w->task);
    if (t->done)
        t->done(t, ok, t->ud);
    else if (!ok)
        log_printf(LOG_ERROR, "task %s failed: %s", t->name,
                   t->error ? t->error : "out of memory");
    lvm_task_unref(t);
}

static void task_resume(lvm_task *t)
{
    lvm *vm = t->vm;
    int nres = 0, status, nargs = 0;

    if (!t->started) {
        t->started = 1;
        nargs = t->nargs;
    }
    t->state = TASK_RUNNING;
    vm->current = t;
    vm->budget_left = vm->cpu_budget;
    vm->killing = 0;
    vm->mem_cap_hit = 0;
    status = lua_resume(t->co, NULL, nargs, &nres);
    vm->current = NULL;
    if (status == LUA_YIELD) {
        int host = nres == 1 && lua_touserdata(t->co, -1) == &host_yield_marker;
        lua_pop(t->co, nres);
        if (!host)               /* a plain yield at top level: let others run */
            enqueue(t);
        return;
    }
    task_finish(t, status);
}

static void idle_cb(uv_idle_t *handle)
{
    lvm *vm = handle->data;
    lvm_task *batch = vm->ready_head, *next;

    /* Run only what was ready when this turn started, so tasks that keep
     * yielding cannot starve I/O. */
    vm->ready_head = vm->ready_tail = NULL;
    for (; batch; batch = next) {
        next = batch->next_ready;
        batch->next_ready = NULL;
        task_resume(batch);
    }
    if (!vm->ready_head && vm->idle_active) {
        uv_idle_stop(&vm->idle);
        vm->idle_active = 0;
    }
}

lvm_task *lvm_spawn(lua_State *L, int nargs, const char *name,
                    lvm_task_done_fn done, void *ud)
{
    lvm *vm = lvm_from_state(L);
    lvm_task *t = calloc(1, sizeof *t);
    lua_State *co;

    if (!t) {
        lua_pop(L, nargs + 1);
        return NULL;
    }
    co = lua_newthread(L);
    lua_sethook(co, count_hook, LUA_MASKCOUNT, HOOK_STEP);
    t->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_xmove(L, co, nargs + 1);
    t->vm = vm;
    t->co = co;
    t->refs = 1;
    t->nargs = nargs;
    t->done = done;
    t->ud = ud;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "task");
    t->next_all = vm->all;
    if (vm->all)
        vm->all->prev_all = t;
    vm->all = t;
    enqueue(t);
    return t;
}

int lvm_run(lvm *vm, lvm_task *until)
{
    uv_loop_t *loop = uv_default_loop();

    if (until)
        lvm_task_ref(until);
    for (;;) {
        int alive;

        if (until && until->state == TASK_DONE)
            break;
        alive = uv_run(loop, UV_RUN_ONCE);
        if (!alive && !vm->ready_head && !(until && until->state == TASK_DONE)) {
            if (until) {
                lvm_task_unref(until);
                return SMOP_ERR; /* it waits on something that will never come */
            }
            break;
        }
    }
    if (until)
        lvm_task_unref(until);
    return SMOP_OK;
}

/* ---- options tables of host modules ---- */

void lvm_check_options(lua_State *L, int idx, const char *const *names, const char *who)
{
    size_t i;

    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: options are a table of names", who);
        for (i = 0; names[i]; i++)
            if (strcmp(names[i], lua_tostring(L, -1)) == 0)
                break;
        if (!names[i])
            luaL_error(L, "%s: unknown option %s", who, lua_tostring(L, -1));
    }
}

/* ---- waiters parked on an object's slot ---- */

#define WAIT_MT "smop.wait"

struct lvm_wait {
    lvm_task *task;
    lvm_wait **slot;          /* where the owner points at us, or NULL */
};

void lvm_wait_detach(lvm_wait **slot)
{
    lvm_wait *w = *slot;

    if (!w)
        return;
    *slot = NULL;
    w->slot = NULL;
}

int lvm_wait_wake(lvm_wait **slot)
{
    lvm_wait *w = *slot;

    if (!w)
        return 0;
    lvm_wait_detach(slot);
    lvm_task_wake(w->task);
    return 1;
}

/* Userdata memory outlives every finalizer even in lua_close, so the owner
 * may already be finalized here but is still readable. */
static int wait_gc(lua_State *L)
{
    lvm_wait *w = lua_touserdata(L, 1);

    if (w->slot && *w->slot == w)
        *w->slot = NULL;
    w->slot = NULL;
    return 0;
}

void lvm_wait_push(lua_State *L, lvm_wait **slot, int anchor)
{
    lvm_wait *w;

    if (anchor)
        anchor = lua_absindex(L, anchor);
    w = lua_newuserdatauv(L, sizeof *w, 1);
    w->task = lvm_task_current(L);
    w->slot = slot;
    if (luaL_newmetatable(L, WAIT_MT)) {
        lua_pushcfunction(L, wait_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (anchor) {
        lua_pushvalue(L, anchor);
        lua_setiuservalue(L, -2, 1);
    }
    *slot = w;
}

/* ---- creation ---- */

static int open_vm(lua_State *L)
{
    lvm *vm = lua_touserdata(L, 1);
    const lvm_config *cfg = lua_touserdata(L, 2);

    lua_pushlightuserdata(L, vm);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &vm_key);
    luaL_openlibs(L);
    lsandbox_open(L, cfg->sandbox, cfg->scripts, &host_yield_marker);
    return 0;
}

lvm *lvm_new(const lvm_config *cfg, char *err, size_t errlen)
{
    lvm *vm = calloc(1, sizeof *vm);

    if (!vm) {
        smop_fail(err, errlen, "lua: out of memory");
        return NULL;
    }
    vm->mem_limit = cfg->mem_limit ? cfg->mem_limit : LVM_DEFAULT_MEM;
    vm->cpu_budget = cfg->cpu_budget > 0 ? cfg->cpu_budget : LVM_DEFAULT_BUDGET;
    vm->L = lua_newstate(counting_alloc, vm);
    if (!vm->L) {
        free(vm);
        smop_fail(err, errlen, "lua: cannot create state (memory cap too small?)");
        return NULL;
    }
    uv_idle_init(uv_default_loop(), &vm->idle);
    vm->idle.data = vm;
    lua_pushcfunction(vm->L, open_vm);
    lua_pushlightuserdata(vm->L, vm);
    lua_pushlightuserdata(vm->L, (void *)cfg);
    if (lua_pcall(vm->L, 2, 0, 0) != LUA_OK) {
        smop_fail(err, errlen, "lua: cannot initialise: %s", lua_tostring(vm->L, -1));
        lvm_free(vm);
        return NULL;
    }
    return vm;
}

static void idle_closed(uv_handle_t *h)
{
    free(h->data);
}

void lvm_free(lvm *vm)
{
    lvm_task *t, *next;

    if (!vm)
        return;
    vm->closing = 1;
    lua_close(vm->L);   /* __gc of pending host calls cancels their I/O */
    for (t = vm->all; t; t = next) {
        next = t->next_all;
        task_free(t);
    }
    if (vm->idle_active)
        uv_idle_stop(&vm->idle);
    uv_close((uv_handle_t *)&vm->idle, idle_closed);
    /* Let close callbacks (ours and of cancelled I/O) run and free memory. */
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}
