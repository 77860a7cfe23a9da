/*
 * lvm.h - the Lua VM: sandbox, memory cap, CPU budget and tasks.
 *
 * One lvm owns one lua_State, whose allocator counts every byte and refuses
 * to grow past cfg.mem_limit (Lua then raises "not enough memory" in whatever
 * code allocated; the VM itself survives and collects the garbage).
 *
 * Tasks. Every piece of Lua work (a reconcile, a CLI command, an HTTP handler)
 * runs as a task: a coroutine resumed by the host. A host call that waits on
 * I/O (http, sleep, credentials) suspends its task and returns to the libuv
 * loop; when the I/O completes the host wakes the task and it continues as if
 * the call had blocked. Many tasks are in flight on the one thread.
 *
 * Writing a host call that waits (the only pattern; see ltask.c for sleep):
 *
 *     static int k_done(lua_State *L, int status, lua_KContext ctx)
 *     {   struct my_op *op = (struct my_op *)ctx;  push results; return n; }
 *
 *     static int l_call(lua_State *L)
 *     {   lvm_task *t = lvm_task_current(L);      // NULL: not inside a task
 *         if (!t) return luaL_error(L, "... must be called from a task");
 *         start the I/O with op->task = t ...
 *         return lvm_task_suspend(L, (lua_KContext)op, k_done);
 *     }
 *
 *     completion callback (from the loop, never from inside Lua):
 *         lvm_task_wake(op->task);
 *
 * Rules:
 *  - lvm_task_wake never runs Lua synchronously: it queues the task and the
 *    loop resumes it on its next turn. So it is safe to call from any libuv or
 *    libcurl callback.
 *  - The continuation (k_done) runs inside the task, so it may allocate and
 *    raise Lua errors freely. Push results there, not in the I/O callback.
 *  - A task can be abandoned while it waits (its VM closes, or it is killed).
 *    Keep per-call state in a full userdata left on the C function's stack
 *    with a __gc metamethod that cancels the I/O: the stack anchors it while
 *    the task waits, and the collector cancels it if the task goes away.
 *    Objects with libuv handles must outlive __gc until their close callback:
 *    hold them by pointer from the userdata and detach (op->task = NULL).
 *  - lvm_task pointers stay valid while the task is alive; lvm_task_ref /
 *    lvm_task_unref keep one alive across a callback you do not control.
 *
 * Budget. Each resume of a task may run cfg.cpu_budget VM instructions;
 * past that the task fails with "<script>:<line>: CPU budget of N
 * instructions exceeded" and cannot catch the error (every further
 * instruction raises it again). Other tasks are unaffected.
 *
 * Sandbox (cfg.sandbox != 0): scripts see string (no dump; rep and pattern
 * subjects bounded), table, math, utf8, coroutine (host-aware: host calls
 * work inside nested coroutines), os.time/clock/date/difftime, pairs & co,
 * load of text chunks only, require of the script set and of host modules.
 * No io, debug, package, dofile, loadfile, collectgarbage. Assigning a global
 * is an error. Without the sandbox (tests, `smop test`) the full standard
 * library and package are open as well.
 */
#ifndef LVM_H
#define LVM_H

#include <lua.h>
#include <stddef.h>

#include "scripts.h"

typedef struct lvm lvm;
typedef struct lvm_task lvm_task;

typedef struct lvm_config {
    size_t mem_limit;          /* bytes; 0 = 256 MiB */
    long cpu_budget;           /* instructions per resume; 0 = 50 million */
    int sandbox;               /* 1: restricted environment */
    const scripts_set *scripts; /* modules for require; borrowed, must outlive the lvm */
} lvm_config;

/* Creates a VM. On failure returns NULL and writes why into err. */
lvm *lvm_new(const lvm_config *cfg, char *err, size_t errlen);

/* Closes the state. Tasks still waiting are abandoned (their __gc cancels). */
void lvm_free(lvm *vm);

lua_State *lvm_state(lvm *vm);
lvm *lvm_from_state(lua_State *L);

/* Bytes currently allocated by the VM, and the cap. */
size_t lvm_mem_used(const lvm *vm);
size_t lvm_mem_limit(const lvm *vm);

/* Loads module `name` from the script set (or a host module) and leaves its
 * value on the top of L's stack, like `require`. Errors are Lua errors. */
int lvm_require(lua_State *L, const char *name);

/* Called when a task ends. ok = 1: its return values are on the thread's
 * stack (lvm_task_thread, from index 1); ok = 0: lvm_task_error(t) holds the
 * message (with script and line). The callback runs on the loop, outside Lua;
 * it may wake or spawn tasks (both only queue). */
typedef void (*lvm_task_done_fn)(lvm_task *t, int ok, void *ud);

/* Starts a task: pops a function and nargs arguments from L (the VM's main
 * state or any thread of it) and queues the task to run on the next loop
 * turn. `name` (copied) appears in logs and errors. done may be NULL: then
 * a failure is logged. Returns NULL only if memory is exhausted (the function
 * and arguments are popped either way). */
lvm_task *lvm_spawn(lua_State *L, int nargs, const char *name,
                    lvm_task_done_fn done, void *ud);

/* The task running on L (or on a coroutine nested in it), or NULL. */
lvm_task *lvm_task_current(lua_State *L);

/* Suspends the current task from a lua_CFunction; see the pattern above.
 * Use as `return lvm_task_suspend(L, ctx, k);`. */
int lvm_task_suspend(lua_State *L, lua_KContext ctx, lua_KFunction k);

/* Queues a suspended task to be resumed on the next loop turn. */
void lvm_task_wake(lvm_task *t);

lua_State *lvm_task_thread(lvm_task *t);
/* NULL while running or after success; the failure message otherwise. */
const char *lvm_task_error(const lvm_task *t);
int lvm_task_done(const lvm_task *t);
const char *lvm_task_name(const lvm_task *t);
void lvm_task_ref(lvm_task *t);
/* Wakes `waiter` when `target` finishes (for task.wait). */
int lvm_task_add_waiter(lvm_task *target, lvm_task *waiter);
void lvm_task_unref(lvm_task *t);

/* Parking a task on an object's slot: a stream's reader waiting for a line,
 * a writer waiting for room. The object keeps `lvm_wait *slot` (NULL when
 * nobody waits).
 *  - lvm_wait_push(L, &obj->slot, anchor) binds the current task, pushes
 *    the waiter (a userdata to leave on the stack while the task waits),
 *    and keeps the value at stack index `anchor` (the object's own
 *    userdata; 0 for none) alive meanwhile. Then suspend the task.
 *  - lvm_wait_wake(&obj->slot) wakes the waiter, if any, and empties the
 *    slot; safe from any loop callback.
 *  - lvm_wait_detach(&obj->slot) empties it without waking (object gone).
 * If the waiting task is abandoned, the waiter's __gc empties the slot.
 * Errors are Lua errors (call from a lua_CFunction). */
typedef struct lvm_wait lvm_wait;
void lvm_wait_push(lua_State *L, lvm_wait **slot, int anchor);
int lvm_wait_wake(lvm_wait **slot);
void lvm_wait_detach(lvm_wait **slot);

/* For host modules taking an options table at `idx`: raises "<who>: unknown
 * option X" for any key not in `names` (NULL-terminated), so a typo in a
 * script fails loudly instead of being ignored. */
void lvm_check_options(lua_State *L, int idx, const char *const *names, const char *who);

/* Runs the libuv loop until `until` has finished (or, if NULL, until nothing
 * is left to do). Returns SMOP_OK, or SMOP_ERR if the loop stopped first. */
int lvm_run(lvm *vm, lvm_task *until);

#endif
