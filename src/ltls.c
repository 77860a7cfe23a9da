/*
 * ltls.c - smop.tls: throwaway certificates for local servers (OpenSSL 3).
 *
 *   tls.new_ca{ common_name = "smop CA", days = 365 }
 *       -> { cert = pem, key = pem } | nil, err
 *   tls.new_cert{ ca = { cert =, key = }, common_name = "localhost",
 *                 dns = { "localhost" }, ip = { "127.0.0.1" }, days = 365 }
 *       -> { cert = pem, key = pem } | nil, err
 *   tls.random_hex(nbytes) -> 2*nbytes lower-case hex digits from the
 *                             OpenSSL CSPRNG (1..256 bytes)
 *   tls.sha512_hex(s)      -> 128 upper-case hex digits (ETags and hashed
 *                             URLs the way kube-apiserver writes them)
 *
 * Keys are EC P-256, written as unencrypted PKCS#8 PEM; certificates are
 * X.509 v3 signed with SHA-256, with a random 128-bit serial, valid from a
 * minute ago for `days` days (1..3650). The CA has basicConstraints
 * critical CA:TRUE and may only sign certificates and CRLs; a server
 * certificate has CA:FALSE, extendedKeyUsage serverAuth and a
 * subjectAltName from dns and ip (names and IPv4/IPv6 literals; at least
 * one of them). Expected failures (a CA key that does not match its
 * certificate, an unparsable PEM, a bad IP literal) return nil, message;
 * wrong argument types are Lua errors.
 *
 * Ownership: every OpenSSL object is freed before returning, on every
 * path; the PEM strings are copied onto the Lua stack. Nothing raises a Lua
 * error while OpenSSL objects are held (arguments are read and checked
 * first, into a bounded struct), so nothing leaks.
 */
#include "hostlibs.h"
#include "smop.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 200   /* common_name, a DNS name or an IP literal */
#define SAN_MAX 16         /* entries in dns + ip */
#define SAN_TEXT_MAX (SAN_MAX * (NAME_MAX_LEN + 8))
#define DAYS_MAX 3650
#define HEX_MAX_BYTES 256
#define ERR_LEN 256
#define PEM_MAX 8192         /* a P-256 key or a certificate with 16 SANs fits */

typedef struct cert_args {
    char cn[NAME_MAX_LEN + 1];
    long days;
    char san[SAN_TEXT_MAX];   /* "DNS:a,IP:b" */
    const char *ca_cert, *ca_key;  /* anchored by the argument table */
} cert_args;

typedef struct pem_pair {
    char *cert, *key;
    long cert_len, key_len;
    BIO *cert_bio, *key_bio;
} pem_pair;

/* The reason OpenSSL gave last, or fallback. */
static int ssl_fail(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char why[ERR_LEN];

    if (e) {
        ERR_error_string_n(e, why, sizeof why);
        ERR_clear_error();
        return smop_fail(err, errlen, "tls: %s: %s", what, why);
    }
    return smop_fail(err, errlen, "tls: %s failed", what);
}

/* ---- reading arguments (may raise; no OpenSSL object held yet) ---- */

static void opt_name(lua_State *L, const char *who, const char *field, const char *dflt,
                     char *out)
{
    size_t len;
    const char *s;

    if (lua_getfield(L, 1, field) == LUA_TNIL) {
        s = dflt;
        len = strlen(dflt);
    } else {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: field '%s' must be a string", who, field);
        s = lua_tolstring(L, -1, &len);
    }
    if (len == 0 || len > NAME_MAX_LEN || strlen(s) != len)
        luaL_error(L, "%s: field '%s' must be 1..%d bytes without NULs", who, field,
                   NAME_MAX_LEN);
    memcpy(out, s, len + 1);
    lua_pop(L, 1);
}

static long opt_days(lua_State *L, const char *who)
{
    lua_Integer days = 365;
    int isnum;

    if (lua_getfield(L, 1, "days") != LUA_TNIL) {
        days = lua_tointegerx(L, -1, &isnum);
        if (!isnum || days < 1 || days > DAYS_MAX)
            luaL_error(L, "%s: field 'days' must be an integer in 1..%d", who, DAYS_MAX);
    }
    lua_pop(L, 1);
    return (long)days;
}

/* Appends "PREFIX:name" for every string of the list field to san. */
static void add_sans(lua_State *L, const char *field, const char *prefix, char *san,
                     int *count)
{
    lua_Integer i, n;

    if (lua_getfield(L, 1, field) == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "tls.new_cert: field '%s' must be a list of strings", field);
    n = (lua_Integer)lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
        size_t len, used = strlen(san);
        const char *s;

        if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
            luaL_error(L, "tls.new_cert: %s[%d] must be a string", field, (int)i);
        s = lua_tolstring(L, -1, &len);
        if (len == 0 || len > NAME_MAX_LEN || strlen(s) != len || strpbrk(s, ",\n\r"))
            luaL_error(L, "tls.new_cert: %s[%d] must be 1..%d bytes, no NUL, comma or newline",
                       field, (int)i, NAME_MAX_LEN);
        if (++*count > SAN_MAX)
            luaL_error(L, "tls.new_cert: at most %d names in dns and ip", SAN_MAX);
        snprintf(san + used, SAN_TEXT_MAX - used, "%s%s:%s", used ? "," : "", prefix, s);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* ---- building certificates ---- */

static EVP_PKEY *new_key(char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    if (!key)
        ssl_fail(err, errlen, "generating an EC P-256 key");
    return key;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, char *err,
                   size_t errlen)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return ssl_fail(err, errlen, OBJ_nid2sn(nid));
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? SMOP_OK : ssl_fail(err, errlen, OBJ_nid2sn(nid));
}

/* A certificate for key, named cn, valid for days: self-signed when issuer
 * is NULL (then issuer_key is key). Extensions are added by the caller
 * before signing, so this only prepares it. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long days, X509 *issuer, char *err,
                      size_t errlen)
{
    X509 *cert = X509_new();
    BIGNUM *serial = BN_new();
    X509_NAME *name;

    if (!cert || !serial)
        goto fail;
    if (!BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)))
        goto fail;
    if (!X509_set_version(cert, X509_VERSION_3) ||
        !X509_gmtime_adj(X509_getm_notBefore(cert), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400L) ||
        !X509_set_pubkey(cert, key))
        goto fail;
    name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
                                    -1, -1, 0))
        goto fail;
    if (!X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name))
        goto fail;
    BN_free(serial);
    return cert;
fail:
    ssl_fail(err, errlen, "building a certificate");
    BN_free(serial);
    X509_free(cert);
    return NULL;
}

static int to_pem(X509 *cert, EVP_PKEY *key, pem_pair *out, char *err, size_t errlen)
{
    out->cert_bio = BIO_new(BIO_s_mem());
    out->key_bio = BIO_new(BIO_s_mem());
    if (!out->cert_bio || !out->key_bio || !PEM_write_bio_X509(out->cert_bio, cert) ||
        !PEM_write_bio_PrivateKey(out->key_bio, key, NULL, NULL, 0, NULL, NULL))
        return ssl_fail(err, errlen, "writing PEM");
    out->cert_len = BIO_get_mem_data(out->cert_bio, &out->cert);
    out->key_len = BIO_get_mem_data(out->key_bio, &out->key);
    return SMOP_OK;
}

static void pem_free(pem_pair *p)
{
    BIO_free(p->cert_bio);
    BIO_free(p->key_bio);
}

/* Signs cert with key (SHA-256). */
static int sign(X509 *cert, EVP_PKEY *key, char *err, size_t errlen)
{
    return X509_sign(cert, key, EVP_sha256()) > 0 ? SMOP_OK
                                                  : ssl_fail(err, errlen, "signing");
}

static int make_ca(const cert_args *a, pem_pair *out, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = SMOP_ERR;

    if (!(key = new_key(err, errlen)) || !(cert = new_cert(key, a->cn, a->days, NULL, err, errlen)))
        goto done;
    if (add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE", err, errlen) ||
        add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign", err, errlen) ||
        add_ext(cert, cert, NID_subject_key_identifier, "hash", err, errlen) ||
        sign(cert, key, err, errlen) || to_pem(cert, key, out, err, errlen))
        goto done;
    rc = SMOP_OK;
done:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static int read_ca(const cert_args *a, X509 **ca, EVP_PKEY **ca_key, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(a->ca_cert, -1);

    *ca = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!*ca)
        return ssl_fail(err, errlen, "reading ca.cert");
    b = BIO_new_mem_buf(a->ca_key, -1);
    *ca_key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!*ca_key)
        return ssl_fail(err, errlen, "reading ca.key");
    if (X509_check_private_key(*ca, *ca_key) != 1) {
        ERR_clear_error();
        return smop_fail(err, errlen, "tls: ca.key does not match ca.cert");
    }
    return SMOP_OK;
}

static int make_server(const cert_args *a, pem_pair *out, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL, *ca_key = NULL;
    X509 *cert = NULL, *ca = NULL;
    int rc = SMOP_ERR;

    if (read_ca(a, &ca, &ca_key, err, errlen) || !(key = new_key(err, errlen)) ||
        !(cert = new_cert(key, a->cn, a->days, ca, err, errlen)))
        goto done;
    if (add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE", err, errlen) ||
        add_ext(cert, ca, NID_key_usage, "critical,digitalSignature", err, errlen) ||
        add_ext(cert, ca, NID_ext_key_usage, "serverAuth", err, errlen) ||
        add_ext(cert, ca, NID_subject_alt_name, a->san, err, errlen) ||
        sign(cert, ca_key, err, errlen) || to_pem(cert, key, out, err, errlen))
        goto done;
    rc = SMOP_OK;
done:
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return rc;
}

/* ---- Lua ---- */

static int push_result(lua_State *L, int rc, pem_pair *p, const char *err)
{
    /* Copied out of the BIOs first: pushing strings may raise (out of
     * memory), and nothing OpenSSL owns may be held by then. */
    char cert[PEM_MAX], key[PEM_MAX];
    size_t cert_len = (size_t)p->cert_len, key_len = (size_t)p->key_len;

    if (rc == SMOP_OK && (cert_len > sizeof cert || key_len > sizeof key)) {
        err = "tls: PEM text larger than expected";
        rc = SMOP_ERR;
    }
    if (rc == SMOP_OK) {
        memcpy(cert, p->cert, cert_len);
        memcpy(key, p->key, key_len);
    }
    pem_free(p);
    if (rc != SMOP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, cert, cert_len);
    lua_setfield(L, -2, "cert");
    lua_pushlstring(L, key, key_len);
    lua_setfield(L, -2, "key");
    return 1;
}

static int l_new_ca(lua_State *L)
{
    cert_args a;
    pem_pair p = {0};
    char err[ERR_LEN];
    int rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    memset(&a, 0, sizeof a);
    opt_name(L, "tls.new_ca", "common_name", "smop CA", a.cn);
    a.days = opt_days(L, "tls.new_ca");
    rc = make_ca(&a, &p, err, sizeof err);
    return push_result(L, rc, &p, err);
}

static int l_new_cert(lua_State *L)
{
    cert_args a;
    pem_pair p = {0};
    char err[ERR_LEN];
    int rc, count = 0;

    luaL_checktype(L, 1, LUA_TTABLE);
    memset(&a, 0, sizeof a);
    opt_name(L, "tls.new_cert", "common_name", "localhost", a.cn);
    a.days = opt_days(L, "tls.new_cert");
    if (lua_getfield(L, 1, "ca") != LUA_TTABLE)
        return luaL_error(L, "tls.new_cert: field 'ca' must be a table {cert=, key=}");
    if (lua_getfield(L, -1, "cert") != LUA_TSTRING || lua_getfield(L, -2, "key") != LUA_TSTRING)
        return luaL_error(L, "tls.new_cert: ca.cert and ca.key must be PEM strings");
    a.ca_cert = lua_tostring(L, -2);   /* anchored on the stack until we return */
    a.ca_key = lua_tostring(L, -1);
    add_sans(L, "dns", "DNS", a.san, &count);
    add_sans(L, "ip", "IP", a.san, &count);
    if (count == 0)
        return luaL_error(L, "tls.new_cert: give at least one name in dns or ip");
    rc = make_server(&a, &p, err, sizeof err);
    return push_result(L, rc, &p, err);
}

static int l_random_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bytes[HEX_MAX_BYTES];
    char hex[HEX_MAX_BYTES * 2];
    lua_Integer n = luaL_checkinteger(L, 1);
    int i;

    luaL_argcheck(L, n >= 1 && n <= HEX_MAX_BYTES, 1, "must be 1..256 bytes");
    if (RAND_bytes(bytes, (int)n) != 1) {
        char err[ERR_LEN];

        ssl_fail(err, sizeof err, "random bytes");
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    for (i = 0; i < n; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    lua_pushlstring(L, hex, (size_t)n * 2);
    return 1;
}

static int l_sha512_hex(lua_State *L)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    unsigned char md[64];
    char hex[128];
    int i;

    /* One-shot SHA-512: no context to free, so raising is safe anywhere. */
    if (!SHA512((const unsigned char *)data, len, md))
        return luaL_error(L, "tls.sha512_hex: SHA-512 failed");
    for (i = 0; i < 64; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    lua_pushlstring(L, hex, sizeof hex);
    return 1;
}

int luaopen_smop_tls(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"new_ca", l_new_ca},
        {"new_cert", l_new_cert},
        {"random_hex", l_random_hex},
        {"sha512_hex", l_sha512_hex},
        {NULL, NULL},
    };

    luaL_newlib(L, funcs);
    return 1;
}
