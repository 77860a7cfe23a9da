#include "lproc.h"

#include <dirent.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lvm.h"
#include "smop.h"

#define PROC_MT "smop.sys.proc"
#define PROC_MAX_STDOUT ((size_t)1 << 20)
#define PROC_STDERR_KEEP 1024
#define PROC_READ_CHUNK 16384
#define PROC_DEFAULT_TIMEOUT 60.0
#define PROC_MAX_TIMEOUT 86400.0
#define PROC_HANDLES 4

extern char **environ;

/* One run. Lives in malloc'd memory because its libuv handles must outlive
 * the Lua userdata (slot) that points at it: freed when the last of the
 * PROC_HANDLES handles has closed. */
struct proc_op {
    uv_process_t proc;
    uv_pipe_t out;
    uv_pipe_t err;
    uv_timer_t timer;
    int open_handles;
    int closing;
    int spawned;
    int exited, out_eof, err_eof;
    int timed_out, overflow, nomem, done;
    int64_t exit_status;
    int term_signal;
    double timeout;
    char *out_buf;
    size_t out_len, out_cap;
    char err_tail[PROC_STDERR_KEEP];   /* the last bytes of stderr */
    size_t err_len;
    int err_cut;                       /* earlier stderr bytes were dropped */
    char scratch[PROC_READ_CHUNK];
    lvm_task *task;
    struct proc_op **slot;             /* the userdata's pointer to us, or NULL */
};

static void proc_closed(uv_handle_t *h)
{
    struct proc_op *op = h->data;

    if (--op->open_handles == 0) {
        free(op->out_buf);
        free(op);
    }
}

/* SIGKILL to the program's process group (it is the leader: setsid), so
 * children it started die too. Only while the group can still exist: the
 * program has not been reaped, or one of its children holds a pipe open. */
static void proc_kill(struct proc_op *op)
{
    if (!op->spawned)
        return;
    if (!op->exited || !op->out_eof || !op->err_eof)
        kill(-op->proc.pid, SIGKILL);
    if (!op->exited)
        uv_process_kill(&op->proc, SIGKILL);
}

/* Forgets the task and the userdata, kills what still runs, and closes the
 * handles; the memory goes with the last close callback. */
static void proc_detach(struct proc_op *op)
{
    if (op->slot)
        *op->slot = NULL;
    op->slot = NULL;
    op->task = NULL;
    if (op->closing)
        return;
    op->closing = 1;
    proc_kill(op);
    uv_close((uv_handle_t *)&op->proc, proc_closed);
    uv_close((uv_handle_t *)&op->out, proc_closed);
    uv_close((uv_handle_t *)&op->err, proc_closed);
    uv_close((uv_handle_t *)&op->timer, proc_closed);
}

/* Wakes the task once the program has exited and its output is complete
 * (both pipes at EOF), or it exited after a kill of ours. */
static void proc_maybe_finish(struct proc_op *op)
{
    lvm_task *t = op->task;

    if (op->done || !op->exited)
        return;
    if (!(op->out_eof && op->err_eof) && !op->timed_out && !op->overflow && !op->nomem)
        return;
    op->done = 1;
    uv_timer_stop(&op->timer);
    uv_read_stop((uv_stream_t *)&op->out);
    uv_read_stop((uv_stream_t *)&op->err);
    op->task = NULL;
    if (t)
        lvm_task_wake(t);
}

static void proc_exited(uv_process_t *p, int64_t status, int term_signal)
{
    struct proc_op *op = p->data;

    op->exited = 1;
    op->exit_status = status;
    op->term_signal = term_signal;
    proc_maybe_finish(op);
}

static void proc_timed_out(uv_timer_t *timer)
{
    struct proc_op *op = timer->data;

    op->timed_out = 1;
    proc_kill(op);
    proc_maybe_finish(op);
}

static void proc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct proc_op *op = h->data;

    (void)suggested;
    buf->base = op->scratch;
    buf->len = sizeof op->scratch;
}

static int out_append(struct proc_op *op, const char *p, size_t n)
{
    size_t cap = op->out_cap ? op->out_cap : 4096;
    char *grown;

    if (op->out_len + n > PROC_MAX_STDOUT) {
        op->overflow = 1;
        return SMOP_ERR;
    }
    while (cap < op->out_len + n)
        cap *= 2;
    if (cap > PROC_MAX_STDOUT)
        cap = PROC_MAX_STDOUT;
    if (cap != op->out_cap) {
        grown = realloc(op->out_buf, cap);
        if (!grown) {
            op->nomem = 1;
            return SMOP_ERR;
        }
        op->out_buf = grown;
        op->out_cap = cap;
    }
    memcpy(op->out_buf + op->out_len, p, n);
    op->out_len += n;
    return SMOP_OK;
}

static void err_keep_tail(struct proc_op *op, const char *p, size_t n)
{
    size_t drop;

    if (n >= PROC_STDERR_KEEP) {
        op->err_cut = op->err_cut || op->err_len > 0 || n > PROC_STDERR_KEEP;
        memcpy(op->err_tail, p + n - PROC_STDERR_KEEP, PROC_STDERR_KEEP);
        op->err_len = PROC_STDERR_KEEP;
        return;
    }
    if (op->err_len + n > PROC_STDERR_KEEP) {
        drop = op->err_len + n - PROC_STDERR_KEEP;
        memmove(op->err_tail, op->err_tail + drop, op->err_len - drop);
        op->err_len -= drop;
        op->err_cut = 1;
    }
    memcpy(op->err_tail + op->err_len, p, n);
    op->err_len += n;
}

static void proc_read_out(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct proc_op *op = s->data;

    if (nread > 0 && out_append(op, buf->base, (size_t)nread) != SMOP_OK) {
        /* the program may block writing to a pipe nobody reads: kill it */
        proc_kill(op);
        nread = UV_EOF;
    }
    if (nread < 0) {
        op->out_eof = 1;
        uv_read_stop(s);
        proc_maybe_finish(op);
    }
}

static void proc_read_err(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct proc_op *op = s->data;

    if (nread > 0)
        err_keep_tail(op, buf->base, (size_t)nread);
    if (nread < 0) {
        op->err_eof = 1;
        uv_read_stop(s);
        proc_maybe_finish(op);
    }
}

static int proc_gc(lua_State *L)
{
    struct proc_op **slot = luaL_checkudata(L, 1, PROC_MT);

    if (*slot)
        proc_detach(*slot);
    return 0;
}

/* Pushes what stderr ended with on one line: whitespace and control
 * characters become single spaces; "..." marks a cut. */
static void push_stderr_line(lua_State *L, const struct proc_op *op)
{
    luaL_Buffer b;
    size_t i = 0, n = op->err_len;
    int space = 0;

    /* a cut may split a UTF-8 sequence: skip its continuation bytes */
    if (op->err_cut)
        while (i < n && ((unsigned char)op->err_tail[i] & 0xC0) == 0x80)
            i++;
    while (n > i && ((unsigned char)op->err_tail[n - 1] <= ' ' || op->err_tail[n - 1] == 0x7f))
        n--;
    while (i < n && ((unsigned char)op->err_tail[i] <= ' ' || op->err_tail[i] == 0x7f))
        i++;
    luaL_buffinit(L, &b);
    if (op->err_cut && i < n)
        luaL_addstring(&b, "...");
    for (; i < n; i++) {
        unsigned char c = (unsigned char)op->err_tail[i];

        if (c <= ' ' || c == 0x7f) {
            space = 1;
            continue;
        }
        if (space)
            luaL_addchar(&b, ' ');
        space = 0;
        luaL_addchar(&b, (char)c);
    }
    luaL_pushresult(&b);
}

static int push_failure(lua_State *L, const char *reason)
{
    lua_pushnil(L);
    lua_insert(L, -2);
    lua_pushstring(L, reason);
    return 3;
}

/* "exit status 1" or "killed by signal 9", then ": <stderr>" if any. */
static int push_exit_failure(lua_State *L, const struct proc_op *op)
{
    int sig = op->term_signal;

    if (sig)
        lua_pushfstring(L, "killed by signal %d", sig);
    else
        lua_pushfstring(L, "exit status %d", (int)op->exit_status);
    push_stderr_line(L, op);
    if (lua_rawlen(L, -1) > 0) {
        lua_pushliteral(L, ": ");
        lua_insert(L, -2);
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
    }
    return push_failure(L, sig ? "signal" : "exit");
}

static int k_run(lua_State *L, int status, lua_KContext ctx)
{
    struct proc_op **slot = (struct proc_op **)ctx;
    struct proc_op *op = *slot;
    char secs[32];
    int n;

    (void)status;   /* the userdata at ctx is on our stack: op is still ours */
    if (op->timed_out) {
        snprintf(secs, sizeof secs, "%g", op->timeout);
        lua_pushfstring(L, "timed out after %s s", secs);
        n = push_failure(L, "timeout");
    } else if (op->overflow) {
        lua_pushliteral(L, "printed more than 1 MiB on stdout");
        n = push_failure(L, "output");
    } else if (op->nomem) {
        lua_pushliteral(L, "out of memory reading its output");
        n = push_failure(L, "output");
    } else if (op->term_signal || op->exit_status != 0) {
        n = push_exit_failure(L, op);
    } else {
        lua_pushlstring(L, op->out_buf ? op->out_buf : "", op->out_len);
        n = 1;
    }
    proc_detach(op);
    return n;
}

/* A NUL-free string at idx (execve would cut it short silently). */
static const char *check_cstring(lua_State *L, int idx, const char *what)
{
    size_t len;
    const char *s;

    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "sys.run: %s must be a string", what);
    s = lua_tolstring(L, idx, &len);
    if (strlen(s) != len)
        luaL_error(L, "sys.run: %s contains a NUL byte", what);
    return s;
}

/* argv for execvp, in a userdata pushed on the stack; the strings belong to
 * the args table at args_idx (alive for the whole call). */
static char **build_argv(lua_State *L, const char *command, int args_idx)
{
    size_t n = 0, i;
    char **argv;

    if (!lua_isnoneornil(L, args_idx)) {
        luaL_checktype(L, args_idx, LUA_TTABLE);
        n = lua_rawlen(L, args_idx);
    }
    if (n > 4096)
        luaL_error(L, "sys.run: more than 4096 arguments");
    argv = lua_newuserdatauv(L, (n + 2) * sizeof *argv, 0);
    argv[0] = (char *)command;
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, args_idx, (lua_Integer)i);
        argv[i] = (char *)check_cstring(L, -1, "each argument");
        lua_pop(L, 1);   /* still referenced by the table */
    }
    argv[n + 1] = NULL;
    return argv;
}

/* The environment: ours, minus the names vars overrides, plus vars. The
 * "NAME=value" strings are kept in a table pushed below the array, which is
 * pushed last (a userdata). Returns NULL (and pushes two nils) if vars is
 * absent: the child inherits our environment. */
static char **build_env(lua_State *L, int vars_idx)
{
    size_t nours = 0, nvars = 0, i, k = 0;
    int strings;
    char **envp;

    if (lua_isnoneornil(L, vars_idx)) {
        lua_pushnil(L);
        lua_pushnil(L);
        return NULL;
    }
    luaL_checktype(L, vars_idx, LUA_TTABLE);
    while (environ[nours])
        nours++;
    lua_pushnil(L);
    while (lua_next(L, vars_idx)) {
        lua_pop(L, 1);
        if (++nvars > 4096)
            luaL_error(L, "sys.run: more than 4096 environment variables");
    }
    lua_newtable(L);
    strings = lua_gettop(L);
    envp = lua_newuserdatauv(L, (nours + nvars + 1) * sizeof *envp, 0);
    for (i = 0; i < nours; i++) {
        const char *eq = strchr(environ[i], '=');

        if (eq) {
            lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
            if (lua_rawget(L, vars_idx) != LUA_TNIL) {
                lua_pop(L, 1);
                continue;
            }
            lua_pop(L, 1);
        }
        envp[k++] = environ[i];
    }
    lua_pushnil(L);
    while (lua_next(L, vars_idx)) {
        const char *name, *value;

        name = check_cstring(L, -2, "an environment variable name");
        value = check_cstring(L, -1, "an environment variable value");
        if (!*name || strchr(name, '='))
            luaL_error(L, "sys.run: environment variable name '%s' is empty or has '='", name);
        lua_pushfstring(L, "%s=%s", name, value);
        envp[k++] = (char *)lua_tostring(L, -1);
        lua_rawseti(L, strings, (lua_Integer)k);   /* keeps the string alive */
        lua_pop(L, 1);
    }
    envp[k] = NULL;
    return envp;
}

static double check_timeout(lua_State *L, int opts_idx)
{
    static const char *const names[] = {"timeout", NULL};
    double timeout = PROC_DEFAULT_TIMEOUT;

    if (lua_isnoneornil(L, opts_idx))
        return timeout;
    luaL_checktype(L, opts_idx, LUA_TTABLE);
    lvm_check_options(L, opts_idx, names, "sys.run");
    if (lua_getfield(L, opts_idx, "timeout") != LUA_TNIL) {
        timeout = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(timeout > 0) || timeout > PROC_MAX_TIMEOUT)
            luaL_error(L, "sys.run: timeout must be a number of seconds in (0, 86400]");
    }
    lua_pop(L, 1);
    return timeout;
}

/* Not every descriptor of ours is close-on-exec (libcurl's sockets, some
 * inherited from our parent): mark them all, so a plugin, or a daemon it
 * leaves behind, holds none of them. Linux lists them in /proc; elsewhere
 * this does nothing. */
static void mark_cloexec(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *ent;
    int fd, flags;

    if (!d)
        return;
    while ((ent = readdir(d)) != NULL) {
        fd = atoi(ent->d_name);
        if (fd <= 2 || fd == dirfd(d))
            continue;
        flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    closedir(d);
}

static int spawn_failure(lua_State *L, const char *command, int rc)
{
    if (rc == UV_ENOENT) {
        lua_pushstring(L, strchr(command, '/') ? "no such file" : "not found in PATH");
        return push_failure(L, "notfound");
    }
    lua_pushstring(L, rc == UV_EACCES ? "permission denied" : uv_strerror(rc));
    return push_failure(L, "spawn");
}

static int l_run(lua_State *L)
{
    lvm_task *t = lvm_task_current(L);
    const char *command = check_cstring(L, 1, "command");
    uv_stdio_container_t stdio[3];
    uv_process_options_t po;
    struct proc_op **slot;
    struct proc_op *op;
    double timeout;
    char **argv, **envp;
    int rc;

    if (!t)
        return luaL_error(L, "sys.run must be called from a task");
    /* checked before anything starts: a program nobody waits for would run on */
    if (!lua_isyieldable(L))
        return luaL_error(L, "sys.run cannot wait here (called through C, e.g. from a metamethod)");
    if (!*command)
        return luaL_error(L, "sys.run: command is empty");
    timeout = check_timeout(L, 4);
    lua_settop(L, 4);
    argv = build_argv(L, command, 2);      /* 5 */
    envp = build_env(L, 3);                /* 6, 7 */
    slot = lua_newuserdatauv(L, sizeof *slot, 0);   /* 8 */
    *slot = NULL;
    luaL_setmetatable(L, PROC_MT);
    op = calloc(1, sizeof *op);
    if (!op)
        return luaL_error(L, "sys.run: out of memory");
    op->timeout = timeout;
    op->open_handles = PROC_HANDLES;
    op->slot = slot;
    *slot = op;
    uv_pipe_init(uv_default_loop(), &op->out, 0);
    uv_pipe_init(uv_default_loop(), &op->err, 0);
    uv_timer_init(uv_default_loop(), &op->timer);
    op->proc.data = op->out.data = op->err.data = op->timer.data = op;

    memset(&po, 0, sizeof po);
    memset(stdio, 0, sizeof stdio);
    stdio[0].flags = UV_IGNORE;   /* libuv opens /dev/null for it */
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&op->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&op->err;
    po.file = command;
    po.args = argv;
    po.env = envp;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = proc_exited;
    po.flags = UV_PROCESS_DETACHED;   /* setsid: a group to kill */
    mark_cloexec();
    /* uv_spawn initializes op->proc whatever happens, so it can be closed */
    rc = uv_spawn(uv_default_loop(), &op->proc, &po);
    op->proc.data = op;
    if (rc != 0) {
        proc_detach(op);
        return spawn_failure(L, command, rc);
    }
    op->spawned = 1;
    uv_read_start((uv_stream_t *)&op->out, proc_alloc, proc_read_out);
    uv_read_start((uv_stream_t *)&op->err, proc_alloc, proc_read_err);
    uv_timer_start(&op->timer, proc_timed_out, (uint64_t)(timeout * 1000.0 + 0.5), 0);
    op->task = t;
    return lvm_task_suspend(L, (lua_KContext)slot, k_run);
}

void lproc_push_run(lua_State *L)
{
    if (luaL_newmetatable(L, PROC_MT)) {
        lua_pushcfunction(L, proc_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_run);
}
