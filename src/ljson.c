/*
 * ljson.c - smop.json: JSON <-> Lua values (conventions in ljson.h).
 *
 *   json.decode(s [, opts]) -> value | nil, "msg at line L column C (byte N)"
 *       opts.max_size (bytes, default 64 MiB), opts.max_depth (default 200)
 *   json.encode(v [, opts]) -> string | nil, "cannot encode ... at .path: why"
 *       opts.sorted (sort object keys), opts.indent (spaces, pretty print),
 *       opts.max_size, opts.max_depth (a cycle hits it)
 *   json.null, json.array_mt, json.object_mt
 *   json.array([t]), json.object([t]) -> t, marked
 *   json.is_array(v) -> true if v would be written as an array
 */
#include "hostlibs.h"
#include "json.h"
#include "ljson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Its address is json.null; one object for every VM in the process. */
static const char null_sentinel = 0;

void ljson_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_sentinel);
}

int ljson_is_null(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == (void *)&null_sentinel &&
           lua_type(L, idx) == LUA_TLIGHTUSERDATA;
}

void ljson_push_array_mt(lua_State *L)
{
    luaL_newmetatable(L, LJSON_ARRAY_MT);
}

void ljson_push_object_mt(lua_State *L)
{
    luaL_newmetatable(L, LJSON_OBJECT_MT);
}

int ljson_push_marks(lua_State *L)
{
    ljson_push_array_mt(L);
    ljson_push_object_mt(L);
    return lua_gettop(L) - 1;
}

/* LJSON_ARRAY / LJSON_OBJECT for a marked table, -1 for any other.
 * idx is absolute; marks as for ljson_table_kind. */
static int table_mark(lua_State *L, int idx, int marks)
{
    int mark = -1, top = lua_gettop(L);

    if (!lua_getmetatable(L, idx))
        return -1;
    if (!marks)
        marks = ljson_push_marks(L);
    if (lua_rawequal(L, top + 1, marks))
        mark = LJSON_ARRAY;
    else if (lua_rawequal(L, top + 1, marks + 1))
        mark = LJSON_OBJECT;
    lua_settop(L, top);
    return mark;
}

/* Describes the key on the top of the stack into why. */
static void describe_key(lua_State *L, const char *what, char *why, size_t whylen)
{
    size_t len;
    const char *s;

    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, -1, &len);
        snprintf(why, whylen, "%s \"%.*s%s\"", what, len > 40 ? 40 : (int)len, s,
                 len > 40 ? "..." : "");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1))
            snprintf(why, whylen, "%s %lld", what, (long long)lua_tointeger(L, -1));
        else
            snprintf(why, whylen, "%s %.17g", what, lua_tonumber(L, -1));
        break;
    default:
        snprintf(why, whylen, "%s of type %s", what, luaL_typename(L, -1));
    }
}

int ljson_table_kind(lua_State *L, int idx, int marks, lua_Integer *n, char *why,
                     size_t whylen)
{
    lua_Integer count = 0, ints = 0, strs = 0, max = 0, min = LUA_MAXINTEGER;
    int mark;

    idx = lua_absindex(L, idx);
    mark = table_mark(L, idx, marks);
    *n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            if (mark == LJSON_ARRAY) {
                describe_key(L, "array has the non-index key", why, whylen);
                lua_pop(L, 1);
                return LJSON_INVALID;
            }
            strs++;
        } else if (lua_isinteger(L, -1)) {
            lua_Integer k = lua_tointeger(L, -1);
            if (k > max)
                max = k;
            if (k < min)
                min = k;
            ints++;
        } else {
            describe_key(L, "key", why, whylen);
            lua_pop(L, 1);
            return LJSON_INVALID;
        }
    }
    if (mark == LJSON_OBJECT || (mark < 0 && ints == 0))
        return LJSON_OBJECT;
    if (strs > 0) {
        snprintf(why, whylen, "mixed keys (%lld integer, %lld string); "
                 "json.object() writes integer keys as strings",
                 (long long)ints, (long long)strs);
        return LJSON_INVALID;
    }
    if (min < 1 || max != count) {
        snprintf(why, whylen, "integer keys are not a sequence 1..n "
                 "(%lld keys from %lld to %lld); json.object() writes them as strings",
                 (long long)count, (long long)min, (long long)max);
        return LJSON_INVALID;
    }
    *n = count;
    return LJSON_ARRAY;
}

static int key_cmp(const void *a, const void *b)
{
    const ljson_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);

    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

ljson_key *ljson_sorted_keys(lua_State *L, int idx, size_t *n)
{
    size_t count = 0, i = 0;
    ljson_key *keys;
    int anchor;

    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    luaL_checkstack(L, 4, "sorting keys");
    keys = lua_newuserdatauv(L, (count ? count : 1) * sizeof *keys, 1);
    lua_createtable(L, (int)(count < 1000000 ? count : 0), 0);
    anchor = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, anchor, (lua_Integer)i + 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            keys[i].s = lua_tolstring(L, -1, &keys[i].len);
        } else {
            /* the decimal form lives in the anchor too, after the keys */
            lua_pushvalue(L, -1);
            keys[i].s = luaL_tolstring(L, -1, &keys[i].len);
            lua_rawseti(L, anchor, (lua_Integer)(count + i) + 1);
            lua_pop(L, 1);
        }
        keys[i].slot = (int)i + 1;
        i++;
    }
    lua_setiuservalue(L, -2, 1);
    qsort(keys, i, sizeof *keys, key_cmp);
    *n = i;
    return keys;
}

void ljson_sorted_value(lua_State *L, int t, int anchor, const ljson_key *k)
{
    t = lua_absindex(L, t);
    lua_getiuservalue(L, anchor, 1);
    lua_rawgeti(L, -1, k->slot);
    lua_rawget(L, t);
    lua_remove(L, -2);
}

static int is_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 64)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '-'))))
            return 0;
    }
    return 1;
}

static void path_push(char *buf, size_t size, const char *key, size_t keylen,
                      lua_Integer index)
{
    size_t used = strlen(buf);
    char step[96];
    int n;

    if (used >= 3 && strcmp(buf + used - 3, "...") == 0)
        return; /* already truncated */
    if (!key)
        n = snprintf(step, sizeof step, "[%lld]", (long long)index);
    else if (is_name(key, keylen))
        n = snprintf(step, sizeof step, ".%.*s", (int)keylen, key);
    else
        n = snprintf(step, sizeof step, "[\"%.*s%s\"]", keylen > 60 ? 60 : (int)keylen,
                     key, keylen > 60 ? "..." : "");
    if (used + (size_t)n + 4 > size) {
        if (used + 4 <= size)
            memcpy(buf + used, "...", 4);
        return;
    }
    memcpy(buf + used, step, (size_t)n + 1);
}

void ljson_path(const ljson_step *steps, int depth, char *buf, size_t size)
{
    int i;

    if (size == 0)
        return;
    buf[0] = '\0';
    for (i = 0; i < depth; i++)
        path_push(buf, size, steps[i].key, steps[i].keylen, steps[i].index);
    if (depth == 0)
        snprintf(buf, size, "top level");
}

/* ---- output buffer ---- */

static int buf_gc(lua_State *L)
{
    ljson_buf *b = lua_touserdata(L, 1);

    if (b->data)
        b->alloc(b->alloc_ud, b->data, b->cap, 0);
    b->data = NULL;
    b->cap = b->len = 0;
    return 0;
}

ljson_buf *ljson_buf_new(lua_State *L, size_t limit)
{
    ljson_buf *b = lua_newuserdatauv(L, sizeof *b, 0);

    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->L = L;
    b->alloc = lua_getallocf(L, &b->alloc_ud);
    if (luaL_newmetatable(L, "smop.json.buffer")) {
        lua_pushcfunction(L, buf_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

int ljson_buf_reserve(ljson_buf *b, size_t n)
{
    size_t cap;
    char *data;

    if (n > b->limit - b->len)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap = cap > b->limit / 2 ? b->limit : cap * 2;
    data = b->alloc(b->alloc_ud, b->data, b->cap, cap);
    if (!data) {
        /* garbage may be all that stands between us and the memory cap;
         * a full collection never raises (finalizer errors become warnings) */
        lua_gc(b->L, LUA_GCCOLLECT);
        data = b->alloc(b->alloc_ud, b->data, b->cap, cap);
    }
    if (!data) {
        b->oom = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int ljson_buf_add(ljson_buf *b, const char *p, size_t n)
{
    if (ljson_buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void ljson_buf_push(lua_State *L, ljson_buf *b)
{
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    if (b->data)
        b->alloc(b->alloc_ud, b->data, b->cap, 0);
    b->data = NULL;
    b->cap = b->len = 0;
}

/* ---- options ---- */

lua_Integer ljson_opt_integer(lua_State *L, int opts, const char *name, lua_Integer def,
                              lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = def;

    if (lua_isnoneornil(L, opts))
        return def;
    luaL_checktype(L, opts, LUA_TTABLE);
    if (lua_getfield(L, opts, name) != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_error(L, "option %s must be an integer", name);
        v = lua_tointeger(L, -1);
        if (v < lo || v > hi)
            luaL_error(L, "option %s must be between %I and %I", name, lo, hi);
    }
    lua_pop(L, 1);
    return v;
}

int ljson_opt_boolean(lua_State *L, int opts, const char *name)
{
    int v;

    if (lua_isnoneornil(L, opts))
        return 0;
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_getfield(L, opts, name);
    v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* ---- decoding ---- */

typedef struct decoder {
    lua_State *L;
    json_reader r;
    int array_mt;   /* stack index */
} decoder;

/* Kept out of line: its luaL_Buffer would otherwise sit in every frame of
 * the recursion. */
static __attribute__((noinline)) void push_string(lua_State *L, const json_reader *r)
{
    luaL_Buffer b;
    char *out;

    if (!r->escaped) {
        lua_pushlstring(L, r->str, r->str_len);
        return;
    }
    out = luaL_buffinitsize(L, &b, r->str_len);
    luaL_pushresultsize(&b, json_unescape(r->str, r->str_len, out));
}

/* Pushes the value starting with tok; -1 on a syntax error (nothing pushed). */
static int decode_value(decoder *d, json_token tok)
{
    lua_State *L = d->L;
    lua_Integer n = 0;

    switch (tok) {
    case JSON_NULL:
        ljson_push_null(L);
        return 0;
    case JSON_FALSE:
    case JSON_TRUE:
        lua_pushboolean(L, tok == JSON_TRUE);
        return 0;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)d->r.integer);
        return 0;
    case JSON_DOUBLE:
        lua_pushnumber(L, d->r.number);
        return 0;
    case JSON_STRING:
        push_string(L, &d->r);
        return 0;
    case JSON_ARRAY:
        luaL_checkstack(L, 3, "JSON nesting");
        lua_newtable(L);
        lua_pushvalue(L, d->array_mt);
        lua_setmetatable(L, -2);
        while ((tok = json_next(&d->r)) != JSON_ARRAY_END) {
            if (decode_value(d, tok) != 0)
                goto fail;
            lua_rawseti(L, -2, ++n);
        }
        return 0;
    case JSON_OBJECT:
        luaL_checkstack(L, 4, "JSON nesting");
        lua_newtable(L);
        while ((tok = json_next(&d->r)) != JSON_OBJECT_END) {
            if (tok != JSON_KEY)
                goto fail; /* the reader only gives keys here, or an error */
            push_string(L, &d->r);
            if (decode_value(d, json_next(&d->r)) != 0) {
                lua_pop(L, 1);
                goto fail;
            }
            lua_rawset(L, -3);
        }
        return 0;
    default:
        return -1;
    }
fail:
    lua_pop(L, 1);
    return -1;
}

static int l_decode(lua_State *L)
{
    size_t len, line, col;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer max_size, max_depth;
    decoder d;

    max_size = ljson_opt_integer(L, 2, "max_size", LJSON_DEFAULT_MAX_SIZE, 0, LUA_MAXINTEGER);
    max_depth = ljson_opt_integer(L, 2, "max_depth", LJSON_DEFAULT_MAX_DEPTH, 1, JSON_MAX_DEPTH);
    if ((lua_Integer)len > max_size) {
        lua_pushnil(L);
        lua_pushfstring(L, "input of %I bytes is larger than max_size (%I bytes)",
                        (lua_Integer)len, max_size);
        return 2;
    }
    lua_settop(L, 1);
    ljson_push_array_mt(L);
    d.L = L;
    d.array_mt = lua_gettop(L);
    json_reader_init(&d.r, s, len, (int)max_depth);
    if (decode_value(&d, json_next(&d.r)) == 0) {
        if (json_next(&d.r) == JSON_END)
            return 1;
        lua_pop(L, 1);
    }
    json_position(s, len, d.r.error_pos, &line, &col);
    lua_pushnil(L);
    lua_pushfstring(L, "%s at line %I column %I (byte %I)", d.r.error, (lua_Integer)line,
                    (lua_Integer)col, (lua_Integer)d.r.error_pos + 1);
    return 2;
}

/* ---- encoding ---- */

typedef struct encoder {
    lua_State *L;
    ljson_buf *buf;
    int marks;         /* stack index, see ljson_push_marks */
    int sorted;
    int indent;
    int max_depth;
    int depth;
    size_t max_size;
    char why[160];     /* scratch, kept here to keep recursive frames small */
    char err[512];
    ljson_step path[JSON_MAX_DEPTH + 1];
} encoder;

/* Room for n more bytes; a Lua error if memory is exhausted. */
static int reserve(encoder *e, size_t n)
{
    if (ljson_buf_reserve(e->buf, n) == 0)
        return 0;
    if (e->buf->oom)
        luaL_error(e->L, "not enough memory");
    snprintf(e->err, sizeof e->err, "output is larger than max_size (%zu bytes)",
             e->max_size);
    return -1;
}

static int put(encoder *e, const char *p, size_t n)
{
    if (reserve(e, n) != 0)
        return -1;
    memcpy(e->buf->data + e->buf->len, p, n);
    e->buf->len += n;
    return 0;
}

static int put_lit(encoder *e, const char *s)
{
    return put(e, s, strlen(s));
}

/* The error for the value at the current path. */
static int failed(encoder *e, const char *what, const char *why)
{
    char path[256];

    ljson_path(e->path, e->depth, path, sizeof path);
    snprintf(e->err, sizeof e->err, "cannot encode %s at %s%s%s", what, path,
             why ? ": " : "", why ? why : "");
    return -1;
}

static int put_string(encoder *e, const char *s, size_t n)
{
    size_t need = json_escaped_len(s, n);
    ljson_buf *b = e->buf;

    if (reserve(e, need + 2) != 0)
        return -1;
    b->data[b->len++] = '"';
    if (need == n) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    } else {
        b->len = (size_t)(json_escape(b->data + b->len, s, n) - b->data);
    }
    b->data[b->len++] = '"';
    return 0;
}

static int newline(encoder *e)
{
    size_t n = (size_t)e->indent * (size_t)e->depth;
    ljson_buf *b = e->buf;

    if (!e->indent)
        return 0;
    if (reserve(e, n + 1) != 0)
        return -1;
    b->data[b->len++] = '\n';
    memset(b->data + b->len, ' ', n);
    b->len += n;
    return 0;
}

static int encode_value(encoder *e, int idx);

static int encode_member(encoder *e, int first, const char *k, size_t klen, int value)
{
    if ((!first && put(e, ",", 1)) || newline(e) || put_string(e, k, klen) ||
        put(e, ": ", e->indent ? 2 : 1))
        return -1;
    e->path[e->depth - 1].key = k;
    e->path[e->depth - 1].keylen = klen;
    return encode_value(e, value);
}

static int encode_object(encoder *e, int t)
{
    lua_State *L = e->L;
    int first = 1;
    size_t i, n, klen;
    const char *k;
    char num[32]; /* an integer key; the path may point here */

    if (put(e, "{", 1))
        return -1;
    e->depth++;
    if (e->sorted) {
        ljson_key *keys = ljson_sorted_keys(L, t, &n);
        int anchor = lua_gettop(L);
        for (i = 0; i < n; i++, first = 0) {
            ljson_sorted_value(L, t, anchor, &keys[i]);
            if (encode_member(e, first, keys[i].s, keys[i].len, lua_gettop(L)))
                return -1;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else {
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                k = lua_tolstring(L, -2, &klen);
            } else if (lua_isinteger(L, -2) && table_mark(L, t, e->marks) == LJSON_OBJECT) {
                klen = (size_t)snprintf(num, sizeof num, LUA_INTEGER_FMT,
                                        lua_tointeger(L, -2));
                k = num;
            } else { /* not an object after all: say why as the classifier would */
                lua_Integer len;
                e->depth--;
                ljson_table_kind(L, t, e->marks, &len, e->why, sizeof e->why);
                return failed(e, "table", e->why);
            }
            if (encode_member(e, first, k, klen, lua_gettop(L)))
                return -1;
            lua_pop(L, 1);
            first = 0;
        }
    }
    e->depth--;
    if (!first && newline(e))
        return -1;
    return put(e, "}", 1);
}

static int encode_array(encoder *e, int t, lua_Integer n)
{
    lua_State *L = e->L;
    lua_Integer i;

    if (put(e, "[", 1))
        return -1;
    e->depth++;
    for (i = 1; i <= n; i++) {
        if ((i > 1 && put(e, ",", 1)) || newline(e))
            return -1;
        e->path[e->depth - 1].key = NULL;
        e->path[e->depth - 1].index = i;
        lua_rawgeti(L, t, i);
        if (encode_value(e, lua_gettop(L)))
            return -1;
        lua_pop(L, 1);
    }
    e->depth--;
    if (n > 0 && newline(e))
        return -1;
    return put(e, "]", 1);
}

static int encode_number(encoder *e, int idx)
{
    char num[64];
    int k;
    double d;

    if (lua_isinteger(e->L, idx)) {
        k = snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(e->L, idx));
        return put(e, num, (size_t)k);
    }
    d = lua_tonumber(e->L, idx);
    k = json_format_double(d, num);
    if (k < 0)
        return failed(e, d != d ? "NaN" : "infinity", "JSON numbers must be finite");
    return put(e, num, (size_t)k);
}

static int encode_value(encoder *e, int idx)
{
    lua_State *L = e->L;
    const char *s;
    size_t len;
    lua_Integer n;
    int kind;

    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return put_lit(e, "null");
    case LUA_TBOOLEAN:
        return put_lit(e, lua_toboolean(L, idx) ? "true" : "false");
    case LUA_TNUMBER:
        return encode_number(e, idx);
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        return put_string(e, s, len);
    case LUA_TLIGHTUSERDATA:
        if (ljson_is_null(L, idx))
            return put_lit(e, "null");
        return failed(e, "light userdata", "only json.null is allowed");
    case LUA_TTABLE:
        if (e->depth >= e->max_depth) {
            snprintf(e->why, sizeof e->why, "nesting deeper than %d levels (a cycle?)",
                     e->max_depth);
            return failed(e, "table", e->why);
        }
        luaL_checkstack(L, 6, "JSON nesting");
        /* A table without t[1] that is not marked as an array can only be an
         * object: write it and check its keys on the way (one pass, not two). */
        if (!e->sorted && lua_rawlen(L, idx) == 0 &&
            table_mark(L, idx, e->marks) != LJSON_ARRAY)
            return encode_object(e, idx);
        kind = ljson_table_kind(L, idx, e->marks, &n, e->why, sizeof e->why);
        if (kind == LJSON_INVALID)
            return failed(e, "table", e->why);
        if (kind == LJSON_ARRAY)
            return encode_array(e, idx, n);
        return encode_object(e, idx);
    default:
        return failed(e, luaL_typename(L, idx), NULL);
    }
}

static int l_encode(lua_State *L)
{
    encoder e;
    lua_Integer max_size, max_depth, indent;

    luaL_checkany(L, 1);
    max_size = ljson_opt_integer(L, 2, "max_size", LJSON_DEFAULT_MAX_SIZE, 0, LUA_MAXINTEGER);
    max_depth = ljson_opt_integer(L, 2, "max_depth", LJSON_DEFAULT_MAX_DEPTH, 1, JSON_MAX_DEPTH);
    indent = ljson_opt_integer(L, 2, "indent", 0, 0, 16);
    e.L = L;
    e.sorted = ljson_opt_boolean(L, 2, "sorted");
    e.indent = (int)indent;
    e.max_depth = (int)max_depth;
    e.max_size = (size_t)max_size;
    e.depth = 0;
    e.err[0] = '\0';
    e.buf = ljson_buf_new(L, (size_t)max_size);
    e.marks = ljson_push_marks(L);
    if (encode_value(&e, 1) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, e.err);
        return 2;
    }
    ljson_buf_push(L, e.buf);
    return 1;
}

/* ---- marks ---- */

static int mark(lua_State *L, void (*push_mt)(lua_State *))
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    push_mt(L);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_array(lua_State *L)
{
    return mark(L, ljson_push_array_mt);
}

static int l_object(lua_State *L)
{
    return mark(L, ljson_push_object_mt);
}

static int l_is_array(lua_State *L)
{
    lua_Integer n;
    char why[160];

    lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE &&
                           ljson_table_kind(L, 1, 0, &n, why, sizeof why) == LJSON_ARRAY);
    return 1;
}

int luaopen_smop_json(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"decode", l_decode},
        {"encode", l_encode},
        {"array", l_array},
        {"object", l_object},
        {"is_array", l_is_array},
        {NULL, NULL},
    };

    luaL_newlib(L, funcs);
    ljson_push_null(L);
    lua_setfield(L, -2, "null");
    ljson_push_array_mt(L);
    lua_setfield(L, -2, "array_mt");
    ljson_push_object_mt(L);
    lua_setfield(L, -2, "object_mt");
    return 1;
}
