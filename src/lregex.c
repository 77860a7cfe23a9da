/*
 * lregex.c - smop.regex: PCRE2 regular expressions for Lua, in UTF-8 mode.
 *
 *   regex.compile(pattern [, flags]) -> re | nil, "regex: <why> at offset N"
 *   regex.cache(pattern [, flags])   -> the same, compiled once per VM (at
 *                                       most 256 kept: when full, one goes)
 *   re:test(subject [, init])  -> true | false   a match anywhere
 *   re:full(subject)           -> true | false   the whole subject (Java's
 *                                                matches(): AWS validation)
 *   re:match(subject [, init]) -> captures (false for a group that did not
 *                                 take part) or the whole match | nil
 *   tostring(re)               -> "regex: <pattern>"
 *
 * flags: "i" caseless, "m" multiline, "s" dot matches newlines, "x"
 * extended, "j" Java dialect: the syntax of java.util.regex.Pattern, in
 * which the AWS API models write their patterns. It is rewritten into PCRE2
 * syntax: \uHHHH escapes and UTF-16 surrogate pairs become code points,
 * \p{Print} and the other POSIX names become ASCII classes, \p{IsX} becomes
 * \p{X}, '.' stops at Java's line terminators, and a quantified anchor
 * (Java accepts "${1,128}") is wrapped in a group. Nested classes, class
 * intersection (&&) and the inline flags (?s) and (?d) are refused.
 * init is a byte position as in string.find (negative counts from the end).
 * A subject that is not valid UTF-8 does not fail: invalid bytes just never
 * match.
 *
 * Bounded work: C code is not interrupted by the CPU budget, so every match
 * runs under PCRE2's match, depth and heap limits (per start position; test
 * and match also refuse subjects over the sandbox's 1 MiB pattern subject
 * limit). Past a limit the call returns nil, "regex: match limit exceeded";
 * it never raises. Other expected failures return nil, "regex: ...".
 *
 * Memory: PCRE2 allocates through the VM's allocator (counted against the
 * memory cap; a refusal collects garbage once and retries, as Lua's own
 * allocations do, then answers nil, "regex: not enough memory"). Compiled
 * code lives in a userdata whose __gc frees it; the match data is one block
 * per VM, owned by the module, so raising a Lua error at any point leaks
 * nothing.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "hostlibs.h"
#include "lsandbox.h"

#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define REGEX_MT "smop.regex"
#define STATE_MT "smop.regex.state"

#define MATCH_LIMIT 1000000  /* backtracking steps per start position */
#define DEPTH_LIMIT 100000   /* nested backtracking points */
#define HEAP_LIMIT_KIB 16384 /* backtracking frames */
#define CACHE_MAX 256        /* patterns kept by regex.cache */
#define MIN_PAIRS 16         /* ovector pairs of the shared match data */

#define LIMIT_MSG "regex: match limit exceeded"

/* Per-VM state, the upvalue of every function of the module. */
struct regex_state {
    pcre2_general_context *gctx;
    pcre2_compile_context *cctx;      /* plain patterns */
    pcre2_compile_context *cctx_java; /* Java: any Unicode newline, \R */
    pcre2_match_context *mctx;        /* the limits */
    pcre2_match_data *md;             /* shared by every match */
    uint32_t md_pairs;
};

struct regex {
    pcre2_code *code; /* NULL until compiled */
    uint32_t pairs;   /* ovector pairs a match needs */
};

/* ---- memory: PCRE2 allocates through the VM's allocator ---- */

/* memory_data is the main thread: it lives until lua_close has freed
 * everything, so code freed by a late __gc still finds the allocator. */
typedef union {
    max_align_t align;
    size_t size;
} block_header;

static void *regex_malloc(PCRE2_SIZE size, void *ud)
{
    void *aud;
    lua_Alloc alloc = lua_getallocf(ud, &aud);
    block_header *h;

    if (size > SIZE_MAX - sizeof *h)
        return NULL;
    h = alloc(aud, NULL, LUA_TUSERDATA, sizeof *h + size);
    if (!h)
        return NULL;
    h->size = sizeof *h + size;
    return h + 1;
}

static void regex_free(void *p, void *ud)
{
    void *aud;
    lua_Alloc alloc;
    block_header *h;

    if (!p)
        return;
    alloc = lua_getallocf(ud, &aud);
    h = (block_header *)p - 1;
    alloc(aud, h, h->size, 0);
}

/* ---- the Java dialect ---- */

/* Where translated text goes: a Lua buffer, or nowhere (only counted, to
 * find which input byte produced a given output byte). */
struct sink {
    luaL_Buffer *b;
    size_t n;
};

static void put(struct sink *o, const char *s, size_t n)
{
    if (o->b)
        luaL_addlstring(o->b, s, n);
    o->n += n;
}

static void puts_(struct sink *o, const char *s) { put(o, s, strlen(s)); }

static int hex4(const char *p, size_t avail, uint32_t *cp)
{
    uint32_t v = 0;
    size_t i;

    if (avail < 4)
        return 0;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *cp = v;
    return 1;
}

/* Java's POSIX classes (US-ASCII, as PCRE2's without PCRE2_UCP). */
static const char *posix_name(const char *name, size_t len)
{
    static const char *const map[][2] = {
        {"Lower", "lower"}, {"Upper", "upper"}, {"ASCII", "ascii"},
        {"Alpha", "alpha"}, {"Digit", "digit"}, {"Alnum", "alnum"},
        {"Punct", "punct"}, {"Graph", "graph"}, {"Print", "print"},
        {"Blank", "blank"}, {"Cntrl", "cntrl"}, {"XDigit", "xdigit"},
        {"Space", "space"},
    };
    size_t i;

    for (i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i][0]) == len && memcmp(map[i][0], name, len) == 0)
            return map[i][1];
    return NULL;
}

/* \p{...} or \P{...} at p[i]; returns the input length consumed. */
static size_t java_property(const char *p, size_t len, size_t i, int in_class,
                            struct sink *o)
{
    int negated = p[i + 1] == 'P';
    const char *name = p + i + 3, *close, *posix;
    char out[64];
    size_t n;

    close = memchr(name, '}', len - (size_t)(name - p));
    if (!close) {
        put(o, p + i, 2); /* PCRE2 reports the malformed property */
        return 2;
    }
    n = (size_t)(close - name);
    posix = posix_name(name, n);
    if (posix) {
        snprintf(out, sizeof out, in_class ? "[:%s%s:]" : "[%s[:%s:]]",
                 negated ? "^" : "", posix);
        puts_(o, out);
    } else {
        if (n > 2 && name[0] == 'I' && name[1] == 's') { /* \p{IsLatin} */
            name += 2;
            n -= 2;
        }
        put(o, negated ? "\\P{" : "\\p{", 3);
        put(o, name, n);
        put(o, "}", 1);
    }
    return (size_t)(close - (p + i)) + 1;
}

/* \uHHHH at p[i] (a surrogate pair when two follow); 0 if malformed,
 * (size_t)-1 for a lone surrogate, else the input length consumed. */
static size_t java_unicode(const char *p, size_t len, size_t i, struct sink *o)
{
    uint32_t cp, lo;
    size_t used = 6;
    char out[16];

    if (!hex4(p + i + 2, len - i - 2, &cp))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF && len - i >= 12 && p[i + 6] == '\\' &&
        p[i + 7] == 'u' && hex4(p + i + 8, len - i - 8, &lo) && lo >= 0xDC00 &&
        lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        used = 12;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        return (size_t)-1;
    }
    snprintf(out, sizeof out, "\\x{%X}", (unsigned)cp);
    puts_(o, out);
    return used;
}

/* "(?flags)" or "(?flags:" at p[i] turning on s or d. */
static int inline_dot_flags(const char *p, size_t len, size_t i)
{
    size_t j;
    int found = 0;

    if (i + 1 >= len || p[i + 1] != '?')
        return 0;
    for (j = i + 2; j < len; j++) {
        char c = p[j];
        if (c == ')' || c == ':')
            return found;
        if (c == 's' || c == 'd')
            found = 1;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
            return 0;
    }
    return 0;
}

static int is_quantifier(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (p[i] == '*' || p[i] == '+' || p[i] == '?')
        return 1;
    return p[i] == '{' && i + 1 < len && p[i + 1] >= '0' && p[i + 1] <= '9';
}

/*
 * Rewrites Java pattern syntax into PCRE2's (see the top of the file).
 * Returns NULL, or why the pattern cannot be translated with *at the input
 * offset. With stop set, stops as soon as more than stop bytes were written
 * and returns NULL with *at the input offset that wrote them (SIZE_MAX if
 * the output never got that long).
 */
static const char *java_translate(const char *p, size_t len, int dotall,
                                  struct sink *o, size_t stop, size_t *at)
{
    size_t i = 0, class_open = 0;
    int in_class = 0;

    *at = SIZE_MAX;
    while (i < len) {
        size_t from = i, used;
        char c = p[i];

        if (c == '\\' && i + 1 < len) {
            char e = p[i + 1];
            if (e == 'Q') { /* quoted: copied as is up to \E */
                const char *end = NULL;
                size_t k;
                for (k = i + 2; k + 1 < len; k++)
                    if (p[k] == '\\' && p[k + 1] == 'E') {
                        end = p + k + 2;
                        break;
                    }
                used = end ? (size_t)(end - (p + i)) : len - i;
                put(o, p + i, used);
                i += used;
            } else if (e == 'u') {
                used = java_unicode(p, len, i, o);
                if (used == (size_t)-1) {
                    *at = i;
                    return "a lone UTF-16 surrogate cannot match UTF-8 text";
                }
                if (used == 0) {
                    put(o, p + i, 2); /* PCRE2 reports the bad escape */
                    used = 2;
                }
                i += used;
            } else if ((e == 'p' || e == 'P') && i + 2 < len && p[i + 2] == '{') {
                i += java_property(p, len, i, in_class, o);
            } else {
                put(o, p + i, 2);
                i += 2;
            }
        } else if (in_class) {
            if (c == '[') {
                *at = i;
                return "nested character classes are not supported";
            }
            if (c == '&' && i + 1 < len && p[i + 1] == '&') {
                *at = i;
                return "character class intersection (&&) is not supported";
            }
            if (c == ']' && i == class_open)
                put(o, "\\]", 2); /* a literal first ']', as in Java */
            else
                put(o, &c, 1);
            if (c == ']' && i != class_open)
                in_class = 0;
            i++;
        } else if (c == '[') {
            in_class = 1;
            put(o, "[", 1);
            i++;
            if (i < len && p[i] == '^') {
                put(o, "^", 1);
                i++;
            }
            class_open = i;
        } else if (c == '.' && !dotall) {
            puts_(o, "[^\\n\\r\\x{85}\\x{2028}\\x{2029}]");
            i++;
        } else if (c == '(' && inline_dot_flags(p, len, i)) {
            *at = i;
            return "the inline flags (?s) and (?d) are not supported "
                   "(compile with the s flag)";
        } else if ((c == '$' || c == '^') && is_quantifier(p, len, i + 1)) {
            puts_(o, c == '$' ? "(?:$)" : "(?:^)");
            i++;
        } else {
            put(o, &c, 1);
            i++;
        }
        if (o->n > stop) {
            *at = from;
            return NULL;
        }
    }
    return NULL;
}

/* ---- compile ---- */

static struct regex_state *state_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int state_gc(lua_State *L)
{
    struct regex_state *st = luaL_checkudata(L, 1, STATE_MT);

    pcre2_match_data_free(st->md);
    pcre2_match_context_free(st->mctx);
    pcre2_compile_context_free(st->cctx_java);
    pcre2_compile_context_free(st->cctx);
    pcre2_general_context_free(st->gctx);
    memset(st, 0, sizeof *st);
    return 0;
}

static int regex_gc(lua_State *L)
{
    struct regex *re = luaL_checkudata(L, 1, REGEX_MT);

    pcre2_code_free(re->code);
    re->code = NULL;
    return 0;
}

static int regex_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, REGEX_MT);
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, "regex: %s", lua_tostring(L, -1));
    return 1;
}

static uint32_t parse_flags(lua_State *L, int arg, int *java)
{
    const char *f = luaL_optstring(L, arg, "");
    uint32_t opts = 0;

    *java = 0;
    for (; *f; f++) {
        switch (*f) {
        case 'i': opts |= PCRE2_CASELESS; break;
        case 'm': opts |= PCRE2_MULTILINE; break;
        case 's': opts |= PCRE2_DOTALL; break;
        case 'x': opts |= PCRE2_EXTENDED; break;
        case 'j': *java = 1; break;
        default:
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown flag '%c' (flags: imsxj)", *f));
        }
    }
    return opts;
}

/* Pushes the compiled regex, or nil and a message. */
static int compile(lua_State *L, int pat_arg, int flags_arg)
{
    struct regex_state *st = state_of(L);
    size_t len, tlen, at;
    const char *pat = luaL_checklstring(L, pat_arg, &len), *text = pat, *why;
    int java, code_err, attempt;
    uint32_t opts = parse_flags(L, flags_arg, &java), captures;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[160];
    struct regex *re;

    tlen = len;
    if (java) {
        luaL_Buffer b;
        struct sink o = {&b, 0};
        luaL_buffinit(L, &b);
        why = java_translate(pat, len, (opts & PCRE2_DOTALL) != 0, &o, SIZE_MAX, &at);
        if (why) {
            lua_pushnil(L);
            lua_pushfstring(L, "regex: %s at offset %I", why, (lua_Integer)at);
            return 2;
        }
        luaL_pushresult(&b);
        text = lua_tolstring(L, -1, &tlen);
    }
    re = lua_newuserdatauv(L, sizeof *re, 1);
    re->code = NULL;
    re->pairs = 0;
    luaL_setmetatable(L, REGEX_MT);
    lua_pushvalue(L, pat_arg);
    lua_setiuservalue(L, -2, 1);
    for (attempt = 0; attempt < 2; attempt++) {
        re->code = pcre2_compile((PCRE2_SPTR)text, tlen,
                                 opts | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code_err,
                                 &off, java ? st->cctx_java : st->cctx);
        if (re->code || code_err != PCRE2_ERROR_HEAP_FAILED)
            break;
        lua_gc(L, LUA_GCCOLLECT, 0); /* as run() does */
    }
    if (!re->code) {
        if (pcre2_get_error_message(code_err, msg, sizeof msg) == PCRE2_ERROR_BADDATA)
            snprintf((char *)msg, sizeof msg, "error %d", code_err);
        if (java) { /* name the offset in the Java pattern */
            struct sink count = {NULL, 0};
            java_translate(pat, len, (opts & PCRE2_DOTALL) != 0, &count, off, &at);
            off = at == SIZE_MAX ? len : at;
        }
        lua_pushnil(L);
        lua_pushfstring(L, "regex: %s at offset %I", (const char *)msg, (lua_Integer)off);
        return 2;
    }
    if (pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &captures) != 0)
        captures = 0;
    re->pairs = captures + 1;
    return 1;
}

static int l_compile(lua_State *L)
{
    return compile(L, 1, 2);
}

/* Upvalue 2: "flags/pattern" -> regex; upvalue 3: its number of entries. */
static int l_cache(lua_State *L)
{
    lua_Integer size;

    luaL_checkstring(L, 1);
    lua_settop(L, 2);
    lua_pushstring(L, luaL_optstring(L, 2, ""));
    lua_pushliteral(L, "/");
    lua_pushvalue(L, 1);
    lua_concat(L, 3); /* 3: the key */
    lua_pushvalue(L, 3);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (compile(L, 1, 2) == 2)
        return 2;
    size = lua_tointeger(L, lua_upvalueindex(3));
    if (size >= CACHE_MAX) { /* full: drop an arbitrary entry */
        lua_pushnil(L);
        if (lua_next(L, lua_upvalueindex(2))) {
            lua_pop(L, 1);
            lua_pushnil(L);
            lua_rawset(L, lua_upvalueindex(2));
            size--;
        }
    }
    lua_pushvalue(L, 3);
    lua_pushvalue(L, -2);
    lua_rawset(L, lua_upvalueindex(2));
    lua_pushinteger(L, size + 1);
    lua_replace(L, lua_upvalueindex(3));
    return 1;
}

/* ---- match ---- */

static int run_once(struct regex_state *st, const struct regex *re, const char *s,
                    size_t len, size_t start, uint32_t opts)
{
    int rc;

    if (st->md_pairs < re->pairs) {
        uint32_t pairs = re->pairs > MIN_PAIRS ? re->pairs : MIN_PAIRS;
        pcre2_match_data_free(st->md);
        st->md_pairs = 0;
        st->md = pcre2_match_data_create(pairs, st->gctx);
        if (!st->md)
            return PCRE2_ERROR_NOMEMORY;
        st->md_pairs = pairs;
    }
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, opts, st->md, st->mctx);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT) {
        /* the match data keeps its backtracking frames: do not keep a
         * runaway's for good */
        pcre2_match_data_free(st->md);
        st->md = NULL;
        st->md_pairs = 0;
    }
    return rc;
}

/*
 * Runs one match into the shared match data; returns PCRE2's code.
 * PCRE2 allocates behind Lua's back, so a refusal from
 * the memory cap does not start Lua's emergency collection as a Lua
 * allocation would; collect once and try again. The subject and the regex
 * are anchored on the caller's stack across the collection.
 */
static int run(lua_State *L, const struct regex *re, const char *s, size_t len,
               size_t start, uint32_t opts)
{
    int rc = run_once(state_of(L), re, s, len, start, opts);

    if (rc == PCRE2_ERROR_NOMEMORY) {
        lua_gc(L, LUA_GCCOLLECT, 0);
        rc = run_once(state_of(L), re, s, len, start, opts);
    }
    return rc;
}

static int push_failure(lua_State *L, int rc)
{
    PCRE2_UCHAR msg[160];

    lua_pushnil(L);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT) {
        lua_pushliteral(L, LIMIT_MSG);
    } else if (rc == PCRE2_ERROR_NOMEMORY) {
        lua_pushliteral(L, "regex: not enough memory");
    } else {
        if (pcre2_get_error_message(rc, msg, sizeof msg) == PCRE2_ERROR_BADDATA)
            snprintf((char *)msg, sizeof msg, "error %d", rc);
        lua_pushfstring(L, "regex: %s", (const char *)msg);
    }
    return 2;
}

/* The start offset of init (string.find's rules); 0 with *past set when it
 * lies beyond the end, so nothing can match. */
static size_t start_of(lua_State *L, int arg, size_t len, int *past)
{
    lua_Integer init = luaL_optinteger(L, arg, 1);

    *past = 0;
    if (init > 0) {
        if ((lua_Unsigned)init - 1 > len) {
            *past = 1;
            return 0;
        }
        return (size_t)init - 1;
    }
    if (init == 0 || (lua_Unsigned)-init > len)
        return 0;
    return len - (size_t)-init;
}

static const char *subject(lua_State *L, struct regex **re, size_t *len, int capped)
{
    const char *s;

    *re = luaL_checkudata(L, 1, REGEX_MT);
    s = luaL_checklstring(L, 2, len);
    if (capped && *len > LSANDBOX_MAX_PATTERN_SUBJECT)
        return NULL;
    return s;
}

static int push_too_long(lua_State *L, size_t len)
{
    lua_pushnil(L);
    lua_pushfstring(L, "regex: subject of %I bytes is over the %d MiB limit",
                    (lua_Integer)len, (int)(LSANDBOX_MAX_PATTERN_SUBJECT >> 20));
    return 2;
}

static int l_test(lua_State *L)
{
    struct regex *re;
    size_t len, start;
    const char *s = subject(L, &re, &len, 1);
    int past, rc;

    if (!s)
        return push_too_long(L, len);
    start = start_of(L, 3, len, &past);
    if (past) {
        lua_pushboolean(L, 0);
        return 1;
    }
    rc = run(L, re, s, len, start, 0);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
        return push_failure(L, rc);
    lua_pushboolean(L, rc >= 0);
    return 1;
}

static int l_full(lua_State *L)
{
    struct regex *re;
    size_t len;
    const char *s = subject(L, &re, &len, 0);
    int rc = run(L, re, s, len, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED);

    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
        return push_failure(L, rc);
    lua_pushboolean(L, rc >= 0);
    return 1;
}

static int l_match(lua_State *L)
{
    struct regex *re;
    size_t len, start;
    const char *s = subject(L, &re, &len, 1);
    int past, rc, n, i, base;
    PCRE2_SIZE *ov;

    if (!s)
        return push_too_long(L, len);
    start = start_of(L, 3, len, &past);
    n = re->pairs > 1 ? (int)re->pairs - 1 : 1; /* the captures, or the match */
    luaL_checkstack(L, 3 * n, "too many captures");
    lua_settop(L, 2);
    rc = past ? PCRE2_ERROR_NOMATCH : run(L, re, s, len, start, 0);
    if (rc == PCRE2_ERROR_NOMATCH) {
        lua_pushnil(L);
        return 1;
    }
    if (rc < 0)
        return push_failure(L, rc);
    /* Offsets go to the stack before any string is made: making one may run
     * a finalizer, and a finalizer may run another match over the shared
     * match data. Pushing integers into reserved slots allocates nothing. */
    ov = pcre2_get_ovector_pointer(state_of(L)->md);
    base = lua_gettop(L);
    for (i = 0; i < n; i++) {
        int pair = re->pairs > 1 ? i + 1 : 0;
        if (pair >= rc || ov[2 * pair] == PCRE2_UNSET) {
            lua_pushinteger(L, -1);
            lua_pushinteger(L, -1);
        } else {
            lua_pushinteger(L, (lua_Integer)ov[2 * pair]);
            lua_pushinteger(L, (lua_Integer)ov[2 * pair + 1]);
        }
    }
    for (i = 0; i < n; i++) {
        lua_Integer from = lua_tointeger(L, base + 2 * i + 1);
        lua_Integer to = lua_tointeger(L, base + 2 * i + 2);
        if (from < 0)
            lua_pushboolean(L, 0);
        else
            lua_pushlstring(L, s + from, (size_t)(to - from));
    }
    return n;
}

/* ---- module ---- */

static void open_state(lua_State *L)
{
    struct regex_state *st = lua_newuserdatauv(L, sizeof *st, 0);
    lua_State *main;

    memset(st, 0, sizeof *st);
    luaL_newmetatable(L, STATE_MT);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);

    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    main = lua_tothread(L, -1);
    lua_pop(L, 1);
    st->gctx = pcre2_general_context_create(regex_malloc, regex_free, main);
    if (st->gctx) {
        st->cctx = pcre2_compile_context_create(st->gctx);
        st->cctx_java = pcre2_compile_context_create(st->gctx);
        st->mctx = pcre2_match_context_create(st->gctx);
    }
    if (!st->cctx || !st->cctx_java || !st->mctx)
        luaL_error(L, "regex: not enough memory"); /* __gc frees the rest */
    pcre2_set_newline(st->cctx_java, PCRE2_NEWLINE_ANY);
    pcre2_set_bsr(st->cctx_java, PCRE2_BSR_UNICODE);
    pcre2_set_match_limit(st->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(st->mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(st->mctx, HEAP_LIMIT_KIB);
}

int luaopen_smop_regex(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"test", l_test},
        {"full", l_full},
        {"match", l_match},
        {NULL, NULL},
    };
    int state;

    open_state(L);
    state = lua_gettop(L);
    if (luaL_newmetatable(L, REGEX_MT)) {
        lua_newtable(L);
        lua_pushvalue(L, state);
        luaL_setfuncs(L, methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, regex_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, regex_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);

    lua_createtable(L, 0, 2);
    lua_pushvalue(L, state);
    lua_pushcclosure(L, l_compile, 1);
    lua_setfield(L, -2, "compile");
    lua_pushvalue(L, state);
    lua_newtable(L);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, l_cache, 3);
    lua_setfield(L, -2, "cache");
    return 1;
}
