/*
 * llog.c - smop.log: log.info(msg [, fields]), log.warn, log.error, log.debug.
 * fields is a table of scalar values; keys are sorted so lines are stable.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "hostlibs.h"
#include "log.h"

#define LOG_MAX_FIELDS 32

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const log_field *)a)->key, ((const log_field *)b)->key);
}

static int log_at(lua_State *L, enum log_level level)
{
    const char *msg = luaL_checkstring(L, 1);
    log_field fields[LOG_MAX_FIELDS];
    size_t n = 0, i;

    if (!log_enabled(level))
        return 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_settop(L, 2);
        lua_newtable(L);    /* 3: anchors the converted strings */
        lua_pushnil(L);
        while (lua_next(L, 2) && n < LOG_MAX_FIELDS) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                lua_pushvalue(L, -2);
                lua_rawseti(L, 3, (lua_Integer)(2 * n + 1));
                luaL_tolstring(L, -1, NULL);
                lua_rawseti(L, 3, (lua_Integer)(2 * n + 2));
                n++;
            }
            lua_pop(L, 1);
        }
        for (i = 0; i < n; i++) {
            lua_rawgeti(L, 3, (lua_Integer)(2 * i + 1));
            fields[i].key = lua_tostring(L, -1);
            lua_rawgeti(L, 3, (lua_Integer)(2 * i + 2));
            fields[i].value = lua_tostring(L, -1);
            lua_pop(L, 2);  /* still referenced from table 3 */
        }
        qsort(fields, n, sizeof fields[0], key_cmp);
    }
    log_write(level, msg, fields, n);
    return 0;
}

static int l_debug(lua_State *L) { return log_at(L, LOG_DEBUG); }
static int l_info(lua_State *L) { return log_at(L, LOG_INFO); }
static int l_warn(lua_State *L) { return log_at(L, LOG_WARN); }
static int l_error(lua_State *L) { return log_at(L, LOG_ERROR); }

int luaopen_smop_log(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"debug", l_debug}, {"info", l_info}, {"warn", l_warn}, {"error", l_error},
        {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
