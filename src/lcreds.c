/*
 * lcreds.c - smop.creds: the AWS credential chain (creds.h) for scripts.
 *
 *   creds.get{ profile = nil|"name", env = nil|{ NAME = "value", ... } }
 *     -> { access_key_id =, secret_access_key =, session_token = nil|"...",
 *          expiration = nil|epoch seconds, source = "environment"|
 *          "web identity"|"profile"|"container"|"imds",
 *          refresh_error = nil|"why a refresh failed (these, still valid,
 *          credentials were kept)" }
 *      | nil, "one line naming the source and what failed"
 *     Suspends the task while credentials are fetched; answers at once when
 *     they are cached and fresh. Must be called from a task.
 *   creds.region{ profile =, env = } -> "us-west-2" | nil [, err]
 *
 * `profile` names a profile explicitly: only that profile is used (see
 * creds.h). `env`, when given, replaces the process environment for that
 * provider entirely (HOME included): tests use it, and so can per-object
 * settings. One provider is kept per (profile, env) for the VM's lifetime,
 * so every caller shares its cache and its fetch in flight.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds.h"
#include "hostlibs.h"
#include "lvm.h"
#include "smop.h"

#define PROVIDER_MT "smop.creds.provider"
#define GET_MT "smop.creds.get"

static const char providers_key = 'p';   /* registry: settings key -> provider */

typedef struct lprovider {
    creds_provider *p;
} lprovider;

/* A creds_get in flight, anchored on the calling task's stack. */
typedef struct lget {
    creds_wait w;
    lvm_task *task;
    int ok;
    creds c;
    char err[1024];
} lget;

typedef struct settings {
    const char *profile;        /* NULL: the chain's own choice */
    const char **env;           /* NULL: the process environment */
} settings;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads {profile=, env=} at idx into s and pushes three values: the options
 * table (anchors the profile string), a table anchoring the env strings (or
 * nil), and the provider cache key. */
static void read_settings(lua_State *L, int idx, settings *s, const char *fn)
{
    luaL_Buffer key;
    size_t n = 0, i;

    s->profile = NULL;
    s->env = NULL;
    if (lua_isnoneornil(L, idx))
        lua_newtable(L);
    else
        lua_pushvalue(L, idx);
    luaL_argexpected(L, lua_istable(L, -1), idx, "table or nil");
    if (lua_getfield(L, -1, "profile") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
            luaL_error(L, "%s: profile must be a non-empty string", fn);
        s->profile = lua_tostring(L, -1);   /* anchored by the options table */
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "env") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: env must be a table of strings", fn);
        lua_newtable(L);        /* anchor: "NAME=value" strings and their array */
        lua_pushnil(L);
        while (lua_next(L, -3)) {
            size_t klen, vlen;
            const char *k, *v;

            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "%s: env keys and values must be strings", fn);
            k = lua_tolstring(L, -2, &klen);
            v = lua_tolstring(L, -1, &vlen);
            if (klen == 0 || strlen(k) != klen || strchr(k, '=') || strlen(v) != vlen)
                luaL_error(L, "%s: env: '%s' is not a valid variable", fn, k);
            lua_pushfstring(L, "%s=%s", k, v);
            lua_rawseti(L, -4, (lua_Integer)++n);
            lua_pop(L, 1);
        }
        s->env = lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);
        for (i = 0; i < n; i++) {
            lua_rawgeti(L, -2, (lua_Integer)i + 1);
            s->env[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        s->env[n] = NULL;
        qsort(s->env, n, sizeof(char *), cmp_str);  /* one key for equal tables */
        lua_setfield(L, -2, "array");
        lua_remove(L, -2);
    }
    luaL_buffinit(L, &key);
    luaL_addchar(&key, s->profile ? 'P' : '-');
    if (s->profile)
        luaL_addstring(&key, s->profile);
    luaL_addchar(&key, '\0');
    if (s->env) {
        luaL_addchar(&key, 'E');
        for (i = 0; s->env[i]; i++) {
            luaL_addstring(&key, s->env[i]);
            luaL_addchar(&key, '\0');
        }
    }
    luaL_pushresult(&key);
}

/* Pushes the provider for the settings key at the top (created on first use). */
static creds_provider *provider_for(lua_State *L, const settings *s)
{
    creds_config cfg;
    lprovider *lp;
    char err[256];

    lua_rawgetp(L, LUA_REGISTRYINDEX, &providers_key);
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        lp = lua_touserdata(L, -1);
        lua_remove(L, -2);
        return lp->p;
    }
    lua_pop(L, 1);
    lp = lua_newuserdatauv(L, sizeof *lp, 0);
    lp->p = NULL;
    luaL_setmetatable(L, PROVIDER_MT);
    cfg.profile = s->profile;
    cfg.env = s->env;
    lp->p = creds_provider_new(&cfg, err, sizeof err);
    if (!lp->p)
        luaL_error(L, "creds: %s", err);
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_remove(L, -2);
    return lp->p;
}

static void push_creds(lua_State *L, const creds *c, const char *warning)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, c->access_key_id);
    lua_setfield(L, -2, "access_key_id");
    lua_pushstring(L, c->secret_access_key);
    lua_setfield(L, -2, "secret_access_key");
    if (c->session_token[0]) {
        lua_pushstring(L, c->session_token);
        lua_setfield(L, -2, "session_token");
    }
    if (c->expiration) {
        lua_pushinteger(L, (lua_Integer)c->expiration);
        lua_setfield(L, -2, "expiration");
    }
    lua_pushstring(L, c->source ? c->source : "unknown");
    lua_setfield(L, -2, "source");
    if (warning) {
        lua_pushstring(L, warning);
        lua_setfield(L, -2, "refresh_error");
    }
}

static void got_creds(void *ud, const creds *c, const char *err)
{
    lget *g = ud;

    g->ok = c != NULL;
    if (c)
        g->c = *c;
    snprintf(g->err, sizeof g->err, "%s", err ? err : "");
    lvm_task_wake(g->task);
}

static int k_get(lua_State *L, int status, lua_KContext ctx)
{
    lget *g = (lget *)ctx;
    int n;

    (void)status;
    if (g->ok) {
        push_creds(L, &g->c, g->err[0] ? g->err : NULL);
        n = 1;
    } else {
        lua_pushnil(L);
        lua_pushstring(L, g->err);
        n = 2;
    }
    memset(&g->c, 0, sizeof g->c);
    return n;
}

static int get_gc(lua_State *L)
{
    lget *g = luaL_checkudata(L, 1, GET_MT);

    creds_cancel(&g->w);
    memset(&g->c, 0, sizeof g->c);
    return 0;
}

static int l_get(lua_State *L)
{
    lvm_task *t = lvm_task_current(L);
    creds_provider *p;
    const creds *hit;
    settings s;
    lget *g;
    char err[256];

    read_settings(L, 1, &s, "creds.get");
    if (!t)
        return luaL_error(L, "creds.get must be called from a task");
    p = provider_for(L, &s);
    hit = creds_peek(p, time(NULL));
    if (hit) {
        push_creds(L, hit, NULL);
        return 1;
    }
    g = lua_newuserdatauv(L, sizeof *g, 1);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, GET_MT);
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, -2, 1);   /* the provider lives while we wait on it */
    g->task = t;
    if (creds_get(p, &g->w, got_creds, g, err, sizeof err) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    /* g stays on the stack: its __gc cancels if the task goes away */
    return lvm_task_suspend(L, (lua_KContext)g, k_get);
}

static int l_region(lua_State *L)
{
    creds_config cfg;
    settings s;
    char region[128], err[512];

    read_settings(L, 1, &s, "creds.region");
    cfg.profile = s.profile;
    cfg.env = s.env;
    if (creds_region(&cfg, region, sizeof region, err, sizeof err) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    if (!region[0]) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, region);
    return 1;
}

static int provider_gc(lua_State *L)
{
    lprovider *lp = luaL_checkudata(L, 1, PROVIDER_MT);

    creds_provider_free(lp->p);
    lp->p = NULL;
    return 0;
}

int luaopen_smop_creds(lua_State *L)
{
    static const luaL_Reg fns[] = {{"get", l_get}, {"region", l_region}, {NULL, NULL}};

    if (luaL_newmetatable(L, PROVIDER_MT)) {
        lua_pushcfunction(L, provider_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, GET_MT)) {
        lua_pushcfunction(L, get_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &providers_key) != LUA_TTABLE) {
        lua_newtable(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &providers_key);
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
