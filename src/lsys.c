#include "lsys.h"
#include "smop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "lproc.h"
#include "lvm.h"

#define SYS_MAX_FILE ((long)64 << 20)
#define SIGNAL_MT "smop.sys.signal"
#define SYS_MAX_DIR_ENTRIES 100000
#define DIR_MT "smop.sys.dir"

static int write_to(lua_State *L, FILE *f)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);

    fwrite(s, 1, len, f);
    fflush(f);
    return 0;
}

static int l_stdout(lua_State *L) { return write_to(L, stdout); }
static int l_stderr(lua_State *L) { return write_to(L, stderr); }

static int l_getenv(lua_State *L)
{
    const char *v = getenv(luaL_checkstring(L, 1));

    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int fail(lua_State *L, const char *path, const char *why)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, why);
    return 2;
}

static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    FILE *f;
    char *dst;
    size_t got;

    if (stat(path, &st) != 0)
        return fail(L, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(L, path, "not a regular file");
    if (st.st_size > SYS_MAX_FILE)
        return fail(L, path, "larger than 64 MiB");
    /* Lua-owned buffer first, so an allocation error cannot leak the FILE. */
    dst = lua_newuserdatauv(L, (size_t)st.st_size + 1, 0);
    f = fopen(path, "rb");
    if (!f)
        return fail(L, path, strerror(errno));
    got = fread(dst, 1, (size_t)st.st_size, f);
    fclose(f);
    lua_pushlstring(L, dst, got);
    return 1;
}

static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    const char *mode = luaL_optstring(L, 3, "w");
    int private_file = lua_toboolean(L, 4);
    FILE *f;
    int fd, ok;

    if (strcmp(mode, "w") != 0 && strcmp(mode, "a") != 0)
        return luaL_error(L, "sys.write_file: mode must be \"w\" or \"a\"");
    /* private: only the owner may read it (kubeconfigs hold tokens) */
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (*mode == 'w' ? O_TRUNC : O_APPEND),
              private_file ? 0600 : 0666);
    if (fd < 0)
        return fail(L, path, strerror(errno));
    if (private_file && fchmod(fd, 0600) != 0) {
        close(fd);
        return fail(L, path, strerror(errno));
    }
    f = fdopen(fd, *mode == 'w' ? "wb" : "ab");
    if (!f) {
        close(fd);
        return fail(L, path, strerror(errno));
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return fail(L, path, "write failed");
    lua_pushboolean(L, 1);
    return 1;
}

static void dir_gc_now(DIR **d)
{
    closedir(*d);
    *d = NULL;
}

static int dir_gc(lua_State *L)
{
    DIR **d = luaL_checkudata(L, 1, DIR_MT);

    if (*d) {
        closedir(*d);
        *d = NULL;
    }
    return 0;
}

/* Sorted names in a directory (no "." or ".."). The DIR lives in a userdata
 * whose __gc closes it, so a Lua error while filling the table cannot leak. */
static int l_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR **d;
    struct dirent *ent;
    lua_Integer n = 0;

    lua_settop(L, 1);
    lua_newtable(L);                                /* 2: the names */
    d = lua_newuserdatauv(L, sizeof *d, 0);         /* 3 */
    *d = NULL;
    luaL_setmetatable(L, DIR_MT);
    if (!(*d = opendir(path)))
        return fail(L, path, strerror(errno));
    while ((ent = readdir(*d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (n == SYS_MAX_DIR_ENTRIES) {
            dir_gc_now(d);
            return fail(L, path, "more than 100000 entries");
        }
        lua_pushstring(L, ent->d_name);
        lua_rawseti(L, 2, ++n);
    }
    dir_gc_now(d);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, 2);
    lua_call(L, 1, 0);
    lua_settop(L, 2);
    return 1;
}

static int l_rename(lua_State *L)
{
    const char *from = luaL_checkstring(L, 1);
    const char *to = luaL_checkstring(L, 2);

    if (rename(from, to) != 0)
        return fail(L, to, strerror(errno));
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.wait_signal(): the task sleeps until SIGINT or SIGTERM. While one
 * waits, those signals no longer kill the process: the command decides how
 * to stop. Both handles are kept per wait and closed when it ends. */
struct signal_wait {
    uv_signal_t sig[2];
    int closing;
    int signum;
    lvm_task *task;
    struct signal_wait **slot;
};

static void signal_closed(uv_handle_t *h)
{
    struct signal_wait *w = h->data;

    if (++w->closing == 2)
        free(w);
}

static void signal_detach(struct signal_wait *w)
{
    int i;

    if (w->slot)
        *w->slot = NULL;
    w->slot = NULL;
    w->task = NULL;
    for (i = 0; i < 2; i++) {
        uv_signal_stop(&w->sig[i]);
        uv_close((uv_handle_t *)&w->sig[i], signal_closed);
    }
}

static void signal_fired(uv_signal_t *h, int signum)
{
    struct signal_wait *w = h->data;
    lvm_task *t = w->task;

    w->signum = signum;
    if (t) {
        w->task = NULL;
        lvm_task_wake(t);
    }
}

static int signal_gc(lua_State *L)
{
    struct signal_wait **slot = luaL_checkudata(L, 1, SIGNAL_MT);

    if (*slot)
        signal_detach(*slot);
    return 0;
}

static int k_signal(lua_State *L, int status, lua_KContext ctx)
{
    struct signal_wait **slot = (struct signal_wait **)ctx;
    int signum = *slot ? (*slot)->signum : 0;

    (void)status;
    if (*slot)
        signal_detach(*slot);
    lua_pushstring(L, signum == SIGINT ? "SIGINT" : signum == SIGTERM ? "SIGTERM" : "?");
    return 1;
}

static int l_wait_signal(lua_State *L)
{
    lvm_task *t = lvm_task_current(L);
    struct signal_wait **slot;
    struct signal_wait *w;
    int i;

    if (!t)
        return luaL_error(L, "sys.wait_signal must be called from a task");
    slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, SIGNAL_MT);
    w = calloc(1, sizeof *w);
    if (!w)
        return luaL_error(L, "sys.wait_signal: out of memory");
    for (i = 0; i < 2; i++) {
        uv_signal_init(uv_default_loop(), &w->sig[i]);
        w->sig[i].data = w;
        uv_signal_start(&w->sig[i], signal_fired, i == 0 ? SIGINT : SIGTERM);
    }
    w->task = t;
    w->slot = slot;
    *slot = w;
    return lvm_task_suspend(L, (lua_KContext)slot, k_signal);
}

/* sys.set_log{ format = "text"|"json", level = "debug"|"info"|"warn"|"error" }:
 * commands accept --log-format/--log-level after their name too. */
static int l_set_log(lua_State *L)
{
    const char *format, *level;
    enum log_level lv;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "format");
    lua_getfield(L, 1, "level");
    format = luaL_optstring(L, 2, NULL);
    level = luaL_optstring(L, 3, NULL);
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "--log-format must be text or json, not '%s'", format);
        return 2;
    }
    if (level && log_parse_level(level, &lv) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "--log-level must be debug, info, warn or error, not '%s'", level);
        return 2;
    }
    if (format)
        log_set_json(strcmp(format, "json") == 0);
    if (level)
        log_set_level(lv);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_is_tty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

void lsys_push(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"stdout", l_stdout},         {"stderr", l_stderr},
        {"getenv", l_getenv},         {"read_file", l_read_file},
        {"write_file", l_write_file}, {"is_tty", l_is_tty},
        {"rename", l_rename},         {"wait_signal", l_wait_signal},
        {"list_dir", l_list_dir},     {"set_log", l_set_log},
        {NULL, NULL}};

    if (luaL_newmetatable(L, SIGNAL_MT)) {
        lua_pushcfunction(L, signal_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, DIR_MT)) {
        lua_pushcfunction(L, dir_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lproc_push_run(L);
    lua_setfield(L, -2, "run");
    lua_pushliteral(L, SMOP_VERSION);
    lua_setfield(L, -2, "version");
}
