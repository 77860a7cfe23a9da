/*
 * lkube.c - smop.kube: informers for Lua (the engine is kube.c).
 *
 *   kube.informer(opts)  -> inf | nil, err
 *   inf:next()           -> event | nil, "closed"     yields until one is queued
 *   inf:synced()         -> true once the first full list has been returned by next()
 *   inf:state()          -> { phase = "listing"|"watching"|"backoff"|"closed",
 *                             last_error = "..."|nil, resource_version = "...",
 *                             restarts = n, relists = n, attempts = n,
 *                             queued = n, paused = bool, synced = bool }
 *   inf:get(key)         -> the stored object for "namespace/name", or nil
 *   inf:list()           -> every stored object (an array, in no order)
 *   inf:close()          also __close and __gc; a task waiting in next() gets nil, "closed"
 *
 * opts = { server = "https://...", path = "/apis/g/v[/namespaces/ns]/plural",
 *          token = "..." | function() -> token | nil, err,
 *          token_refresh = seconds (60 when token is a function),
 *          ca_pem =, client_cert_pem =, client_key_pem = (PEM text),
 *          label_selector =, field_selector =, page_size = 500,
 *          resync = seconds (none), backoff = { base = 0.2, max = 30 },
 *          queue_bytes = 8 MiB, watch_timeout = seconds (300..600),
 *          managed_fields = false }
 *
 * event = { type = "ADDED"|"MODIFIED"|"DELETED"|"SYNC", key = "ns/name",
 *           object = table [, final_state_unknown = true] }
 * Objects are decoded with smop.json inside the task that calls next() (so
 * the VM's memory cap applies), arrays marked. The informer keeps the latest
 * object per key (its store, read with get/list): a DELETED that a relist
 * made up carries the stored object and final_state_unknown = true, and a
 * resync replays the store as SYNC events. metadata.managedFields is dropped
 * unless managed_fields = true: it is most of an object's size, and nothing
 * a controller reads. The store keeps each object as JSON text, decoded
 * afresh by get, list and SYNC: decoded tables take several times the
 * memory of the text (DESIGN: tens of thousands of objects in tens of MB),
 * and every caller gets a copy of its own to change.
 *
 * A token function is called from next(), inside the consuming task, when
 * the engine asks (every token_refresh seconds and after a 401): that task
 * holds the right to read the token file, the informer does not. It must not
 * yield; an error or nil, err keeps the old token and is reported in
 * last_error.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "hostlibs.h"
#include "kube.h"
#include "lvm.h"
#include "smop.h"

#define INFORMER_MT "smop.kube.informer"

/* uservalues of the informer userdata */
enum { UV_STORE = 1, UV_DECODE, UV_ENCODE, UV_TOKEN, UV_SYNC, UV_COUNT = UV_SYNC };

struct linf {
    kube_informer *inf;     /* NULL once closed */
    lvm_wait *wait;         /* the task in next() */
    int keep_managed;
    lua_Integer sync_pos;   /* next key of the UV_SYNC snapshot */
};

static void wake(struct linf *li)
{
    lvm_wait_wake(&li->wait);
}

static void on_notify(void *ud)
{
    wake(ud);
}

static struct linf *check_inf(lua_State *L)
{
    return luaL_checkudata(L, 1, INFORMER_MT);
}

/* ---- options ---- */

static const char *const option_names[] = {
    "server", "path", "token", "token_refresh", "ca_pem", "client_cert_pem", "client_key_pem",
    "label_selector", "field_selector", "page_size", "resync", "backoff", "queue_bytes",
    "watch_timeout", "managed_fields", NULL,
};

static void check_options(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "token_file");
    if (!lua_isnil(L, -1))
        luaL_error(L, "kube.informer: token_file is not an option: pass token = a function "
                      "that reads it (kube.client's :informer does)");
    lua_pop(L, 1);
    lvm_check_options(L, 1, option_names, "kube.informer");
}

/* Leaves the value on the stack (it anchors the string). */
static const char *opt_string(lua_State *L, int t, const char *key, size_t *len)
{
    int type = lua_getfield(L, t, key);

    if (type == LUA_TNIL)
        return NULL;
    if (type != LUA_TSTRING)
        luaL_error(L, "kube.informer: option %s must be a string", key);
    return lua_tolstring(L, -1, len);
}

static double opt_number(lua_State *L, int t, const char *key, double lo, double hi)
{
    lua_Number v;
    int isnum;

    if (lua_getfield(L, t, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    v = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(v >= lo) || v > hi)
        luaL_error(L, "kube.informer: option %s must be a number in %g..%g", key, lo, hi);
    lua_pop(L, 1);
    return v;
}

static void read_options(lua_State *L, kube_informer_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    check_options(L);
    luaL_checkstack(L, 20, NULL);
    cfg->server = opt_string(L, 1, "server", NULL);
    cfg->path = opt_string(L, 1, "path", NULL);
    if (!cfg->server || !cfg->path)
        luaL_error(L, "kube.informer: options server and path are required");
    if (cfg->path[0] != '/')
        luaL_error(L, "kube.informer: path must start with /");
    cfg->ca_pem = opt_string(L, 1, "ca_pem", &cfg->ca_pem_len);
    cfg->client_cert_pem = opt_string(L, 1, "client_cert_pem", &cfg->client_cert_pem_len);
    cfg->client_key_pem = opt_string(L, 1, "client_key_pem", &cfg->client_key_pem_len);
    cfg->label_selector = opt_string(L, 1, "label_selector", NULL);
    cfg->field_selector = opt_string(L, 1, "field_selector", NULL);
    cfg->page_size = (long)opt_number(L, 1, "page_size", 1, 100000);
    cfg->resync = opt_number(L, 1, "resync", 0, 1e7);
    cfg->queue_bytes = (size_t)opt_number(L, 1, "queue_bytes", 1, 1 << 30);
    cfg->watch_timeout = (long)opt_number(L, 1, "watch_timeout", 1, 86400);
    cfg->token_refresh = opt_number(L, 1, "token_refresh", 0, 1e7);
    if (lua_getfield(L, 1, "backoff") != LUA_TNIL) {
        int b = lua_gettop(L);

        if (!lua_istable(L, b))
            luaL_error(L, "kube.informer: option backoff must be a table {base =, max =}");
        cfg->backoff_base = opt_number(L, b, "base", 0.001, 3600);
        cfg->backoff_max = opt_number(L, b, "max", 0.001, 3600);
    }
    lua_pop(L, 1);
}

/* ---- kube.informer ---- */

static int l_informer(lua_State *L)
{
    kube_informer_config cfg;
    struct linf *li;
    char err[256];
    int ud, token_type;

    lua_settop(L, 1);
    read_options(L, &cfg);
    li = lua_newuserdatauv(L, sizeof *li, UV_COUNT);
    memset(li, 0, sizeof *li);
    luaL_setmetatable(L, INFORMER_MT);
    ud = lua_gettop(L);
    lua_newtable(L);
    lua_setiuservalue(L, ud, UV_STORE);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setiuservalue(L, ud, UV_DECODE);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_setiuservalue(L, ud, UV_ENCODE);
    lua_getfield(L, 1, "managed_fields");
    li->keep_managed = lua_toboolean(L, -1);
    lua_pop(L, 1);

    token_type = lua_getfield(L, 1, "token");
    if (token_type == LUA_TFUNCTION) {
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, ud, UV_TOKEN);
        lua_call(L, 0, 2);
        if (lua_type(L, -2) != LUA_TSTRING) {
            const char *why = lua_isstring(L, -1) ? lua_tostring(L, -1) : "no token";

            lua_pushnil(L);
            lua_pushfstring(L, "kube.informer: token: %s", why);
            return 2;
        }
        lua_pop(L, 1);
        if (cfg.token_refresh <= 0)
            cfg.token_refresh = 60;
    } else if (token_type != LUA_TNIL && token_type != LUA_TSTRING) {
        return luaL_error(L, "kube.informer: option token must be a string or a function");
    } else {
        cfg.token_refresh = 0;  /* nobody to ask */
    }
    cfg.token = lua_tostring(L, -1);
    if (kube_informer_start(&cfg, on_notify, li, &li->inf, err, sizeof err) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, ud);
    return 1;
}

/* ---- next ---- */

/* Calls the token function when the engine asks; never raises. */
static void refresh_token(lua_State *L, struct linf *li)
{
    if (!kube_informer_wants_token(li->inf))
        return;
    if (lua_getiuservalue(L, 1, UV_TOKEN) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        kube_informer_set_token(li->inf, NULL, NULL);
        return;
    }
    if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
        kube_informer_set_token(li->inf, NULL,
                                lua_isstring(L, -1) ? lua_tostring(L, -1) : "token function failed");
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -2) == LUA_TSTRING)
        kube_informer_set_token(li->inf, lua_tostring(L, -2), NULL);
    else
        kube_informer_set_token(li->inf, NULL,
                                lua_isstring(L, -1) ? lua_tostring(L, -1) : "no token");
    lua_pop(L, 2);
}

static void push_event(lua_State *L, const char *type, const char *key, size_t key_len,
                       int object)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, type);
    lua_setfield(L, -2, "type");
    lua_pushlstring(L, key, key_len);
    lua_setfield(L, -2, "key");
    lua_pushvalue(L, object);
    lua_setfield(L, -2, "object");
}

/* Replaces the stored JSON text at idx with its decoded object (a stored
 * object was an object once, so it decodes again). */
static void decode_stored(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, 1, UV_DECODE);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_replace(L, idx);
}

/* The next SYNC of a resync snapshot, if one is in progress (1 pushed). */
static int next_sync(lua_State *L, struct linf *li)
{
    int snap, store;

    if (lua_getiuservalue(L, 1, UV_SYNC) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    snap = lua_gettop(L);
    lua_getiuservalue(L, 1, UV_STORE);
    store = snap + 1;
    while (lua_rawgeti(L, snap, ++li->sync_pos) == LUA_TSTRING) {
        size_t key_len;
        const char *key = lua_tolstring(L, -1, &key_len);

        if (lua_rawget(L, store) == LUA_TSTRING) {  /* deleted since: skipped */
            decode_stored(L, -1);
            push_event(L, "SYNC", key, key_len, lua_gettop(L));
            return 1;
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_setiuservalue(L, 1, UV_SYNC);
    lua_settop(L, snap - 1);
    return 0;
}

static void start_sync(lua_State *L, struct linf *li)
{
    lua_Integer n = 0;
    int store;

    lua_getiuservalue(L, 1, UV_STORE);
    store = lua_gettop(L);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, store)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, store + 1, ++n);
    }
    lua_setiuservalue(L, 1, UV_SYNC);
    lua_pop(L, 1);
    li->sync_pos = 0;
}

static void drop_managed_fields(lua_State *L, int object)
{
    if (lua_getfield(L, object, "metadata") == LUA_TTABLE) {
        lua_pushnil(L);
        lua_setfield(L, -2, "managedFields");
    }
    lua_pop(L, 1);
}

/* Decodes the head event, updates the store, pushes the event, pops it. */
static void take_event(lua_State *L, struct linf *li, const kube_event *ev)
{
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
    int store, object;

    lua_getiuservalue(L, 1, UV_STORE);
    store = lua_gettop(L);
    lua_getiuservalue(L, 1, UV_DECODE);
    lua_pushlstring(L, ev->object, ev->object_len);
    lua_call(L, 1, 2);
    if (!lua_istable(L, -2)) {
        kube_informer_pop(li->inf); /* it would fail again */
        luaL_error(L, "kube informer: cannot decode %s: %s", ev->key,
                   lua_isstring(L, -1) ? lua_tostring(L, -1) : "not an object");
    }
    lua_pop(L, 1);
    object = lua_gettop(L);
    if (!li->keep_managed)
        drop_managed_fields(L, object);
    lua_pushlstring(L, ev->key, ev->key_len);
    if (ev->type == KUBE_DELETED) {
        if (ev->synthetic) {
            lua_pushvalue(L, -1);
            if (lua_rawget(L, store) == LUA_TSTRING) {
                decode_stored(L, -1);
                lua_replace(L, object);    /* the last state we saw */
            } else {
                lua_pop(L, 1);
            }
        }
        lua_pushnil(L);
    } else if (li->keep_managed) {
        lua_pushlstring(L, ev->object, ev->object_len);
    } else {
        lua_getiuservalue(L, 1, UV_ENCODE);   /* the text without managedFields */
        lua_pushvalue(L, object);
        lua_call(L, 1, 1);
    }
    lua_rawset(L, store);
    push_event(L, names[ev->type], ev->key, ev->key_len, object);
    if (ev->synthetic) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "final_state_unknown");
    }
    kube_informer_pop(li->inf);
}

static int next_step(lua_State *L, struct linf *li);

static int k_next(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lua_settop(L, 1);
    return next_step(L, (struct linf *)ctx);
}

static int next_step(lua_State *L, struct linf *li)
{
    kube_event ev;

    for (;;) {
        if (!li->inf) {
            lua_pushnil(L);
            lua_pushliteral(L, "closed");
            return 2;
        }
        refresh_token(L, li);
        if (next_sync(L, li))
            return 1;
        if (!kube_informer_peek(li->inf, &ev))
            break;
        if (ev.type != KUBE_RESYNC) {
            take_event(L, li, &ev);
            return 1;
        }
        kube_informer_pop(li->inf);
        start_sync(L, li);
    }
    if (li->wait)
        return luaL_error(L, "informer:next: another task is already waiting on this informer");
    if (!lvm_task_current(L))
        return luaL_error(L, "informer:next must be called from a task");
    lvm_wait_push(L, &li->wait, 1);  /* the informer stays alive while we wait */
    return lvm_task_suspend(L, (lua_KContext)li, k_next);
}

static int inf_next(lua_State *L)
{
    struct linf *li = check_inf(L);

    lua_settop(L, 1);
    return next_step(L, li);
}

/* ---- the rest ---- */

static int inf_synced(lua_State *L)
{
    struct linf *li = check_inf(L);

    lua_pushboolean(L, li->inf && kube_informer_synced(li->inf));
    return 1;
}

static int inf_state(lua_State *L)
{
    struct linf *li = check_inf(L);
    kube_informer_state st;

    lua_createtable(L, 0, 9);
    if (!li->inf) {
        lua_pushliteral(L, "closed");
        lua_setfield(L, -2, "phase");
        return 1;
    }
    kube_informer_get_state(li->inf, &st);
    lua_pushstring(L, st.phase);
    lua_setfield(L, -2, "phase");
    if (st.last_error) {
        lua_pushstring(L, st.last_error);
        lua_setfield(L, -2, "last_error");
    }
    lua_pushstring(L, st.resource_version);
    lua_setfield(L, -2, "resource_version");
    lua_pushinteger(L, (lua_Integer)st.restarts);
    lua_setfield(L, -2, "restarts");
    lua_pushinteger(L, (lua_Integer)st.relists);
    lua_setfield(L, -2, "relists");
    lua_pushinteger(L, (lua_Integer)st.attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushinteger(L, (lua_Integer)st.queued);
    lua_setfield(L, -2, "queued");
    lua_pushboolean(L, st.paused);
    lua_setfield(L, -2, "paused");
    lua_pushboolean(L, kube_informer_synced(li->inf));
    lua_setfield(L, -2, "synced");
    return 1;
}

static int inf_get(lua_State *L)
{
    check_inf(L);
    luaL_checkstring(L, 2);
    lua_getiuservalue(L, 1, UV_STORE);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TSTRING)
        decode_stored(L, -1);
    return 1;
}

static int inf_list(lua_State *L)
{
    lua_Integer n = 0;

    check_inf(L);
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, UV_STORE);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        decode_stored(L, -1);
        lua_rawseti(L, 3, ++n);
    }
    return 1;
}

static int inf_close(lua_State *L)
{
    struct linf *li = check_inf(L);

    if (li->inf) {
        kube_informer_close(li->inf);
        li->inf = NULL;
    }
    wake(li);
    return 0;
}

static int inf_gc(lua_State *L)
{
    struct linf *li = check_inf(L);

    if (li->inf)
        kube_informer_close(li->inf);
    li->inf = NULL;
    return 0;
}

static int inf_tostring(lua_State *L)
{
    struct linf *li = check_inf(L);
    kube_informer_state st;

    if (!li->inf) {
        lua_pushliteral(L, "informer (closed)");
        return 1;
    }
    kube_informer_get_state(li->inf, &st);
    lua_pushfstring(L, "informer (%s, resourceVersion %s)", st.phase, st.resource_version);
    return 1;
}

int luaopen_smop_kube(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", inf_next},   {"synced", inf_synced}, {"state", inf_state},
        {"get", inf_get},     {"list", inf_list},     {"close", inf_close},
        {NULL, NULL},
    };

    if (luaL_newmetatable(L, INFORMER_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, inf_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, inf_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, inf_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    luaopen_smop_json(L);           /* the codec of events and the store */
    lua_getfield(L, -1, "decode");
    lua_getfield(L, -2, "encode");
    lua_remove(L, -3);
    lua_pushcclosure(L, l_informer, 2);
    lua_setfield(L, -2, "informer");
    return 1;
}
