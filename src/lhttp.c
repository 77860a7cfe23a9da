/*
 * lhttp.c - smop.http: HTTP requests and line streams for tasks.
 *
 *   http.request(opts)  -> res | nil, err        yields until the response
 *   http.stream(opts)   -> stream | nil, err     yields until status + headers
 *   stream.status, stream.headers
 *   stream:read_line()  -> line | nil (end of body) | nil, err
 *                                                yields while none is buffered
 *   stream:buffered()   -> bytes of lines queued, not yet read
 *   stream:close()      cancels (also __close and __gc)
 *   http.in_flight()    -> calls in flight (all VMs)
 *
 * opts = { url =, method = "GET", headers = { Name = "value" }, body =,
 *          timeout = s, connect_timeout = s, max_response = bytes,
 *          ca_file =, ca_pem =, client_cert =, client_key =,
 *          client_cert_pem =, client_key_pem = }
 * res = { status = 200, headers = { ["content-type"] = "..." }, body = "..." }
 *
 * HTTP error statuses are answers, not failures; nil, err means no answer
 * (or a broken one). Response header names are lower-cased; repeated
 * headers are joined with ", ". A stream queues at most ~1 MiB of lines and
 * pauses the transfer until the reader catches up.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "hostlibs.h"
#include "http.h"
#include "lvm.h"
#include "smop.h"

#define REQUEST_MT "smop.http.request"
#define STREAM_MT "smop.http.stream"

#define QUEUE_HIGH ((size_t)1 << 20)   /* pause the transfer past this */
#define QUEUE_LOW ((size_t)256 << 10)  /* resume it below this */

/* Response status and headers, copied out of an http callback. */
struct head {
    long status;
    char *packed;           /* "name\0value\0" * n */
    size_t n;
};

static int head_copy(struct head *h, const http_response *res)
{
    size_t i, total = 0;
    char *p;

    h->status = res->status;
    for (i = 0; i < res->nheaders; i++)
        total += strlen(res->headers[i].name) + strlen(res->headers[i].value) + 2;
    if (!total)
        return SMOP_OK;
    p = h->packed = malloc(total);
    if (!p)
        return SMOP_ERR;
    for (i = 0; i < res->nheaders; i++) {
        size_t a = strlen(res->headers[i].name) + 1, b = strlen(res->headers[i].value) + 1;
        memcpy(p, res->headers[i].name, a);
        memcpy(p + a, res->headers[i].value, b);
        p += a + b;
    }
    h->n = res->nheaders;
    return SMOP_OK;
}

static void head_free(struct head *h)
{
    free(h->packed);
    h->packed = NULL;
    h->n = 0;
}

static void push_headers(lua_State *L, const struct head *h)
{
    const char *p = h->packed;
    size_t i;

    lua_createtable(L, 0, (int)h->n);
    for (i = 0; i < h->n; i++) {
        const char *name = p, *value = p + strlen(p) + 1;

        p = value + strlen(value) + 1;
        if (lua_getfield(L, -1, name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, value);
        }
        lua_setfield(L, -2, name);
    }
}

/* ---- options ---- */

static const char *const option_names[] = {
    "url", "method", "headers", "body", "timeout", "connect_timeout", "max_response",
    "ca_file", "ca_pem", "client_cert", "client_key", "client_cert_pem", "client_key_pem",
    NULL,
};

/* Leaves the value on the stack: it anchors the string while we use it. */
static const char *opt_string(lua_State *L, const char *key, size_t *len)
{
    int t = lua_getfield(L, 1, key);

    if (t == LUA_TNIL)
        return NULL;
    if (t != LUA_TSTRING)
        luaL_error(L, "http: option %s must be a string", key);
    return lua_tolstring(L, -1, len);
}

static long opt_ms(lua_State *L, const char *key)
{
    lua_Number s;
    int isnum;

    if (lua_getfield(L, 1, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    s = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(s > 0) || s > 1e6)
        luaL_error(L, "http: option %s must be seconds between 0 and 1e6", key);
    lua_pop(L, 1);
    return s * 1000 < 1 ? 1 : (long)(s * 1000 + 0.5);
}


/* Fills req from the options table at index 1; pushes anchors. */
static void read_options(lua_State *L, http_request *req)
{
    http_header *h;
    size_t n = 0;
    int hidx;

    lvm_check_options(L, 1, option_names, "http");
    luaL_checkstack(L, 20, NULL);
    memset(req, 0, sizeof *req);
    req->url = opt_string(L, "url", NULL);
    if (!req->url)
        luaL_error(L, "http: option url is required");
    req->method = opt_string(L, "method", NULL);
    req->body = opt_string(L, "body", &req->body_len);
    req->ca_file = opt_string(L, "ca_file", NULL);
    req->ca_pem = opt_string(L, "ca_pem", &req->ca_pem_len);
    req->client_cert = opt_string(L, "client_cert", NULL);
    req->client_key = opt_string(L, "client_key", NULL);
    req->client_cert_pem = opt_string(L, "client_cert_pem", &req->client_cert_pem_len);
    req->client_key_pem = opt_string(L, "client_key_pem", &req->client_key_pem_len);
    req->timeout_ms = opt_ms(L, "timeout");
    req->connect_timeout_ms = opt_ms(L, "connect_timeout");
    if (lua_getfield(L, 1, "max_response") != LUA_TNIL) {
        lua_Integer max = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -1) || max < 1)
            luaL_error(L, "http: option max_response must be a positive integer");
        req->max_response = (size_t)max;
    }
    lua_pop(L, 1);

    if (lua_getfield(L, 1, "headers") == LUA_TNIL)
        return;
    if (!lua_istable(L, -1))
        luaL_error(L, "http: option headers must be a table");
    hidx = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, hidx)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "http: headers must map names to string values");
        lua_pop(L, 1);
        n++;
    }
    if (!n)
        return;
    h = lua_newuserdatauv(L, n * sizeof *h, 0);
    req->headers = h;
    req->nheaders = n;
    lua_pushnil(L);
    while (lua_next(L, hidx)) {
        /* the headers table anchors both strings */
        h->name = lua_tostring(L, -2);
        h->value = lua_tostring(L, -1);
        h++;
        lua_pop(L, 1);
    }
}

/* ---- http.request ---- */

struct lreq {
    http_call *call;
    lvm_task *task;
    struct head head;
    char *body;
    size_t body_len;
    char *error;
    int oom;
};

static void req_done(void *ud, const http_response *res)
{
    struct lreq *r = ud;

    r->call = NULL;
    if (res->error) {
        r->error = strdup(res->error);
        r->oom = !r->error;
    } else {
        r->body = malloc(res->body_len + 1);
        r->oom = !r->body || head_copy(&r->head, res) != SMOP_OK;
        if (r->body)
            memcpy(r->body, res->body, res->body_len);
        r->body_len = res->body_len;
    }
    lvm_task_wake(r->task);
}

static void req_clear(struct lreq *r)
{
    if (r->call)
        http_cancel(r->call);
    r->call = NULL;
    head_free(&r->head);
    free(r->body);
    free(r->error);
    r->body = r->error = NULL;
}

static int req_gc(lua_State *L)
{
    req_clear(luaL_checkudata(L, 1, REQUEST_MT));
    return 0;
}

static int k_request(lua_State *L, int status, lua_KContext ctx)
{
    struct lreq *r = (struct lreq *)ctx;

    (void)status;
    if (r->oom || r->error) {
        lua_pushnil(L);
        lua_pushstring(L, r->oom ? "http: out of memory" : r->error);
        req_clear(r);
        return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, r->head.status);
    lua_setfield(L, -2, "status");
    push_headers(L, &r->head);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body, r->body_len);
    lua_setfield(L, -2, "body");
    req_clear(r);
    return 1;
}

static int l_request(lua_State *L)
{
    lvm_task *t = lvm_task_current(L);
    http_request req;
    struct lreq *r;
    char err[256];

    if (!t)
        return luaL_error(L, "http.request must be called from a task");
    lua_settop(L, 1);
    read_options(L, &req);
    r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, REQUEST_MT);
    if (http_start(&req, req_done, r, &r->call, err, sizeof err) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    r->task = t;
    /* the userdata stays on the stack: its __gc cancels if the task goes away */
    lua_replace(L, 1);
    lua_settop(L, 1);
    return lvm_task_suspend(L, (lua_KContext)r, k_request);
}

/* ---- http.stream ---- */

struct lstream {
    http_call *call;        /* NULL once finished, closed or collected */
    lvm_wait *wait;         /* the task waiting on this stream */
    struct head head;
    int got_head, ended, closed, paused, oom;
    char *error;
    char *q;                /* queued lines, each ending in '\n' */
    size_t qstart, qlen, qcap;
};

static void stream_wake(struct lstream *s)
{
    lvm_wait_wake(&s->wait);
}

static size_t queued(const struct lstream *s) { return s->qlen - s->qstart; }

static int queue_line(struct lstream *s, const char *line, size_t len)
{
    if (s->qstart && s->qlen + len + 1 > s->qcap) {
        memmove(s->q, s->q + s->qstart, queued(s));
        s->qlen -= s->qstart;
        s->qstart = 0;
    }
    if (s->qlen + len + 1 > s->qcap) {
        size_t cap = s->qcap ? s->qcap : 4096;
        char *p;

        while (cap < s->qlen + len + 1)
            cap *= 2;
        p = realloc(s->q, cap);
        if (!p)
            return SMOP_ERR;
        s->q = p;
        s->qcap = cap;
    }
    memcpy(s->q + s->qlen, line, len);
    s->q[s->qlen + len] = '\n';
    s->qlen += len + 1;
    return SMOP_OK;
}

static void stream_stop(struct lstream *s)
{
    if (s->call)
        http_cancel(s->call);
    s->call = NULL;
    s->ended = 1;
}

static void stream_on_headers(void *ud, const http_response *res)
{
    struct lstream *s = ud;

    if (head_copy(&s->head, res) != SMOP_OK) {
        s->oom = 1;
        stream_stop(s);
    }
    s->got_head = 1;
    stream_wake(s);
}

static int stream_on_line(void *ud, const char *line, size_t len)
{
    struct lstream *s = ud;

    if (queue_line(s, line, len) != SMOP_OK) {
        s->oom = 1;
        stream_stop(s);
    }
    stream_wake(s);
    if (queued(s) < QUEUE_HIGH)
        return 0;
    s->paused = 1;
    return 1;
}

static void stream_done(void *ud, const http_response *res)
{
    struct lstream *s = ud;

    s->call = NULL;
    s->ended = 1;
    if (res->error) {
        s->error = strdup(res->error);
        s->oom = !s->error;
    } else if (!s->got_head) {
        s->oom = head_copy(&s->head, res) != SMOP_OK;
        s->got_head = 1;
    }
    stream_wake(s);
}

static void stream_free(struct lstream *s)
{
    stream_stop(s);
    head_free(&s->head);
    free(s->error);
    free(s->q);
    s->error = s->q = NULL;
    s->qstart = s->qlen = s->qcap = 0;
}

static struct lstream *check_stream(lua_State *L)
{
    return luaL_checkudata(L, 1, STREAM_MT);
}

static int push_failure(lua_State *L, const struct lstream *s)
{
    lua_pushnil(L);
    lua_pushstring(L, s->oom ? "http: out of memory" : s->error);
    return 2;
}

static int k_open(lua_State *L, int status, lua_KContext ctx)
{
    struct lstream *s = (struct lstream *)ctx;

    (void)status;
    lua_settop(L, 1);
    if (s->got_head && !s->oom)
        return 1;
    if (s->ended)
        return push_failure(L, s);
    /* woken without news (cannot happen today): wait again */
    lvm_wait_push(L, &s->wait, 1);
    return lvm_task_suspend(L, ctx, k_open);
}

static int l_stream(lua_State *L)
{
    http_request req;
    struct lstream *s;
    char err[256];

    if (!lvm_task_current(L))
        return luaL_error(L, "http.stream must be called from a task");
    lua_settop(L, 1);
    read_options(L, &req);
    req.on_headers = stream_on_headers;
    req.on_line = stream_on_line;
    s = lua_newuserdatauv(L, sizeof *s, 1);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, STREAM_MT);
    if (http_start(&req, stream_done, s, &s->call, err, sizeof err) != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_replace(L, 1);
    lua_settop(L, 1);
    lvm_wait_push(L, &s->wait, 1);
    return lvm_task_suspend(L, (lua_KContext)s, k_open);
}

static int read_step(lua_State *L, struct lstream *s);

static int k_read(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lua_settop(L, 1);
    return read_step(L, (struct lstream *)ctx);
}

static int read_step(lua_State *L, struct lstream *s)
{

    if (s->closed) {
        lua_pushnil(L);
        lua_pushliteral(L, "stream closed");
        return 2;
    }
    if (queued(s)) {
        const char *line = s->q + s->qstart;
        const char *nl = memchr(line, '\n', queued(s));

        lua_pushlstring(L, line, (size_t)(nl - line));
        s->qstart += (size_t)(nl - line) + 1;
        if (s->qstart == s->qlen)
            s->qstart = s->qlen = 0;
        if (s->paused && queued(s) <= QUEUE_LOW) {
            s->paused = 0;
            http_resume(s->call);
        }
        return 1;
    }
    if (s->ended) {
        if (s->oom || s->error)
            return push_failure(L, s);
        lua_pushnil(L);
        return 1;
    }
    if (s->wait)
        return luaL_error(L, "stream:read_line: another task is already reading this stream");
    if (!lvm_task_current(L))
        return luaL_error(L, "stream:read_line must be called from a task");
    lvm_wait_push(L, &s->wait, 1);
    return lvm_task_suspend(L, (lua_KContext)s, k_read);
}

static int stream_read_line(lua_State *L)
{
    struct lstream *s = check_stream(L);

    lua_settop(L, 1);
    return read_step(L, s);
}

static int stream_buffered(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)queued(check_stream(L)));
    return 1;
}

static int stream_close(lua_State *L)
{
    struct lstream *s = check_stream(L);

    stream_free(s);
    s->closed = 1;
    stream_wake(s); /* a reader in another task gets "stream closed" */
    return 0;
}

static int stream_gc(lua_State *L)
{
    stream_free(check_stream(L));
    return 0;
}

static int stream_index(lua_State *L)
{
    struct lstream *s = check_stream(L);
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";

    if (strcmp(key, "status") == 0) {
        lua_pushinteger(L, s->head.status);
        return 1;
    }
    if (strcmp(key, "headers") == 0) {
        /* built once, then the same table on every access */
        if (lua_getiuservalue(L, 1, 1) == LUA_TNIL) {
            push_headers(L, &s->head);
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, 1);
        }
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int l_in_flight(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)http_in_flight());
    return 1;
}

int luaopen_smop_http(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"request", l_request},
        {"stream", l_stream},
        {"in_flight", l_in_flight},
        {NULL, NULL},
    };
    static const luaL_Reg methods[] = {
        {"read_line", stream_read_line},
        {"buffered", stream_buffered},
        {"close", stream_close},
        {NULL, NULL},
    };
    char err[256];

    if (http_init(err, sizeof err) != SMOP_OK)
        return luaL_error(L, "%s", err);
    if (luaL_newmetatable(L, REQUEST_MT)) {
        lua_pushcfunction(L, req_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, STREAM_MT)) {
        luaL_newlib(L, methods);
        lua_pushcclosure(L, stream_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, stream_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, stream_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
