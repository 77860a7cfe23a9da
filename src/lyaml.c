/*
 * lyaml.c - smop.yaml: YAML (libyaml) <-> Lua values, with the conventions
 * of smop.json (ljson.h), read the way Kubernetes reads manifests
 * (sigs.k8s.io/yaml: go-yaml v2's YAML 1.1 scalars, then JSON).
 *
 *   yaml.decode(s [, opts])     -> the first document's value | nil, err
 *   yaml.decode_all(s [, opts]) -> array of the documents, empty ones
 *                                  (nothing, or null) skipped | nil, err
 *   yaml.encode(v [, opts])     -> YAML text | nil, err
 *   yaml.encode_all(docs [, opts]) -> "---"-separated documents | nil, err
 *   opts: max_size (bytes, 64 MiB), max_depth (200),
 *         max_alias_nodes (decode: nodes aliases may copy in all, 100000)
 * Errors read "yaml: <problem> at line L column C" (1-based).
 *
 * Scalars mean what yscalar.h says (yes/no/on/off are booleans, as for
 * kubectl); null is json.null, sequences are marked arrays. !!binary stays
 * its base64 text. Merge keys (<<) fill in keys the mapping does not set
 * itself, wherever they stand (YAML's rule; go-yaml v2 lets a later << win
 * over an earlier key). Documents are anchor scopes. Aliases
 * copy the anchored value (no shared tables); max_alias_nodes stops
 * "billion laughs" expansion. Non-string keys become strings (1 -> "1",
 * true -> "true", null -> "null").
 *
 * Writing: block style, keys sorted, strings quoted when they would
 * otherwise read back as something else ("true", "123", "", "2024-01-01"),
 * multi-line strings as literal blocks, [] and {} for empty containers.
 *
 * libyaml's parser, event and emitter live in full userdata whose __gc
 * frees them, so a Lua error at any point leaks nothing.
 */
#include "hostlibs.h"
#include "json.h"
#include "ljson.h"
#include "yscalar.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define DEFAULT_MAX_ALIAS_NODES 100000
#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- decoding ---- */

static void push_scalar(lua_State *L, const yscalar *v, const yaml_event_t *ev)
{
    switch (v->kind) {
    case YSCALAR_NULL: ljson_push_null(L); break;
    case YSCALAR_BOOL: lua_pushboolean(L, v->boolean); break;
    case YSCALAR_INT: lua_pushinteger(L, (lua_Integer)v->integer); break;
    case YSCALAR_FLOAT: lua_pushnumber(L, v->number); break;
    default:
        lua_pushlstring(L, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    }
}

typedef struct yparser {
    yaml_parser_t parser;
    yaml_event_t event;
    int have_parser;
    int have_event;
} yparser;

static void yparser_free(yparser *p)
{
    if (p->have_event)
        yaml_event_delete(&p->event);
    if (p->have_parser)
        yaml_parser_delete(&p->parser);
    p->have_event = p->have_parser = 0;
}

static int yparser_gc(lua_State *L)
{
    yparser_free(lua_touserdata(L, 1));
    return 0;
}

typedef struct decoder {
    lua_State *L;
    yparser *p;
    const char *src;
    size_t len;
    int array_mt;        /* stack indexes */
    int anchors;
    int depth;
    int max_depth;
    lua_Integer alias_budget;
    char err[512];
} decoder;

static int fail_at(decoder *d, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(decoder *d, const yaml_mark_t *mark, const char *fmt, ...)
{
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(d->err, sizeof d->err, "yaml: %s at line %zu column %zu", msg,
             mark->line + 1, mark->column + 1);
    return -1;
}

static int parser_failed(decoder *d)
{
    const yaml_parser_t *ps = &d->p->parser;
    const char *problem = ps->problem ? ps->problem : "cannot parse the input";
    size_t line, col;

    switch (ps->error) {
    case YAML_MEMORY_ERROR:
        snprintf(d->err, sizeof d->err, "yaml: out of memory");
        break;
    case YAML_READER_ERROR:
        json_position(d->src, d->len, ps->problem_offset, &line, &col);
        if (ps->problem_value != -1)
            snprintf(d->err, sizeof d->err, "yaml: %s (byte 0x%02x) at line %zu column %zu",
                     problem, (unsigned)ps->problem_value & 0xff, line, col);
        else
            snprintf(d->err, sizeof d->err, "yaml: %s at line %zu column %zu", problem,
                     line, col);
        break;
    default:
        if (ps->context)
            snprintf(d->err, sizeof d->err,
                     "yaml: %s at line %zu column %zu (%s at line %zu column %zu)", problem,
                     ps->problem_mark.line + 1, ps->problem_mark.column + 1, ps->context,
                     ps->context_mark.line + 1, ps->context_mark.column + 1);
        else
            snprintf(d->err, sizeof d->err, "yaml: %s at line %zu column %zu", problem,
                     ps->problem_mark.line + 1, ps->problem_mark.column + 1);
    }
    return -1;
}

static int next_event(decoder *d)
{
    if (d->p->have_event) {
        yaml_event_delete(&d->p->event);
        d->p->have_event = 0;
    }
    if (!yaml_parser_parse(&d->p->parser, &d->p->event))
        return parser_failed(d);
    d->p->have_event = 1;
    return 0;
}

static int nesting_failed(decoder *d, const yaml_mark_t *mark)
{
    return fail_at(d, mark, "nesting deeper than %d levels", d->max_depth);
}

/* Copies the value at src (an anchored value) onto the stack, spending
 * alias budget per node. */
static int copy_value(decoder *d, int src, int depth, const yaml_mark_t *mark)
{
    lua_State *L = d->L;

    if (--d->alias_budget < 0)
        return fail_at(d, mark, "%s", "aliases expand to too many nodes (max_alias_nodes)");
    if (lua_type(L, src) != LUA_TTABLE) {
        lua_pushvalue(L, src);
        return 0;
    }
    if (depth >= d->max_depth)
        return nesting_failed(d, mark);
    luaL_checkstack(L, 5, "YAML nesting");
    lua_newtable(L);
    if (lua_getmetatable(L, src))
        lua_setmetatable(L, -2);
    lua_pushnil(L);
    while (lua_next(L, src)) {
        if (copy_value(d, lua_gettop(L), depth + 1, mark) != 0)
            return -1;
        lua_remove(L, -2);           /* the original value */
        lua_pushvalue(L, -2);        /* key */
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    return 0;
}

/* Turns the value on the top into a string key. */
static void key_to_string(decoder *d)
{
    lua_State *L = d->L;
    char num[32];
    double f;

    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        return;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
            lua_pushfstring(L, "%I", lua_tointeger(L, -1));
        } else {
            f = lua_tonumber(L, -1);
            if (json_format_double(f, num) < 0)
                lua_pushstring(L, f != f ? ".nan" : f > 0 ? ".inf" : "-.inf");
            else
                lua_pushstring(L, num);
        }
        break;
    default:
        lua_pushliteral(L, "null");
    }
    lua_remove(L, -2);
}

static void remember_anchor(decoder *d, int name)
{
    if (name) {
        lua_pushvalue(d->L, name);
        lua_pushvalue(d->L, -2);
        lua_rawset(d->L, d->anchors);
    }
}

static int parse_node(decoder *d);

/* Fills t's missing keys from the merge sources in the list at merges. */
static void apply_merges(decoder *d, int t, int merges)
{
    lua_State *L = d->L;
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, merges);

    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, merges, i);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pushvalue(L, -2);
            if (lua_rawget(L, t) == LUA_TNIL) {
                lua_pop(L, 1);
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, t);
            } else {
                lua_pop(L, 2);
            }
        }
        lua_pop(L, 1);
    }
}

/* Decoded sequences are the only tables with a metatable. */
static int is_sequence(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_pop(L, 1);
    return 1;
}

/* Pops a `<<` value and adds its mappings to the list at merges. */
static int add_merge(decoder *d, int merges, const yaml_mark_t *mark)
{
    static const char bad[] = "a merge (<<) needs a mapping or a list of mappings";
    lua_State *L = d->L;
    lua_Integer i, n;
    int v = lua_gettop(L);

    if (lua_type(L, v) != LUA_TTABLE)
        return fail_at(d, mark, "%s", bad);
    if (!is_sequence(L, v)) {
        lua_rawseti(L, merges, (lua_Integer)lua_rawlen(L, merges) + 1);
        return 0;
    }
    n = (lua_Integer)lua_rawlen(L, v);
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, v, i) != LUA_TTABLE || is_sequence(L, -1))
            return fail_at(d, mark, "%s", bad);
        lua_rawseti(L, merges, (lua_Integer)lua_rawlen(L, merges) + 1);
    }
    lua_pop(L, 1);
    return 0;
}

static int is_merge_key(const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;

    if (ev->data.scalar.length != 2 || memcmp(ev->data.scalar.value, "<<", 2) != 0)
        return 0;
    if (tag)
        return strcmp(tag, TAG_PREFIX "merge") == 0;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int parse_mapping(decoder *d)
{
    lua_State *L = d->L;
    yaml_event_t *ev = &d->p->event;
    yaml_mark_t mark;
    int t, merges, key_merge;

    merges = lua_gettop(L) + 1;
    lua_pushnil(L);          /* the merge list, made on the first << */
    lua_newtable(L);
    t = lua_gettop(L);
    for (;;) {
        if (next_event(d) != 0)
            return -1;
        if (ev->type == YAML_MAPPING_END_EVENT)
            break;
        mark = ev->start_mark;
        key_merge = ev->type == YAML_SCALAR_EVENT && is_merge_key(ev);
        if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT)
            return fail_at(d, &mark, "%s", "mapping keys must be scalars");
        if (!key_merge) {
            if (parse_node(d) != 0)
                return -1;
            if (lua_type(L, -1) == LUA_TTABLE)
                return fail_at(d, &mark, "%s", "mapping keys must be scalars");
            key_to_string(d);
        }
        if (next_event(d) != 0 || parse_node(d) != 0)
            return -1;
        if (key_merge) {
            if (lua_isnil(L, merges)) {
                lua_newtable(L);
                lua_replace(L, merges);
            }
            if (add_merge(d, merges, &mark) != 0)
                return -1;
        } else {
            lua_rawset(L, t);
        }
    }
    if (!lua_isnil(L, merges))
        apply_merges(d, t, merges);
    lua_remove(L, merges);
    return 0;
}

/* Pushes the node whose first event is current. */
static int parse_node(decoder *d)
{
    lua_State *L = d->L;
    yaml_event_t *ev = &d->p->event;
    yaml_mark_t mark = ev->start_mark;
    const char *anchor = NULL;
    int name = 0, seq;
    lua_Integer n = 0;
    char why[200];
    yscalar v;

    luaL_checkstack(L, 6, "YAML nesting");
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (yscalar_resolve((const char *)ev->data.scalar.value, ev->data.scalar.length,
                            (const char *)ev->data.scalar.tag,
                            ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, &v, why,
                            sizeof why) != 0)
            return fail_at(d, &mark, "%s", why);
        push_scalar(L, &v, ev);
        anchor = (const char *)ev->data.scalar.anchor;
        if (anchor) {
            lua_pushstring(L, anchor);
            lua_pushvalue(L, -2);
            lua_rawset(L, d->anchors);
        }
        return 0;
    case YAML_ALIAS_EVENT:
        if (lua_getfield(L, d->anchors, (const char *)ev->data.alias.anchor) == LUA_TNIL)
            return fail_at(d, &mark, "unknown anchor '%s' referenced",
                           (const char *)ev->data.alias.anchor);
        if (copy_value(d, lua_gettop(L), d->depth, &mark) != 0)
            return -1;
        lua_remove(L, -2);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        break;
    default:
        return fail_at(d, &mark, "%s", "unexpected event");
    }

    seq = ev->type == YAML_SEQUENCE_START_EVENT;
    if (d->depth >= d->max_depth)
        return nesting_failed(d, &mark);
    anchor = (const char *)(seq ? ev->data.sequence_start.anchor
                                : ev->data.mapping_start.anchor);
    if (anchor) {
        lua_pushstring(L, anchor); /* the event goes away with the next one */
        name = lua_gettop(L);
    }
    d->depth++;
    if (seq) {
        lua_newtable(L);
        lua_pushvalue(L, d->array_mt);
        lua_setmetatable(L, -2);
        for (;;) {
            if (next_event(d) != 0)
                return -1;
            if (ev->type == YAML_SEQUENCE_END_EVENT)
                break;
            if (parse_node(d) != 0)
                return -1;
            lua_rawseti(L, -2, ++n);
        }
    } else if (parse_mapping(d) != 0) {
        return -1;
    }
    d->depth--;
    remember_anchor(d, name);
    if (name)
        lua_remove(L, name);
    return 0;
}

/* Decodes the stream in s; pushes the first document (all = 0) or the list
 * of non-empty documents. */
static int decode(lua_State *L, int all)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer max_size, max_depth, max_alias;
    lua_Integer ndocs = 0;
    int result;
    decoder d;

    max_size = ljson_opt_integer(L, 2, "max_size", LJSON_DEFAULT_MAX_SIZE, 0, LUA_MAXINTEGER);
    max_depth = ljson_opt_integer(L, 2, "max_depth", LJSON_DEFAULT_MAX_DEPTH, 1, JSON_MAX_DEPTH);
    max_alias = ljson_opt_integer(L, 2, "max_alias_nodes", DEFAULT_MAX_ALIAS_NODES, 0,
                            LUA_MAXINTEGER);
    if ((lua_Integer)len > max_size) {
        lua_pushnil(L);
        lua_pushfstring(L, "yaml: input of %I bytes is larger than max_size (%I bytes)",
                        (lua_Integer)len, max_size);
        return 2;
    }
    lua_settop(L, 1);
    memset(&d, 0, sizeof d);
    d.L = L;
    d.src = s;
    d.len = len;
    d.max_depth = (int)max_depth;
    d.alias_budget = max_alias;
    d.p = lua_newuserdatauv(L, sizeof *d.p, 0);
    memset(d.p, 0, sizeof *d.p);
    if (luaL_newmetatable(L, "smop.yaml.parser")) {
        lua_pushcfunction(L, yparser_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (!yaml_parser_initialize(&d.p->parser))
        return luaL_error(L, "not enough memory");
    d.p->have_parser = 1;
    yaml_parser_set_input_string(&d.p->parser, (const unsigned char *)s, len);
    ljson_push_array_mt(L);
    d.array_mt = lua_gettop(L);
    lua_newtable(L);
    d.anchors = lua_gettop(L);
    if (all) {
        lua_newtable(L);
        lua_pushvalue(L, d.array_mt);
        lua_setmetatable(L, -2);
    } else {
        ljson_push_null(L); /* an empty stream is one null document */
    }
    result = lua_gettop(L);

    for (;;) {
        if (next_event(&d) != 0)
            goto fail;
        if (d.p->event.type == YAML_STREAM_END_EVENT)
            break;
        if (d.p->event.type != YAML_DOCUMENT_START_EVENT)
            continue; /* STREAM_START */
        lua_newtable(L); /* anchors belong to one document */
        lua_replace(L, d.anchors);
        if (next_event(&d) != 0 || parse_node(&d) != 0 || next_event(&d) != 0)
            goto fail;
        if (!all) {
            lua_replace(L, result);
            break;
        }
        if (ljson_is_null(L, -1))
            lua_pop(L, 1);
        else
            lua_rawseti(L, result, ++ndocs);
    }
    lua_settop(L, result);
    yparser_free(d.p); /* now rather than at the next collection */
    return 1;
fail:
    yparser_free(d.p);
    lua_pushnil(L);
    lua_pushstring(L, d.err);
    return 2;
}

static int l_decode(lua_State *L)
{
    return decode(L, 0);
}

static int l_decode_all(lua_State *L)
{
    return decode(L, 1);
}

/* ---- encoding ---- */

typedef struct yemitter {
    yaml_emitter_t emitter;
    int have_emitter;
} yemitter;

static void yemitter_free(yemitter *em)
{
    if (em->have_emitter)
        yaml_emitter_delete(&em->emitter);
    em->have_emitter = 0;
}

static int yemitter_gc(lua_State *L)
{
    yemitter_free(lua_touserdata(L, 1));
    return 0;
}

typedef struct encoder {
    lua_State *L;
    yaml_emitter_t *emitter;
    ljson_buf *buf;
    int marks;
    int max_depth;
    int depth;
    size_t max_size;
    char why[160];
    char err[512];
    ljson_step path[JSON_MAX_DEPTH + 1];
} encoder;

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    encoder *e = data;

    return ljson_buf_add(e->buf, (const char *)buffer, size) == 0;
}

static int failed(encoder *e, const char *what, const char *why)
{
    char path[256];

    ljson_path(e->path, e->depth, path, sizeof path);
    snprintf(e->err, sizeof e->err, "cannot encode %s at %s%s%s", what, path,
             why ? ": " : "", why ? why : "");
    return -1;
}

/* Emits ev (libyaml takes it over, even on failure). */
static int emit(encoder *e, yaml_event_t *ev)
{
    if (yaml_emitter_emit(e->emitter, ev))
        return 0;
    if (e->buf->oom)
        luaL_error(e->L, "not enough memory");
    if (e->emitter->error == YAML_WRITER_ERROR)
        snprintf(e->err, sizeof e->err, "output is larger than max_size (%zu bytes)",
                 e->max_size);
    else
        snprintf(e->err, sizeof e->err, "yaml: %s",
                 e->emitter->problem ? e->emitter->problem : "cannot emit");
    return -1;
}

static int emit_scalar(encoder *e, const char *s, size_t n, yaml_scalar_style_t style)
{
    yaml_event_t ev;

    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1, style))
        return failed(e, "string", "not valid UTF-8 (or out of memory)");
    return emit(e, &ev);
}

static int emit_string(encoder *e, const char *s, size_t n)
{
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;

    if (n > INT32_MAX)
        return failed(e, "string", "longer than 2 GiB");
    if (yscalar_needs_quotes(s, n))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (memchr(s, '\n', n))
        style = YAML_LITERAL_SCALAR_STYLE; /* libyaml quotes it if it cannot */
    return emit_scalar(e, s, n, style);
}

static int encode_value(encoder *e, int idx);

static int encode_table(encoder *e, int t)
{
    lua_State *L = e->L;
    lua_Integer n, i;
    yaml_event_t ev;
    ljson_key *keys;
    size_t nkeys, k;
    int kind, anchor;

    if (e->depth >= e->max_depth) {
        snprintf(e->why, sizeof e->why, "nesting deeper than %d levels (a cycle?)",
                 e->max_depth);
        return failed(e, "table", e->why);
    }
    luaL_checkstack(L, 6, "YAML nesting");
    kind = ljson_table_kind(L, t, e->marks, &n, e->why, sizeof e->why);
    if (kind == LJSON_INVALID)
        return failed(e, "table", e->why);
    e->depth++;
    if (kind == LJSON_ARRAY) {
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             n ? YAML_BLOCK_SEQUENCE_STYLE
                                               : YAML_FLOW_SEQUENCE_STYLE);
        if (emit(e, &ev))
            return -1;
        for (i = 1; i <= n; i++) {
            e->path[e->depth - 1].key = NULL;
            e->path[e->depth - 1].index = i;
            lua_rawgeti(L, t, i);
            if (encode_value(e, lua_gettop(L)))
                return -1;
            lua_pop(L, 1);
        }
        yaml_sequence_end_event_initialize(&ev);
    } else {
        keys = ljson_sorted_keys(L, t, &nkeys);
        anchor = lua_gettop(L);
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                            nkeys ? YAML_BLOCK_MAPPING_STYLE
                                                  : YAML_FLOW_MAPPING_STYLE);
        if (emit(e, &ev))
            return -1;
        for (k = 0; k < nkeys; k++) {
            e->path[e->depth - 1].key = keys[k].s;
            e->path[e->depth - 1].keylen = keys[k].len;
            if (emit_string(e, keys[k].s, keys[k].len))
                return -1;
            ljson_sorted_value(L, t, anchor, &keys[k]);
            if (encode_value(e, lua_gettop(L)))
                return -1;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        yaml_mapping_end_event_initialize(&ev);
    }
    e->depth--;
    return emit(e, &ev);
}

static int encode_value(encoder *e, int idx)
{
    lua_State *L = e->L;
    char num[64];
    const char *s;
    size_t len;
    int k;
    double d;

    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    case LUA_TBOOLEAN:
        s = lua_toboolean(L, idx) ? "true" : "false";
        return emit_scalar(e, s, strlen(s), YAML_PLAIN_SCALAR_STYLE);
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            k = snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(L, idx));
        } else {
            d = lua_tonumber(L, idx);
            k = json_format_double(d, num);
            if (k < 0)
                k = snprintf(num, sizeof num, "%s",
                             d != d ? ".nan" : d > 0 ? ".inf" : "-.inf");
        }
        return emit_scalar(e, num, (size_t)k, YAML_PLAIN_SCALAR_STYLE);
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        return emit_string(e, s, len);
    case LUA_TLIGHTUSERDATA:
        if (ljson_is_null(L, idx))
            return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
        return failed(e, "light userdata", "only json.null is allowed");
    case LUA_TTABLE:
        return encode_table(e, idx);
    default:
        return failed(e, luaL_typename(L, idx), NULL);
    }
}

static int encode_document(encoder *e, int idx)
{
    yaml_event_t ev;

    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (emit(e, &ev) || encode_value(e, idx))
        return -1;
    yaml_document_end_event_initialize(&ev, 1);
    return emit(e, &ev);
}

static int encode(lua_State *L, int all)
{
    encoder e;
    yemitter *em;
    yaml_event_t ev;
    lua_Integer max_size, max_depth, i, n = 0;
    char why[160], msg[sizeof e.err];

    luaL_checkany(L, 1);
    max_size = ljson_opt_integer(L, 2, "max_size", LJSON_DEFAULT_MAX_SIZE, 0, LUA_MAXINTEGER);
    max_depth = ljson_opt_integer(L, 2, "max_depth", LJSON_DEFAULT_MAX_DEPTH, 1, JSON_MAX_DEPTH);
    if (all) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_pushnil(L);
        if (ljson_table_kind(L, 1, 0, &n, why, sizeof why) != LJSON_ARRAY && lua_next(L, 1))
            luaL_argerror(L, 1, "expected an array of documents");
    }
    lua_settop(L, 1);
    memset(&e, 0, sizeof e);
    e.L = L;
    e.max_depth = (int)max_depth;
    e.max_size = (size_t)max_size;
    e.buf = ljson_buf_new(L, (size_t)max_size);
    e.marks = ljson_push_marks(L);
    em = lua_newuserdatauv(L, sizeof *em, 0);
    memset(em, 0, sizeof *em);
    if (luaL_newmetatable(L, "smop.yaml.emitter")) {
        lua_pushcfunction(L, yemitter_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (!yaml_emitter_initialize(&em->emitter))
        return luaL_error(L, "not enough memory");
    em->have_emitter = 1;
    e.emitter = &em->emitter;
    yaml_emitter_set_output(e.emitter, write_handler, &e);
    yaml_emitter_set_unicode(e.emitter, 1);
    yaml_emitter_set_width(e.emitter, -1);
    yaml_emitter_set_indent(e.emitter, 2);

    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (emit(&e, &ev))
        goto fail;
    if (all) {
        for (i = 1; i <= n; i++) {
            lua_rawgeti(L, 1, i);
            if (encode_document(&e, lua_gettop(L))) {
                snprintf(msg, sizeof msg, "document %lld: %.480s", (long long)i, e.err);
                memcpy(e.err, msg, sizeof e.err);
                goto fail;
            }
            lua_pop(L, 1);
        }
    } else if (encode_document(&e, 1)) {
        goto fail;
    }
    yaml_stream_end_event_initialize(&ev);
    if (emit(&e, &ev))
        goto fail;
    yemitter_free(em);
    ljson_buf_push(L, e.buf);
    return 1;
fail:
    yemitter_free(em);
    lua_pushnil(L);
    lua_pushstring(L, e.err);
    return 2;
}

static int l_encode(lua_State *L)
{
    return encode(L, 0);
}

static int l_encode_all(lua_State *L)
{
    return encode(L, 1);
}

int luaopen_smop_yaml(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"decode", l_decode},
        {"decode_all", l_decode_all},
        {"encode", l_encode},
        {"encode_all", l_encode_all},
        {NULL, NULL},
    };

    luaL_newlib(L, funcs);
    return 1;
}
