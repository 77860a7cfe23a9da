/*
 * ljson.h - how Lua values stand for JSON ones; shared by smop.json and
 * smop.yaml so both read and write the same conventions.
 *
 *  - JSON null is json.null, a light userdata sentinel (not nil, so it can
 *    stand in arrays and in objects, e.g. a merge patch deleting a field).
 *  - Arrays carry the metatable json.array_mt (registry "smop.json.array");
 *    decoders mark every array, so `[]` and `{}` survive a round trip.
 *    Objects decode as plain tables. json.object_mt marks a table that must
 *    be written as an object even if its keys are integers.
 *  - Writing a table (ljson_table_kind): marked array -> array; marked
 *    object -> object; otherwise a non-empty sequence 1..n -> array, string
 *    keys only (or empty) -> object, anything else is an error.
 *
 * Output buffer: ljson_buf is a full userdata whose bytes come from the VM's
 * allocator (they count against its memory cap) and are freed by its __gc,
 * so a Lua error anywhere while writing leaks nothing. ljson_buf_add never
 * raises, so it is safe inside C callbacks (libyaml's write handler).
 */
#ifndef LJSON_H
#define LJSON_H

#include <lua.h>
#include <lauxlib.h>

#define LJSON_ARRAY_MT "smop.json.array"
#define LJSON_OBJECT_MT "smop.json.object"

#define LJSON_DEFAULT_MAX_SIZE ((lua_Integer)64 << 20)
#define LJSON_DEFAULT_MAX_DEPTH 200

void ljson_push_null(lua_State *L);
int ljson_is_null(lua_State *L, int idx);

/* Push the array / object metatable, creating it on first use. */
void ljson_push_array_mt(lua_State *L);
void ljson_push_object_mt(lua_State *L);

/* Pushes both metatables (array, then object); returns the array one's
 * index. Writers push them once and pass the index to ljson_table_kind. */
int ljson_push_marks(lua_State *L);

enum { LJSON_OBJECT, LJSON_ARRAY, LJSON_INVALID };

/* Classifies the table at idx for writing. marks: from ljson_push_marks, or
 * 0 to look the metatables up. For LJSON_ARRAY sets *n to the length; for
 * LJSON_INVALID writes the reason into why. Raw access only. */
int ljson_table_kind(lua_State *L, int idx, int marks, lua_Integer *n, char *why,
                     size_t whylen);

/* The keys of the object at idx as strings (integer keys in decimal), sorted
 * bytewise. Pushes one value that keeps them alive; entry i's value is
 * fetched with ljson_sorted_value. */
typedef struct ljson_key {
    const char *s;
    size_t len;
    int slot;       /* index of the original key in the anchor */
} ljson_key;
ljson_key *ljson_sorted_keys(lua_State *L, int idx, size_t *n);
/* Pushes t[key] for a key from the array above; anchor is the pushed value. */
void ljson_sorted_value(lua_State *L, int t, int anchor, const ljson_key *k);

/* One step of the path to a value, for error messages. */
typedef struct ljson_step {
    const char *key;   /* NULL: an array index */
    size_t keylen;
    lua_Integer index;
} ljson_step;

/* Writes the path of steps[0..depth) into buf: ".spec.list[2]",
 * ".metadata.labels[\"app.kubernetes.io/name\"]" (indexes 1-based, as in
 * Lua), "top level" for depth 0; "..." when it does not fit. */
void ljson_path(const ljson_step *steps, int depth, char *buf, size_t size);

/* Field name of the options table at index opts (none or nil: no options)
 * as an integer in lo..hi, def when absent. A wrong type is a Lua error. */
lua_Integer ljson_opt_integer(lua_State *L, int opts, const char *name, lua_Integer def,
                              lua_Integer lo, lua_Integer hi);
int ljson_opt_boolean(lua_State *L, int opts, const char *name);

typedef struct ljson_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;   /* ljson_buf_add fails rather than grow past this */
    int oom;        /* set when the allocator refused (after a full GC) */
    lua_State *L;
    lua_Alloc alloc;
    void *alloc_ud;
} ljson_buf;

/* Pushes a new empty buffer. */
ljson_buf *ljson_buf_new(lua_State *L, size_t limit);
/* Both return 0, or -1 if over the limit or out of memory (then b->oom is
 * set). reserve makes room for n more bytes at data + len. */
int ljson_buf_reserve(ljson_buf *b, size_t n);
int ljson_buf_add(ljson_buf *b, const char *p, size_t n);
/* Pushes the contents as a string and releases the bytes. */
void ljson_buf_push(lua_State *L, ljson_buf *b);

#endif
