/*
 * hostlibs.h - the host modules Lua scripts can require.
 *
 * Each luaopen_smop_* pushes one module table. They are registered by lvm
 * under the names listed in hostlibs.c ("smop.http", ...), available to
 * sandboxed scripts through require.
 */
#ifndef HOSTLIBS_H
#define HOSTLIBS_H

#include <lua.h>
#include <lauxlib.h>

int luaopen_smop_task(lua_State *L);   /* ltask.c: spawn, wait, sleep, clocks */
int luaopen_smop_log(lua_State *L);    /* llog.c: structured log lines */
int luaopen_smop_json(lua_State *L);   /* ljson.c: JSON with array/null marks */
int luaopen_smop_yaml(lua_State *L);   /* lyaml.c: YAML via libyaml */
int luaopen_smop_http(lua_State *L);   /* lhttp.c: async HTTP requests, streams */
int luaopen_smop_sigv4(lua_State *L);  /* lsigv4.c: SigV4 signing */
int luaopen_smop_creds(lua_State *L);  /* lcreds.c: AWS credential chain */
int luaopen_smop_server(lua_State *L); /* lserver.c: HTTP server, handlers as tasks */
int luaopen_smop_regex(lua_State *L);  /* lregex.c: PCRE2 regexes, Java dialect */
int luaopen_smop_tls(lua_State *L);    /* ltls.c: throwaway CA and server certificates */
int luaopen_smop_queue(lua_State *L);  /* lqueue.c: the reconcile work queue */
int luaopen_smop_kube(lua_State *L);   /* lkube.c: informers (list + watch) */
int luaopen_smop_scripts(lua_State *L); /* lscripts.c: what the script set holds */

/* The registry: name -> opener, NULL-terminated. */
extern const luaL_Reg hostlibs[];

#endif
