/*
 * lserver.c - smop.server: HTTP servers whose handlers are tasks.
 *
 *   server.listen(opts)   -> srv | nil, err     serves while the loop runs,
 *                                                until srv:close()
 *   srv.port, srv.url     ("http://127.0.0.1:43121")
 *   srv:close()           stops listening, drops open connections
 *
 * opts = { handler = function(req) ... end, host = "127.0.0.1", port = 0,
 *          tls = { cert = pem, key = pem }, max_body = bytes (16 MiB),
 *          max_connections = n (1000), idle_timeout = seconds (120) }
 *
 * Each request runs handler(req) as a new task, with
 *   req = { method = "GET", path = "/a%20b" (raw, no query),
 *           query = "x=1&y" (raw) | nil, args = { x = "1", y = "" } (decoded,
 *           last value wins), headers = { ["content-type"] = ... } (names
 *           lower-cased, repeats joined with ", "), body = "...",
 *           remote = "127.0.0.1:40000" }
 * and answers by returning status, headers, body (buffered, Content-Length)
 * or by streaming a chunked body:
 *   w = req:stream(status, headers)
 *   w:write(chunk)  -> true | nil, "closed"    yields while ~1 MiB is queued
 *   w:close()       ends the body (also __close, and when the handler returns)
 *   w:abort()       drops the connection mid-body (fault injection)
 *   w:buffered()    -> bytes written but not yet handed to the connection
 *   req:abort()     drops the connection without an answer
 * A handler that fails, or returns no status, answers 500 with
 * {"message": "..."} (mid-stream: the connection is dropped); it is logged.
 * Once the handler has returned, its writer is closed: writes from other
 * tasks then return nil, "closed".
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "hostlibs.h"
#include "json.h"
#include "log.h"
#include "lvm.h"
#include "smop.h"
#include "srv.h"

#define SERVER_MT "smop.server"
#define REQ_MT "smop.server.request"
#define WRITER_MT "smop.server.writer"

#define ERROR_MESSAGE_MAX 1024

static const char writer_key = 'w';  /* req[&writer_key] = the writer */

struct lsrv {
    srv *s;                  /* NULL once closed */
    lua_State *T;            /* spawns handlers; uservalue 2 (handler: 1) */
    int self_ref;            /* anchors the server while it listens */
    char url[96];
};

/* The writer userdata: one per request, anchored in the registry while
 * the handler task runs. */
struct lreq {
    srv_req *r;              /* NULL once released */
    lvm_wait *wait;          /* the task blocked in w:write */
    int anchor;
    int streaming, ended, answered;
    char what[96];           /* "GET /path", for logs */
};

/* ---- waiting writers ---- */

static void writer_wake(struct lreq *q)
{
    lvm_wait_wake(&q->wait);
}

static void on_notify(void *ud)
{
    writer_wake(ud);
}

static void release(struct lreq *q)
{
    if (q->r) {
        srv_req_release(q->r);
        q->r = NULL;
    }
    writer_wake(q);
}

/* ---- building the request ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Form decoding: '+' is a space, %XX a byte; a stray '%' stays as it is. */
static void push_decoded(lua_State *L, const char *s, size_t len)
{
    luaL_Buffer b;
    size_t i;

    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            luaL_addchar(&b, ' ');
        } else if (s[i] == '%' && i + 2 < len && hex_digit(s[i + 1]) >= 0 &&
                   hex_digit(s[i + 2]) >= 0) {
            luaL_addchar(&b, (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
            i += 2;
        } else {
            luaL_addchar(&b, s[i]);
        }
    }
    luaL_pushresult(&b);
}

static void push_args(lua_State *L, const char *q, size_t len)
{
    size_t start = 0;

    lua_newtable(L);
    while (start < len) {
        const char *amp = memchr(q + start, '&', len - start);
        size_t end = amp ? (size_t)(amp - q) : len;
        const char *eq = memchr(q + start, '=', end - start);

        if (end > start) {
            size_t klen = eq ? (size_t)(eq - (q + start)) : end - start;

            push_decoded(L, q + start, klen);
            if (eq)
                push_decoded(L, eq + 1, (size_t)(q + end - (eq + 1)));
            else
                lua_pushliteral(L, "");
            lua_settable(L, -3);
        }
        start = end + 1;
    }
}

static void push_headers(lua_State *L, const srv_request *info)
{
    size_t i;

    lua_createtable(L, 0, (int)info->nheaders);
    for (i = 0; i < info->nheaders; i++) {
        const srv_header *h = &info->headers[i];

        if (lua_getfield(L, -1, h->name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, h->value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, h->value);
        }
        lua_setfield(L, -2, h->name);
    }
}

struct spawn_ctx {
    struct lsrv *ls;
    srv_req *r;
    struct lreq *q;          /* set once anchored */
};

static void handler_done(lvm_task *t, int ok, void *ud);

/* Runs protected on the server's thread: req table, writer, task. */
static int spawn_handler(lua_State *L)
{
    struct spawn_ctx *c = lua_touserdata(L, 1);
    const srv_request *info = srv_req_info(c->r);
    const char *qmark = strchr(info->target, '?');
    size_t plen = qmark ? (size_t)(qmark - info->target) : strlen(info->target);
    char name[96];
    struct lreq *q;
    lvm_task *t;

    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ls->self_ref);
    lua_getiuservalue(L, -1, 1);          /* the handler */
    lua_remove(L, -2);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, info->method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, info->target, plen);
    lua_setfield(L, -2, "path");
    if (qmark) {
        lua_pushstring(L, qmark + 1);
        lua_setfield(L, -2, "query");
    }
    push_args(L, qmark ? qmark + 1 : "", qmark ? strlen(qmark + 1) : 0);
    lua_setfield(L, -2, "args");
    push_headers(L, info);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, info->body, info->body_len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, info->remote);
    lua_setfield(L, -2, "remote");
    luaL_setmetatable(L, REQ_MT);

    q = lua_newuserdatauv(L, sizeof *q, 0);
    memset(q, 0, sizeof *q);
    q->anchor = LUA_NOREF;
    luaL_setmetatable(L, WRITER_MT);
    snprintf(q->what, sizeof q->what, "%s %.*s", info->method, (int)plen, info->target);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, &writer_key);
    q->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    c->q = q;                             /* anchored: on_request may undo */

    snprintf(name, sizeof name, "server %.80s", q->what);
    q->r = c->r;
    srv_req_watch(c->r, on_notify, q);
    t = lvm_spawn(L, 1, name, handler_done, q);
    if (!t)
        return luaL_error(L, "out of memory");
    return 0;
}

/* {"message": msg} with status 500, or a dropped connection mid-stream. */
static void answer_error(struct lreq *q, srv_req *r, const char *what, const char *msg)
{
    static const srv_header json_type = {"Content-Type", "application/json"};
    size_t len = strlen(msg);
    char *body, *end;

    log_printf(LOG_ERROR, "server: %s: %s", what, msg);
    if (q && q->streaming) {
        srv_abort(r);
        return;
    }
    if (len > ERROR_MESSAGE_MAX)
        len = ERROR_MESSAGE_MAX;
    body = malloc(json_escaped_len(msg, len) + 16);
    if (!body) {
        srv_abort(r);
        return;
    }
    memcpy(body, "{\"message\":\"", 12);
    end = json_escape(body + 12, msg, len);
    memcpy(end, "\"}", 2);
    if (srv_respond(r, 500, &json_type, 1, body, (size_t)(end + 2 - body), NULL, 0) != SMOP_OK)
        srv_abort(r);
    free(body);
}

static void on_request(void *ud, srv_req *r)
{
    struct lsrv *ls = ud;
    lua_State *L = ls->T;
    struct spawn_ctx c = {ls, r, NULL};
    char what[96];

    lua_settop(L, 0);
    lua_pushcfunction(L, spawn_handler);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK)
        return;
    if (c.q) {
        c.q->r = NULL;
        luaL_unref(L, LUA_REGISTRYINDEX, c.q->anchor);
    }
    srv_req_watch(r, NULL, NULL);
    snprintf(what, sizeof what, "%s %s", srv_req_info(r)->method, srv_req_info(r)->target);
    answer_error(NULL, r, what, lua_tostring(L, -1) ? lua_tostring(L, -1) : "out of memory");
    lua_settop(L, 0);
    srv_req_release(r);
}

/* ---- answers ---- */

/* Reads a headers table (name -> string or number) at idx. Leaves two
 * anchors on the stack: the strings, and the array returned. */
static srv_header *read_headers(lua_State *L, int idx, const char *who, size_t *n)
{
    srv_header *h;
    int arr, i = 0, j;

    *n = 0;
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    arr = lua_gettop(L);
    if (!lua_isnoneornil(L, idx)) {
        if (!lua_istable(L, idx))
            luaL_error(L, "%s: headers must be a table", who);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            int vt = lua_type(L, -1);

            if (lua_type(L, -2) != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
                luaL_error(L, "%s: headers must map names to strings", who);
            lua_pushvalue(L, -2);
            lua_rawseti(L, arr, ++i);
            lua_tostring(L, -1);          /* a number becomes its text */
            lua_rawseti(L, arr, ++i);
        }
    }
    *n = (size_t)i / 2;
    h = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *h, 0);
    for (j = 0; j < (int)*n; j++) {
        lua_rawgeti(L, arr, 2 * j + 1);
        h[j].name = lua_tostring(L, -1);  /* arr keeps both strings alive */
        lua_rawgeti(L, arr, 2 * j + 2);
        h[j].value = lua_tostring(L, -1);
        lua_pop(L, 2);
    }
    return h;
}

static unsigned check_status(lua_State *L, int idx, const char *who)
{
    int isnum;
    lua_Integer status = lua_tointegerx(L, idx, &isnum);

    if (!isnum || status < 100 || status > 599)
        luaL_error(L, "%s: status must be an integer from 100 to 599, not %s", who,
                   luaL_typename(L, idx));
    return (unsigned)status;
}

/* Runs protected on the finished task's thread: (q, results...). */
static int finish_handler(lua_State *L)
{
    struct lreq *q = lua_touserdata(L, 1);
    const char *who = "handler's answer";
    srv_header *h;
    size_t n, len = 0;
    const char *body = NULL;
    unsigned status;
    char err[256];

    if (q->streaming) {
        if (!q->ended)
            srv_stream_end(q->r);
        return 0;
    }
    if (q->answered)
        return 0;
    if (lua_isnoneornil(L, 2))
        return luaL_error(L, "handler returned no status");
    status = check_status(L, 2, who);
    if (!lua_isnoneornil(L, 4)) {
        if (lua_type(L, 4) != LUA_TSTRING)
            return luaL_error(L, "%s: body must be a string, not %s", who, luaL_typename(L, 4));
        body = lua_tolstring(L, 4, &len);
    }
    lua_settop(L, 4);
    h = read_headers(L, 3, who, &n);
    if (srv_respond(q->r, status, h, n, body ? body : "", len, err, sizeof err) != SMOP_OK)
        return luaL_error(L, "%s: %s", who, err);
    return 0;
}

static void handler_done(lvm_task *t, int ok, void *ud)
{
    struct lreq *q = ud;
    lua_State *co = lvm_task_thread(t);
    int n = lua_gettop(co);

    if (q->r && !ok) {
        answer_error(q, q->r, q->what, lvm_task_error(t) ? lvm_task_error(t) : "out of memory");
    } else if (q->r) {
        if (n > 3)
            lua_settop(co, 3);
        n = n > 3 ? 3 : n;
        if (!lua_checkstack(co, 3)) {
            answer_error(q, q->r, q->what, "out of memory");
        } else {
            lua_pushcfunction(co, finish_handler);
            lua_pushlightuserdata(co, q);
            lua_rotate(co, 1, 2);
            if (lua_pcall(co, n + 1, 0, 0) != LUA_OK) {
                answer_error(q, q->r, q->what,
                             lua_tostring(co, -1) ? lua_tostring(co, -1) : "out of memory");
                lua_pop(co, 1);
            }
        }
    }
    release(q);
    luaL_unref(co, LUA_REGISTRYINDEX, q->anchor);
    q->anchor = LUA_NOREF;
}

/* ---- req methods ---- */

static struct lreq *req_writer(lua_State *L, const char *who)
{
    struct lreq *q;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgetp(L, 1, &writer_key);
    q = luaL_testudata(L, -1, WRITER_MT);
    if (!q)
        luaL_error(L, "%s: not a request", who);
    return q;
}

static int req_stream(lua_State *L)
{
    struct lreq *q;
    unsigned status = check_status(L, 2, "req:stream");
    int wi;
    srv_header *h;
    size_t n;
    char err[256];

    lua_settop(L, 3);
    q = req_writer(L, "req:stream");
    wi = lua_gettop(L);
    if (!q->r)
        return luaL_error(L, "req:stream: the handler has already returned");
    if (q->streaming || q->answered)
        return luaL_error(L, "req:stream: the request was already answered");
    h = read_headers(L, 3, "req:stream", &n);
    if (srv_stream_start(q->r, status, h, n, err, sizeof err) != SMOP_OK)
        return luaL_error(L, "req:stream: %s", err);
    q->streaming = 1;
    lua_pushvalue(L, wi);
    return 1;
}

static int req_abort(lua_State *L)
{
    struct lreq *q = req_writer(L, "req:abort");

    if (q->r)
        srv_abort(q->r);
    q->answered = q->ended = 1;
    return 0;
}

/* ---- writer methods ---- */

static struct lreq *check_writer(lua_State *L)
{
    return luaL_checkudata(L, 1, WRITER_MT);
}

static int push_closed(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
}

static int k_write(lua_State *L, int status, lua_KContext ctx);

static int write_wait(lua_State *L, struct lreq *q)
{
    if (!q->r || srv_req_closed(q->r))
        return push_closed(L);
    if (srv_req_buffered(q->r) <= SRV_STREAM_HIGH) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (!lvm_task_current(L))
        return luaL_error(L, "w:write must be called from a task");
    if (q->wait)
        return luaL_error(L, "w:write: another task is already waiting on this stream");
    lvm_wait_push(L, &q->wait, 1);        /* keeps the writer alive meanwhile */
    return lvm_task_suspend(L, (lua_KContext)q, k_write);
}

static int k_write(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lua_settop(L, 1);
    return write_wait(L, (struct lreq *)ctx);
}

static int writer_write(lua_State *L)
{
    struct lreq *q = check_writer(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);

    if (!q->streaming)
        return luaL_error(L, "w:write: not a stream");
    if (!q->r || q->ended || srv_stream_write(q->r, data, len) != SMOP_OK)
        return push_closed(L);
    lua_settop(L, 1);
    return write_wait(L, q);
}

static int writer_close(lua_State *L)
{
    struct lreq *q = check_writer(L);

    if (q->r && q->streaming && !q->ended)
        srv_stream_end(q->r);
    q->ended = 1;
    return 0;
}

static int writer_abort(lua_State *L)
{
    struct lreq *q = check_writer(L);

    if (q->r)
        srv_abort(q->r);
    q->ended = q->answered = 1;
    return 0;
}

static int writer_buffered(lua_State *L)
{
    struct lreq *q = check_writer(L);

    lua_pushinteger(L, q->r ? (lua_Integer)srv_req_buffered(q->r) : 0);
    return 1;
}

static int writer_gc(lua_State *L)
{
    release(check_writer(L));
    return 0;
}

/* ---- the server ---- */

static const char *const option_names[] = {
    "handler", "host", "port", "tls", "max_body", "max_connections", "idle_timeout", NULL,
};


static lua_Integer opt_integer(lua_State *L, int idx, const char *key, lua_Integer dflt,
                               lua_Integer min, lua_Integer max)
{
    int isnum;
    lua_Integer v;

    if (lua_getfield(L, idx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return dflt;
    }
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < min || v > max)
        luaL_error(L, "server.listen: option %s must be an integer from %I to %I", key, min, max);
    lua_pop(L, 1);
    return v;
}

/* Leaves the value on the stack: it anchors the string. */
static const char *opt_string(lua_State *L, int idx, const char *key, const char *who)
{
    int t = lua_getfield(L, idx, key);

    if (t == LUA_TNIL)
        return NULL;
    if (t != LUA_TSTRING)
        luaL_error(L, "%s: option %s must be a string", who, key);
    return lua_tostring(L, -1);
}

static int l_listen(lua_State *L)
{
    srv_config cfg;
    struct lsrv *ls;
    char err[256];
    int sidx;

    lvm_check_options(L, 1, option_names, "server.listen");
    lua_settop(L, 1);
    memset(&cfg, 0, sizeof cfg);
    if (lua_getfield(L, 1, "handler") != LUA_TFUNCTION)
        return luaL_error(L, "server.listen: option handler must be a function");
    cfg.host = opt_string(L, 1, "host", "server.listen");
    cfg.port = (unsigned)opt_integer(L, 1, "port", 0, 0, 65535);
    cfg.max_body = (size_t)opt_integer(L, 1, "max_body", SRV_DEFAULT_MAX_BODY, 1,
                                       (lua_Integer)1 << 40);
    cfg.max_connections = (unsigned)opt_integer(L, 1, "max_connections", 0, 1, 1000000);
    cfg.idle_timeout = (unsigned)opt_integer(L, 1, "idle_timeout", 0, 1, 1000000);
    if (lua_getfield(L, 1, "tls") != LUA_TNIL) {
        int ti = lua_gettop(L);

        if (!lua_istable(L, ti))
            return luaL_error(L, "server.listen: option tls must be a table { cert =, key = }");
        cfg.tls_cert = opt_string(L, ti, "cert", "server.listen: tls");
        cfg.tls_key = opt_string(L, ti, "key", "server.listen: tls");
        if (!cfg.tls_cert || !cfg.tls_key)
            return luaL_error(L, "server.listen: tls needs cert and key (PEM text)");
    }
    ls = lua_newuserdatauv(L, sizeof *ls, 2);
    memset(ls, 0, sizeof *ls);
    ls->self_ref = LUA_NOREF;
    luaL_setmetatable(L, SERVER_MT);
    sidx = lua_gettop(L);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, sidx, 1);
    ls->T = lua_newthread(L);
    lua_setiuservalue(L, sidx, 2);
    cfg.on_request = on_request;
    cfg.ud = ls;
    if (srv_start(&cfg, &ls->s, err, sizeof err) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    cfg.host = cfg.host ? cfg.host : "127.0.0.1";
    snprintf(ls->url, sizeof ls->url, strchr(cfg.host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
             cfg.tls_cert ? "https" : "http", cfg.host, srv_port(ls->s));
    lua_pushvalue(L, sidx);
    ls->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, sidx);
    return 1;
}

static struct lsrv *check_server(lua_State *L)
{
    return luaL_checkudata(L, 1, SERVER_MT);
}

static int server_close(lua_State *L)
{
    struct lsrv *ls = check_server(L);

    if (ls->s)
        srv_close(ls->s);
    ls->s = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, ls->self_ref);
    ls->self_ref = LUA_NOREF;
    return 0;
}

/* Only reached once closed, or when the VM closes: no unref then. */
static int server_gc(lua_State *L)
{
    struct lsrv *ls = check_server(L);

    if (ls->s)
        srv_close(ls->s);
    ls->s = NULL;
    return 0;
}

static int server_index(lua_State *L)
{
    struct lsrv *ls = check_server(L);
    const char *key = luaL_checkstring(L, 2);

    if (strcmp(key, "port") == 0) {
        lua_pushinteger(L, ls->s ? (lua_Integer)srv_port(ls->s) : 0);
        return 1;
    }
    if (strcmp(key, "url") == 0) {
        lua_pushstring(L, ls->url);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static void new_metatable(lua_State *L, const char *name, const luaL_Reg *methods,
                          lua_CFunction gc)
{
    if (luaL_newmetatable(L, name)) {
        if (methods) {
            lua_newtable(L);
            luaL_setfuncs(L, methods, 0);
            lua_setfield(L, -2, "__index");
        }
        if (gc) {
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__gc");
        }
    }
}

int luaopen_smop_server(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"listen", l_listen}, {NULL, NULL}};
    static const luaL_Reg server_methods[] = {{"close", server_close}, {NULL, NULL}};
    static const luaL_Reg req_methods[] = {
        {"stream", req_stream}, {"abort", req_abort}, {NULL, NULL}};
    static const luaL_Reg writer_methods[] = {
        {"write", writer_write}, {"close", writer_close}, {"abort", writer_abort},
        {"buffered", writer_buffered}, {NULL, NULL}};

    new_metatable(L, REQ_MT, req_methods, NULL);
    lua_pop(L, 1);
    new_metatable(L, WRITER_MT, writer_methods, writer_gc);
    lua_pushcfunction(L, writer_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pop(L, 1);
    if (luaL_newmetatable(L, SERVER_MT)) {
        luaL_newlib(L, server_methods);
        lua_pushcclosure(L, server_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, server_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
