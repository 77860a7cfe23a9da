#include "lsys.h"
#include "smop.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYS_MAX_FILE ((long)64 << 20)

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
    FILE *f;
    int ok;

    if (strcmp(mode, "w") != 0 && strcmp(mode, "a") != 0)
        return luaL_error(L, "sys.write_file: mode must be \"w\" or \"a\"");
    f = fopen(path, *mode == 'w' ? "wb" : "ab");
    if (!f)
        return fail(L, path, strerror(errno));
    ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return fail(L, path, "write failed");
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
        {NULL, NULL}};

    luaL_newlib(L, fns);
    lua_pushliteral(L, SMOP_VERSION);
    lua_setfield(L, -2, "version");
}
