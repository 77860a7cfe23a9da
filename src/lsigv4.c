/*
 * lsigv4.c - smop.sigv4: SigV4 signing for Lua (signer in sigv4.c).
 *
 *   local add, dbg = sigv4.sign{ method=, url=, headers=, body=, region=,
 *       service=, access_key_id=, secret_access_key=, session_token=,
 *       time=, payload_hash=, normalize_path=, content_sha256= }
 *
 * url is scheme://host[:port]/path?query (http or https; a #fragment is
 * dropped). headers maps a name to a string, or to a list of strings for a
 * header sent several times. Every header passed is signed, and Host is
 * signed always: taken from headers, else from the url (host, and ":port"
 * unless it is the scheme's default, as curl sends it).
 *
 * Returns the headers to add to the request: X-Amz-Date, Authorization,
 * X-Amz-Security-Token (with a non-empty session_token), Host (when not
 * given) and X-Amz-Content-Sha256 (with content_sha256); and a debug table
 * { canonical_request=, string_to_sign=, signature= } for servers that verify
 * signatures. time is epoch seconds (default: now). service "s3" signs the
 * S3 way: path neither normalized nor double-encoded, X-Amz-Content-Sha256
 * sent; normalize_path and content_sha256 (booleans) override the defaults.
 *
 * Expected failures (missing credentials or region, a bad url, header or
 * escape) return nil, message; a field of the wrong type is a Lua error.
 * No message contains the secret key or the session token.
 *
 *   sigv4.sha256_hex(s), sigv4.hmac_sha256_hex(key, msg): lower-case hex;
 *   key is raw bytes.
 */
#include "hostlibs.h"
#include "sigv4.h"
#include "smop.h"

#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HOST_MAX 300

/* The field's string, or NULL when nil; anything else is a caller bug. The
 * string stays on the stack, which anchors it until l_sign returns. */
static const char *opt_string(lua_State *L, int t, const char *field, size_t *len)
{
    int type = lua_getfield(L, t, field);

    if (type == LUA_TNIL)
        return NULL;
    if (type != LUA_TSTRING)
        luaL_error(L, "sigv4.sign: field '%s' must be a string, not %s", field,
                   luaL_typename(L, -1));
    return lua_tolstring(L, -1, len);
}

/* -1 when nil, else 0/1; anything but a boolean is a caller bug. */
static int opt_boolean(lua_State *L, int t, const char *field)
{
    int type = lua_getfield(L, t, field), v;

    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_error(L, "sigv4.sign: field '%s' must be a boolean, not %s", field,
                   luaL_typename(L, -1));
    v = type == LUA_TNIL ? -1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

typedef struct url_parts {
    char host[HOST_MAX];    /* host[:port], the Host header value */
    const char *path;       /* anchored on the Lua stack */
    const char *query;      /* NULL when the url has none */
} url_parts;

/* Splits url, pushing path and query copies on the stack. Returns NULL or
 * the reason the url is unusable. */
static const char *parse_url(lua_State *L, const char *url, url_parts *u)
{
    const char *p, *auth, *auth_end, *port = NULL, *default_port, *end;
    size_t hostlen;

    if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        default_port = "443";
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
        default_port = "80";
    } else {
        return "url must start with http:// or https://";
    }
    auth = p;
    auth_end = auth + strcspn(auth, "/?#");
    if (auth_end == auth)
        return "url has no host";
    for (p = auth; p < auth_end; p++)
        if ((unsigned char)*p <= ' ' || *p == '@' || (unsigned char)*p == 0x7f)
            return "url host has a space, control character or user info";
    if (auth[0] == '[') {   /* IPv6 literal */
        const char *rb = memchr(auth, ']', (size_t)(auth_end - auth));

        if (!rb)
            return "url has an unterminated [IPv6] host";
        if (rb + 1 < auth_end && rb[1] != ':')
            return "url has junk after its [IPv6] host";
        hostlen = (size_t)(rb + 1 - auth);
        if (rb + 1 < auth_end)
            port = rb + 2;
    } else {
        const char *colon = memchr(auth, ':', (size_t)(auth_end - auth));

        hostlen = (size_t)((colon ? colon : auth_end) - auth);
        if (colon)
            port = colon + 1;
    }
    if (hostlen == 0 || (auth[0] == '[' && hostlen == 2))
        return "url has no host";
    if (port) {
        size_t plen = (size_t)(auth_end - port);
        long v = 0;

        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
            return "url has a bad port";
        for (size_t i = 0; i < plen; i++)
            v = v * 10 + (port[i] - '0');
        if (v < 1 || v > 65535)
            return "url has a bad port";
        if (plen == strlen(default_port) && memcmp(port, default_port, plen) == 0)
            port = NULL;    /* curl leaves a default port out of Host */
    }
    if (hostlen + (port ? (size_t)(auth_end - port) + 1 : 0) >= sizeof(u->host))
        return "url host is too long";
    memcpy(u->host, auth, hostlen);
    u->host[hostlen] = '\0';
    if (port) {
        u->host[hostlen] = ':';
        memcpy(u->host + hostlen + 1, port, (size_t)(auth_end - port));
        u->host[hostlen + 1 + (size_t)(auth_end - port)] = '\0';
    }

    p = auth_end;
    end = p + strcspn(p, "?#");
    lua_pushlstring(L, p, (size_t)(end - p));
    u->path = lua_tostring(L, -1);  /* "" signs as "/" */
    u->query = NULL;
    if (*end == '?') {
        p = end + 1;
        end = p + strcspn(p, "#");
        lua_pushlstring(L, p, (size_t)(end - p));
        u->query = lua_tostring(L, -1);
    }
    return NULL;
}

/* Adds one header; the array has room (counted first). */
static void put_header(sigv4_header *h, size_t *n, const char *name, const char *value)
{
    h[*n].name = name;
    h[*n].value = value;
    (*n)++;
}

/* Flattens the headers table (at t) into a userdata array with one spare
 * slot, pushed on the stack. Names and values stay anchored by the table.
 * Returns NULL and sets *why for a name given twice in different cases:
 * the order of their values, which the signature depends on, would be
 * pairs() order. */
static sigv4_header *collect_headers(lua_State *L, int t, size_t *count, int *have_host,
                                     const char **why)
{
    sigv4_header *h;
    size_t n = 0, cap = 1;

    *have_host = 0;
    *count = 0;
    *why = NULL;
    if (t) {
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "sigv4.sign: header names must be strings, not %s",
                           luaL_typename(L, -2));
            if (lua_type(L, -1) == LUA_TSTRING)
                cap++;
            else if (lua_type(L, -1) == LUA_TTABLE)
                cap += (size_t)(luaL_len(L, -1) > 0 ? luaL_len(L, -1) : 0);
            else
                luaL_error(L, "sigv4.sign: header '%s' must be a string or a list of "
                           "strings, not %s", lua_tostring(L, -2), luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    }
    h = lua_newuserdatauv(L, cap * sizeof(*h), 0);
    if (!t)
        return h;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *name = lua_tostring(L, -2);

        for (size_t i = 0; i < n; i++)
            if (h[i].name != name && strcasecmp(h[i].name, name) == 0) {
                lua_pushfstring(L, "sigv4.sign: header '%s' is given twice (also as '%s')",
                                name, h[i].name);
                *why = lua_tostring(L, -1);
                return NULL;    /* the message stays on the stack */
            }
        *have_host |= strcasecmp(name, "host") == 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            put_header(h, &n, name, lua_tostring(L, -1));
        } else {
            lua_Integer len = luaL_len(L, -1);

            for (lua_Integer i = 1; i <= len && n + 1 < cap; i++) {
                if (lua_geti(L, -1, i) != LUA_TSTRING)
                    luaL_error(L, "sigv4.sign: header '%s' list item %d must be a string",
                               name, (int)i);
                put_header(h, &n, name, lua_tostring(L, -1)); /* anchored by the list */
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    *count = n;
    return h;
}

static int fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

static int l_sign(lua_State *L)
{
    sigv4_request req = {0};
    sigv4_credentials creds = {0};
    sigv4_params params = {0};
    sigv4_result out;
    sigv4_debug dbg;
    url_parts url;
    sigv4_header *headers;
    const char *url_s, *why;
    char err[256];
    size_t nheaders, bound;
    int have_host, is_s3, flag, t_headers = 0;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_checkstack(L, 40, "sigv4.sign");

    req.method = opt_string(L, 1, "method", NULL);
    url_s = opt_string(L, 1, "url", NULL);
    if (!req.method)
        return fail(L, "sigv4.sign: missing method");
    if (!url_s)
        return fail(L, "sigv4.sign: missing url");
    req.body = opt_string(L, 1, "body", &req.body_len);
    req.payload_hash = opt_string(L, 1, "payload_hash", NULL);
    params.region = opt_string(L, 1, "region", NULL);
    params.service = opt_string(L, 1, "service", NULL);
    creds.access_key_id = opt_string(L, 1, "access_key_id", NULL);
    creds.secret_access_key = opt_string(L, 1, "secret_access_key", NULL);
    creds.session_token = opt_string(L, 1, "session_token", NULL);

    switch (lua_getfield(L, 1, "time")) {
    case LUA_TNIL:
        params.time = time(NULL);
        break;
    case LUA_TNUMBER: {
        lua_Number tn = floor(lua_tonumber(L, -1));

        if (!(tn >= -1e15 && tn <= 1e15))   /* NaN fails too */
            return fail(L, "sigv4.sign: time is out of range");
        params.time = (time_t)tn;
        break;
    }
    default:
        return luaL_error(L, "sigv4.sign: field 'time' must be a number, not %s",
                          luaL_typename(L, -1));
    }

    is_s3 = params.service && strcmp(params.service, "s3") == 0;
    flag = opt_boolean(L, 1, "normalize_path");
    params.normalize_path = flag >= 0 ? flag : !is_s3;
    params.single_encode = is_s3;
    flag = opt_boolean(L, 1, "content_sha256");
    params.content_sha256 = flag >= 0 ? flag : is_s3;

    if ((why = parse_url(L, url_s, &url)) != NULL) {
        lua_pushfstring(L, "sigv4.sign: %s", why);
        return fail(L, lua_tostring(L, -1));
    }
    req.path = url.path;
    req.query = url.query;

    switch (lua_getfield(L, 1, "headers")) {
    case LUA_TNIL:
        break;
    case LUA_TTABLE:
        t_headers = lua_gettop(L);
        break;
    default:
        return luaL_error(L, "sigv4.sign: field 'headers' must be a table, not %s",
                          luaL_typename(L, -1));
    }
    headers = collect_headers(L, t_headers, &nheaders, &have_host, &why);
    if (!headers)
        return fail(L, why);
    if (!have_host)
        put_header(headers, &nheaders, "Host", url.host);
    req.headers = headers;
    req.nheaders = nheaders;

    bound = sigv4_canonical_request_bound(&req, &creds, &params);
    dbg.canonical_request = lua_newuserdatauv(L, bound + SIGV4_STRING_TO_SIGN_SIZE, 0);
    dbg.canonical_request_size = bound;
    dbg.string_to_sign = dbg.canonical_request + bound;
    dbg.string_to_sign_size = SIGV4_STRING_TO_SIGN_SIZE;
    if (sigv4_sign(&req, &creds, &params, &out, &dbg, err, sizeof(err)) != SMOP_OK)
        return fail(L, err);

    lua_createtable(L, 0, 5);
    lua_pushstring(L, out.x_amz_date);
    lua_setfield(L, -2, "X-Amz-Date");
    lua_pushstring(L, out.authorization);
    lua_setfield(L, -2, "Authorization");
    if (creds.session_token && *creds.session_token) {
        lua_pushstring(L, creds.session_token);
        lua_setfield(L, -2, "X-Amz-Security-Token");
    }
    if (!have_host) {
        lua_pushstring(L, url.host);
        lua_setfield(L, -2, "Host");
    }
    if (params.content_sha256) {
        lua_pushstring(L, out.payload_hash);
        lua_setfield(L, -2, "X-Amz-Content-Sha256");
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, dbg.canonical_request);
    lua_setfield(L, -2, "canonical_request");
    lua_pushstring(L, dbg.string_to_sign);
    lua_setfield(L, -2, "string_to_sign");
    lua_pushstring(L, out.signature);
    lua_setfield(L, -2, "signature");
    return 2;
}

static int l_sha256_hex(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[65];

    if (sigv4_sha256_hex(s, len, hex) != SMOP_OK)
        return fail(L, "sigv4.sha256_hex: SHA-256 failed (OpenSSL)");
    lua_pushstring(L, hex);
    return 1;
}

static int l_hmac_sha256_hex(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    char hex[65];

    if (sigv4_hmac_sha256_hex(key, klen, msg, mlen, hex) != SMOP_OK)
        return fail(L, "sigv4.hmac_sha256_hex: HMAC-SHA256 failed (OpenSSL)");
    lua_pushstring(L, hex);
    return 1;
}

int luaopen_smop_sigv4(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"sign", l_sign},
        {"sha256_hex", l_sha256_hex},
        {"hmac_sha256_hex", l_hmac_sha256_hex},
        {NULL, NULL},
    };

    luaL_newlib(L, fns);
    return 1;
}
