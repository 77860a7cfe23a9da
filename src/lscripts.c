/*
 * lscripts.c - smop.scripts: what the running script set holds, so a
 * status can record which version of its kind script wrote it.
 *
 *   scripts.info("kinds.trainingjob")
 *     -> { origin = "builtin" | "dir", sha256 = "<64 hex>", bytes = n,
 *          chunk = "@kinds/trainingjob.lua" }   or nil when there is no such script
 *
 *   scripts.load("kinds.trainingjob", env)
 *     -> the module's chunk compiled with env as its _ENV (a function to call
 *        with the module name), or nil when there is no such script
 *
 * A ConfigMap script set (operator.scriptset) loads the built-in kind
 * modules afresh with load, so they see the set's own require. Sources
 * stay private: a digest and a compiled chunk say what a script is and
 * does without handing one script another's text.
 */
#include <lauxlib.h>
#include <openssl/sha.h>

#include "hostlibs.h"
#include "lsandbox.h"
#include "scripts.h"

static int l_info(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    const char *name = luaL_checkstring(L, 1);
    const scripts_set *set = lsandbox_scripts(L);
    const scripts_entry *e = set ? scripts_find(set, name) : NULL;
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH];
    int i;

    if (!e) {
        lua_pushnil(L);
        return 1;
    }
    /* one-shot: no context to free, so raising is safe */
    if (!SHA256((const unsigned char *)e->source, e->len, md))
        return luaL_error(L, "scripts.info: SHA-256 failed");
    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, e->origin);
    lua_setfield(L, -2, "origin");
    lua_pushlstring(L, hex, sizeof hex);
    lua_setfield(L, -2, "sha256");
    lua_pushinteger(L, (lua_Integer)e->len);
    lua_setfield(L, -2, "bytes");
    lua_pushstring(L, e->chunk);
    lua_setfield(L, -2, "chunk");
    return 1;
}

static int l_load(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const scripts_set *set = lsandbox_scripts(L);
    const scripts_entry *e = set ? scripts_find(set, name) : NULL;

    luaL_checktype(L, 2, LUA_TTABLE);
    if (!e) {
        lua_pushnil(L);
        return 1;
    }
    if (luaL_loadbufferx(L, e->source, e->len, e->chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, 2);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

int luaopen_smop_scripts(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"info", l_info},
        {"load", l_load},
        {NULL, NULL},
    };

    luaL_newlib(L, funcs);
    return 1;
}
