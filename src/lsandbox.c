/*
 * lsandbox.c - the restricted environment, require over the script set, and
 * host-aware coroutines.
 */
#include "lsandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "hostlibs.h"
#include "lvm.h"

static const char env_key = 'e';
static const char loaded_key = 'l';
static const char scripts_key = 's';

void lsandbox_push_env(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &env_key);
}

const scripts_set *lsandbox_scripts(lua_State *L)
{
    const scripts_set *set;

    lua_rawgetp(L, LUA_REGISTRYINDEX, &scripts_key);
    set = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return set;
}

static lua_CFunction find_hostlib(const char *name)
{
    const luaL_Reg *r;

    for (r = hostlibs; r->name; r++)
        if (strcmp(r->name, name) == 0)
            return r->func;
    return NULL;
}

/* Loads a script of the set as a function whose _ENV is the script env. */
static int load_script(lua_State *L, const scripts_entry *e)
{
    if (luaL_loadbufferx(L, e->source, e->len, e->chunk, "t") != LUA_OK)
        return lua_error(L);
    lsandbox_push_env(L);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

/* require for the sandbox: host modules, then the script set, cached. */
static int sandbox_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const scripts_set *set = lsandbox_scripts(L);
    const scripts_entry *e;
    lua_CFunction opener;

    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &loaded_key); /* 2 */
    if (lua_getfield(L, 2, name) != LUA_TNIL) {
        if (lua_touserdata(L, -1) == (void *)&loaded_key)
            return luaL_error(L, "module '%s' requires itself (loop in require)", name);
        return 1;
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, (void *)&loaded_key);  /* mark: loading */
    lua_setfield(L, 2, name);
    if ((opener = find_hostlib(name)) != NULL) {
        lua_pushcfunction(L, opener);
    } else if (set && (e = scripts_find(set, name)) != NULL) {
        load_script(L, e);
    } else {
        lua_pushnil(L);
        lua_setfield(L, 2, name);
        return luaL_error(L, "module '%s' not found (no built-in script, host module "
                             "or --scripts-dir file of that name)", name);
    }
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

/* package.searchers entry for unsandboxed mode: the script set. */
static int script_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const scripts_set *set = lsandbox_scripts(L);
    const scripts_entry *e = set ? scripts_find(set, name) : NULL;

    if (!e) {
        lua_pushfstring(L, "no script '%s' in the smop script set", name);
        return 1;
    }
    load_script(L, e);
    lua_pushstring(L, e->chunk + 1);
    return 2;
}

static int sandbox_print(lua_State *L)
{
    int n = lua_gettop(L), i;
    size_t len;
    const char *s;

    for (i = 1; i <= n; i++) {
        s = luaL_tolstring(L, i, &len);
        if (i > 1)
            fputc('\t', stdout);
        fwrite(s, 1, len, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

/* load: text chunks only, into the script environment unless told otherwise. */
static int sandbox_load(lua_State *L)
{
    int has_env = lua_gettop(L) >= 4;

    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lsandbox_push_env(L);
    lua_call(L, 4, LUA_MULTRET);
    return lua_gettop(L) - 4;
}

static int sandbox_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "count");

    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage('%s') is not allowed in scripts", opt);
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                      (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
    return 1;
}

static int bounded_rep(lua_State *L)
{
    size_t len, seplen = 0;
    lua_Integer n;

    luaL_checklstring(L, 1, &len);
    n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &seplen);
    if (n > 0 && (len + seplen) > 0 &&
        (size_t)n > LSANDBOX_MAX_REP / (len + seplen))
        return luaL_error(L, "string.rep: result larger than %d MiB",
                          (int)(LSANDBOX_MAX_REP >> 20));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Pattern functions run in C, where the CPU budget cannot stop them: bound
 * the subject so a pathological pattern stays bounded too. */
static int bounded_pattern(lua_State *L)
{
    size_t len;

    luaL_checklstring(L, 1, &len);
    if (len > LSANDBOX_MAX_PATTERN_SUBJECT && !lua_toboolean(L, 4))
        return luaL_error(L, "string pattern subject longer than %d KiB",
                          (int)(LSANDBOX_MAX_PATTERN_SUBJECT >> 10));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void wrap_string_fn(lua_State *L, int strtab, const char *name, lua_CFunction wrapper)
{
    lua_getfield(L, strtab, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, strtab, name);
}

static int strict_index(lua_State *L)
{
    return luaL_error(L, "undeclared global '%s'", lua_tostring(L, 2));
}

static int strict_newindex(lua_State *L)
{
    return luaL_error(L, "assignment to undeclared global '%s' (use local)",
                      lua_tostring(L, 2));
}

/* The host-aware coroutine functions, as Lua: a host call inside a nested
 * coroutine yields `marker` to its resumer; we yield it further up until the
 * task's own thread hands it to the loop, then pass the results back down. */
static const char coroutine_wrappers[] =
    "local HOST, co = ...\n"
    "local raw_resume, raw_yield, raw_status, raw_create = co.resume, co.yield, co.status, co.create\n"
    "local function pass(c, ok, first, ...)\n"
    "  if ok and first == HOST and raw_status(c) == 'suspended' then\n"
    "    return pass(c, raw_resume(c, raw_yield(HOST)))\n"
    "  end\n"
    "  return ok, first, ...\n"
    "end\n"
    "local function resume(c, ...) return pass(c, raw_resume(c, ...)) end\n"
    "local function unwrap(ok, ...)\n"
    "  if not ok then error((...), 0) end\n"
    "  return ...\n"
    "end\n"
    "local function wrap(f)\n"
    "  local c = raw_create(f)\n"
    "  return function(...) return unwrap(resume(c, ...)) end\n"
    "end\n"
    "co.resume, co.wrap = resume, wrap\n";

static void install_coroutine_wrappers(lua_State *L, int cotab, void *marker)
{
    if (luaL_loadbufferx(L, coroutine_wrappers, sizeof coroutine_wrappers - 1,
                         "=coroutine", "t") != LUA_OK)
        lua_error(L);
    lua_pushlightuserdata(L, marker);
    lua_pushvalue(L, cotab);
    lua_call(L, 2, 0);
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names)
{
    for (; *names; names++) {
        lua_getfield(L, from, *names);
        lua_setfield(L, to, *names);
    }
}

static void build_sandbox(lua_State *L, void *marker)
{
    static const char *const base[] = {
        "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select",
        "tonumber", "tostring", "type", "rawequal", "rawget", "rawset", "rawlen",
        "setmetatable", "getmetatable", "_VERSION", NULL};
    static const char *const os_safe[] = {"time", "clock", "date", "difftime", NULL};
    static const char *const libs[] = {"table", "math", "utf8", NULL};
    int env, g, strtab;

    lua_pushglobaltable(L);
    g = lua_gettop(L);
    lua_newtable(L);
    env = lua_gettop(L);
    copy_fields(L, g, env, base);
    copy_fields(L, g, env, libs);

    /* string: the real table, since every string's metatable points at it. */
    lua_getfield(L, g, "string");
    strtab = lua_gettop(L);
    lua_pushnil(L);
    lua_setfield(L, strtab, "dump");
    wrap_string_fn(L, strtab, "rep", bounded_rep);
    wrap_string_fn(L, strtab, "find", bounded_pattern);
    wrap_string_fn(L, strtab, "match", bounded_pattern);
    wrap_string_fn(L, strtab, "gmatch", bounded_pattern);
    wrap_string_fn(L, strtab, "gsub", bounded_pattern);
    lua_setfield(L, env, "string");
    /* Scripts must not reach (and rewrite) the shared string metatable. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    lua_newtable(L);
    lua_getfield(L, g, "os");
    copy_fields(L, lua_gettop(L), lua_gettop(L) - 1, os_safe);
    lua_pop(L, 1);
    lua_setfield(L, env, "os");

    lua_newtable(L);
    lua_getfield(L, g, "coroutine");
    {
        static const char *const co_fns[] = {"create", "resume", "yield", "status",
                                             "wrap", "isyieldable", "running",
                                             "close", NULL};
        copy_fields(L, lua_gettop(L), lua_gettop(L) - 1, co_fns);
    }
    lua_pop(L, 1);
    install_coroutine_wrappers(L, lua_gettop(L), marker);
    lua_setfield(L, env, "coroutine");

    lua_getfield(L, g, "load");
    lua_pushcclosure(L, sandbox_load, 1);
    lua_setfield(L, env, "load");
    lua_pushcfunction(L, sandbox_require);
    lua_setfield(L, env, "require");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, env, "print");
    lua_pushcfunction(L, sandbox_collectgarbage);
    lua_setfield(L, env, "collectgarbage");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");

    lua_newtable(L);
    lua_pushcfunction(L, strict_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, strict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, env);

    lua_pushvalue(L, env);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &env_key);
    lua_settop(L, g - 1);
}

static void open_unsandboxed(lua_State *L, void *marker)
{
    const luaL_Reg *r;

    lua_pushglobaltable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &env_key);
    lua_getglobal(L, "coroutine");
    install_coroutine_wrappers(L, lua_gettop(L), marker);
    lua_pop(L, 1);

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (r = hostlibs; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    lua_pop(L, 1);
    /* Our scripts come right after preload, before the file system. */
    lua_getfield(L, -1, "searchers");
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "insert");
    lua_pushvalue(L, -3);
    lua_pushinteger(L, 2);
    lua_pushcfunction(L, script_searcher);
    lua_call(L, 3, 0);
    lua_pop(L, 3);
}

void lsandbox_open(lua_State *L, int sandbox, const scripts_set *scripts,
                   void *marker)
{
    lua_pushlightuserdata(L, (void *)scripts);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &scripts_key);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &loaded_key);
    if (sandbox)
        build_sandbox(L, marker);
    else
        open_unsandboxed(L, marker);
}

int lvm_require(lua_State *L, const char *name)
{
    int unsandboxed;

    lsandbox_push_env(L);
    lua_pushglobaltable(L);
    unsandboxed = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (unsandboxed)  /* one module cache: package.loaded */
        lua_getglobal(L, "require");
    else
        lua_pushcfunction(L, sandbox_require);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    return 1;
}
