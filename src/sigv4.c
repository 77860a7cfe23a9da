/*
 * sigv4.c - AWS Signature Version 4, header signing (contract in sigv4.h).
 *
 * The canonical request is built in one growable buffer; query parameters
 * and headers are first canonicalized into side buffers, then sorted through
 * pointer arrays. Every step that can fail jumps to the one cleanup path.
 */
#include "sigv4.h"
#include "smop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define NAME_MAX_LEN 63        /* region and service */

/* ---- growable string ---------------------------------------------------- */

/* A failed allocation sets oom and turns every later append into a no-op,
 * so builders check once at the end. The content is always NUL-terminated
 * once anything was appended. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

/* Makes room for n more bytes (and a NUL) and returns where they go, or
 * NULL once an allocation failed. The caller then advances len. */
static char *sb_reserve(sbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return NULL;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static void sb_add(sbuf *b, const char *s, size_t n)
{
    char *w = sb_reserve(b, n);

    if (!w)
        return;
    memcpy(w, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_addc(sbuf *b, char c)
{
    sb_add(b, &c, 1);
}

static void sb_adds(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* ---- character classes and %-encoding ----------------------------------- */

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token characters: what a header name may contain. */
static int is_tchar(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Appends s encoded with the unreserved set (upper-case hex, as SigV4
 * wants); '/' is kept when keep_slash. */
static void sb_add_encoded(sbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3];

        if (is_unreserved(c) || (keep_slash && c == '/'))
            continue;
        sb_add(b, s + run, i - run);
        esc[0] = '%';
        esc[1] = digits[c >> 4];
        esc[2] = digits[c & 15];
        sb_add(b, esc, 3);
        run = i + 1;
    }
    sb_add(b, s + run, n - run);
}

/* Appends s with its %XX escapes decoded; a '%' not followed by two hex
 * digits is an error (the request could not be canonicalized the way a
 * server would). */
static int sb_add_decoded(sbuf *b, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        char c;

        if (s[i] != '%')
            continue;
        if (n - i < 3)
            return SMOP_ERR;
        hi = hex_value((unsigned char)s[i + 1]);
        lo = hex_value((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0)
            return SMOP_ERR;
        sb_add(b, s + run, i - run);
        c = (char)(hi * 16 + lo);
        sb_add(b, &c, 1);
        i += 2;
        run = i + 1;
    }
    sb_add(b, s + run, n - run);
    return SMOP_OK;
}

/* ---- canonical URI ------------------------------------------------------ */

/* RFC 3986 remove_dot_segments, and empty segments dropped ("//" -> "/"),
 * which AWS services also require. A path ending in '/', "." or ".." keeps
 * a trailing '/'. */
static void normalize_path(sbuf *out, const char *path)
{
    const char *p = path;
    int trailing = 0;

    while (*p) {
        const char *seg, *end;
        size_t n;

        while (*p == '/')
            p++;
        if (!*p)
            break;      /* "a/" ended on a '/': trailing is already set */
        seg = p;
        end = strchr(seg, '/');
        if (!end)
            end = seg + strlen(seg);
        n = (size_t)(end - seg);
        p = end;
        trailing = *end == '/' || (n == 1 && seg[0] == '.') ||
                   (n == 2 && seg[0] == '.' && seg[1] == '.');
        if (n == 1 && seg[0] == '.')
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out->len > 0 && out->p[out->len - 1] != '/')
                out->len--;
            if (out->len > 0)
                out->len--;     /* the '/' before the popped segment */
            if (out->p)
                out->p[out->len] = '\0';
            continue;
        }
        sb_addc(out, '/');
        sb_add(out, seg, n);
    }
    if (out->len == 0 || trailing)
        sb_addc(out, '/');
}

static int canonical_uri(sbuf *b, const char *path, const sigv4_params *params,
                         char *err, size_t errlen)
{
    sbuf norm = {0}, dec = {0};
    const char *p = path && *path ? path : "/";
    int rc = SMOP_ERR;

    if (p[0] != '/') {
        smop_fail(err, errlen, "sigv4: request path must start with '/'");
        goto fail;
    }
    if (params->normalize_path) {
        normalize_path(&norm, p);
        if (norm.oom)
            goto oom;
        p = norm.p;
    }
    if (params->single_encode) {
        if (sb_add_decoded(&dec, p, strlen(p)) != SMOP_OK) {
            smop_fail(err, errlen, "sigv4: request path has a bad %%-escape");
            goto fail;
        }
        if (dec.oom)
            goto oom;
        p = dec.p;      /* non-NULL: p had at least its '/' */
    }
    sb_add_encoded(b, p, strlen(p), 1);
    rc = SMOP_OK;
    goto fail;
oom:
    smop_fail(err, errlen, "sigv4: out of memory");
fail:
    free(norm.p);
    free(dec.p);
    return rc;
}

/* ---- canonical query ---------------------------------------------------- */

typedef struct qparam {
    size_t koff, klen, voff, vlen;  /* into the encoded-parameter buffer */
    const char *k, *v;
} qparam;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static int cmp_qparam(const void *pa, const void *pb)
{
    const qparam *a = pa, *b = pb;
    int c = cmp_bytes(a->k, a->klen, b->k, b->klen);

    return c ? c : cmp_bytes(a->v, a->vlen, b->v, b->vlen);
}

/* Decodes one name or value and appends it re-encoded to enc. */
static int add_query_part(sbuf *enc, sbuf *dec, const char *s, size_t n)
{
    dec->len = 0;
    if (sb_add_decoded(dec, s, n) != SMOP_OK)
        return SMOP_ERR;
    if (!dec->oom)
        sb_add_encoded(enc, dec->p ? dec->p : "", dec->len, 0);
    return SMOP_OK;
}

static int canonical_query(sbuf *b, const char *query, char *err, size_t errlen)
{
    sbuf enc = {0}, dec = {0};
    qparam *qp = NULL;
    size_t nq = 0, cap = 1;
    const char *p;
    int rc = SMOP_ERR;

    if (!query || !*query)
        return SMOP_OK;
    for (p = query; *p; p++)
        cap += *p == '&';
    qp = calloc(cap, sizeof(*qp));
    if (!qp)
        goto oom;
    p = query;
    while (*p) {
        const char *end = strchr(p, '&'), *eq;
        size_t n;

        if (!end)
            end = p + strlen(p);
        n = (size_t)(end - p);
        if (n > 0) {    /* "a&&b" and a trailing '&' carry no parameter */
            qparam *q = &qp[nq++];

            eq = memchr(p, '=', n);
            q->koff = enc.len;
            if (add_query_part(&enc, &dec, p, eq ? (size_t)(eq - p) : n) != SMOP_OK)
                goto bad;
            q->klen = enc.len - q->koff;
            q->voff = enc.len;
            if (eq && add_query_part(&enc, &dec, eq + 1, (size_t)(end - eq - 1)) != SMOP_OK)
                goto bad;
            q->vlen = enc.len - q->voff;
        }
        p = *end ? end + 1 : end;
    }
    if (enc.oom || dec.oom)
        goto oom;
    for (size_t i = 0; i < nq; i++) {   /* enc no longer moves */
        qp[i].k = enc.p ? enc.p + qp[i].koff : "";
        qp[i].v = enc.p ? enc.p + qp[i].voff : "";
    }
    qsort(qp, nq, sizeof(*qp), cmp_qparam);
    for (size_t i = 0; i < nq; i++) {
        if (i > 0)
            sb_addc(b, '&');
        sb_add(b, qp[i].k, qp[i].klen);
        sb_addc(b, '=');
        sb_add(b, qp[i].v, qp[i].vlen);
    }
    rc = SMOP_OK;
    goto done;
bad:
    smop_fail(err, errlen, "sigv4: query string has a bad %%-escape");
    goto done;
oom:
    smop_fail(err, errlen, "sigv4: out of memory");
done:
    free(qp);
    free(enc.p);
    free(dec.p);
    return rc;
}

/* ---- canonical headers -------------------------------------------------- */

typedef struct chdr {
    size_t noff, nlen, voff, vlen;  /* into the header buffer */
    const char *name, *value;
    size_t order;                   /* position given: keeps repeated names stable */
} chdr;

static int cmp_chdr(const void *pa, const void *pb)
{
    const chdr *a = pa, *b = pb;
    int c = cmp_bytes(a->name, a->nlen, b->name, b->nlen);

    if (c)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Writes v into dst trimmed, with each run of whitespace (line folds
 * included) turned into one space; returns the length written, at most
 * strlen(v). */
static size_t trim_into(char *dst, const char *v)
{
    size_t n = 0;
    int pending = 0;

    for (; *v; v++) {
        if (is_space((unsigned char)*v)) {
            pending = n > 0;
            continue;
        }
        if (pending)
            dst[n++] = ' ';
        dst[n++] = *v;
        pending = 0;
    }
    return n;
}

static int name_is(const char *lname, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(lname, want, n) == 0;
}

/* Appends the lower-cased name and the trimmed value to hb. */
static void add_header(sbuf *hb, chdr *h, size_t order, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    char *w = sb_reserve(hb, nlen + vlen);

    if (!w)
        return;
    for (size_t i = 0; i < nlen; i++)
        w[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    h->order = order;
    h->noff = hb->len;
    h->nlen = nlen;
    h->voff = hb->len + nlen;
    h->vlen = trim_into(w + nlen, value);
    hb->len += nlen + h->vlen;
    hb->p[hb->len] = '\0';
}

/* Checks a caller header name; returns SMOP_ERR with a message naming it. */
static int check_header_name(const char *name, const sigv4_params *params,
                             char *err, size_t errlen)
{
    static const char *const reserved[] = {
        "authorization", "x-amz-date", "x-amz-security-token",
    };
    char lower[32];
    size_t n = strlen(name);

    if (n == 0)
        return smop_fail(err, errlen, "sigv4: empty header name");
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)name[i]))
            return smop_fail(err, errlen, "sigv4: header name '%.64s' is not an HTTP token",
                             name);
    if (n >= sizeof(lower))
        return SMOP_OK;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(lower, reserved[i]) == 0)
            return smop_fail(err, errlen,
                             "sigv4: header %s is set by the signer; do not pass it", name);
    if (params->content_sha256 && strcmp(lower, "x-amz-content-sha256") == 0)
        return smop_fail(err, errlen,
                         "sigv4: header %s is set by the signer; do not pass it", name);
    return SMOP_OK;
}

/* Appends the canonical header lines and fills signed (the ';' list). */
static int canonical_headers(sbuf *b, sbuf *signed_list, const sigv4_request *req,
                             const sigv4_credentials *creds, const sigv4_params *params,
                             const char *amz_date, const char *payload_hash,
                             char *err, size_t errlen)
{
    sbuf hb = {0};
    chdr *h = NULL;
    size_t nh = 0;
    int have_host = 0, rc = SMOP_ERR;

    h = calloc(req->nheaders + 3, sizeof(*h));
    if (!h)
        goto oom;
    for (size_t i = 0; i < req->nheaders; i++) {
        const sigv4_header *in = &req->headers[i];

        if (!in->name || !in->value) {
            smop_fail(err, errlen, "sigv4: header %zu has no name or value", i);
            goto fail;
        }
        if (check_header_name(in->name, params, err, errlen) != SMOP_OK)
            goto fail;
        add_header(&hb, &h[nh], nh, in->name, in->value);
        nh++;
    }
    add_header(&hb, &h[nh], nh, "x-amz-date", amz_date);
    nh++;
    if (creds->session_token && *creds->session_token) {
        add_header(&hb, &h[nh], nh, "x-amz-security-token", creds->session_token);
        nh++;
    }
    if (params->content_sha256) {
        add_header(&hb, &h[nh], nh, "x-amz-content-sha256", payload_hash);
        nh++;
    }
    if (hb.oom)
        goto oom;
    for (size_t i = 0; i < nh; i++) {
        h[i].name = hb.p + h[i].noff;
        h[i].value = hb.p + h[i].voff;
        have_host |= name_is(h[i].name, h[i].nlen, "host");
    }
    if (!have_host) {
        smop_fail(err, errlen, "sigv4: request has no Host header");
        goto fail;
    }
    qsort(h, nh, sizeof(*h), cmp_chdr);
    for (size_t i = 0; i < nh; i++) {
        int same = i > 0 && cmp_bytes(h[i].name, h[i].nlen, h[i - 1].name, h[i - 1].nlen) == 0;

        if (same) {
            sb_addc(b, ',');
        } else {
            if (i > 0) {
                sb_addc(b, '\n');
                sb_addc(signed_list, ';');
            }
            sb_add(b, h[i].name, h[i].nlen);
            sb_addc(b, ':');
            sb_add(signed_list, h[i].name, h[i].nlen);
        }
        sb_add(b, h[i].value, h[i].vlen);
    }
    sb_addc(b, '\n');
    rc = SMOP_OK;
    goto fail;
oom:
    smop_fail(err, errlen, "sigv4: out of memory");
fail:
    free(h);
    if (hb.p)
        OPENSSL_cleanse(hb.p, hb.cap);  /* holds the session token */
    free(hb.p);
    return rc;
}

/* ---- hashing ------------------------------------------------------------ */

/* SHA-256 and HMAC-SHA256 fetched once per signature, and one HMAC context
 * re-keyed for each of its five uses: OpenSSL 3's one-shot HMAC() fetches
 * and allocates on every call, which was most of a signature's cost. */
typedef struct crypto {
    EVP_MD *sha256;
    EVP_MAC *mac;
    EVP_MAC_CTX *hmac;
} crypto;

static void crypto_close(crypto *c)
{
    EVP_MAC_CTX_free(c->hmac);
    EVP_MAC_free(c->mac);
    EVP_MD_free(c->sha256);
}

static int crypto_open(crypto *c)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    memset(c, 0, sizeof(*c));
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    c->hmac = c->mac ? EVP_MAC_CTX_new(c->mac) : NULL;
    if (!c->sha256 || !c->hmac || !EVP_MAC_CTX_set_params(c->hmac, params)) {
        crypto_close(c);
        memset(c, 0, sizeof(*c));
        return SMOP_ERR;
    }
    return SMOP_OK;
}

static int sha256_hex(crypto *c, const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(data ? data : "", len, md, &mdlen, c->sha256, NULL) || mdlen != 32)
        return SMOP_ERR;
    hex_encode(md, 32, out);
    return SMOP_OK;
}

/* out may alias key. A NULL key would make OpenSSL reuse the previous one. */
static int hmac(crypto *c, const void *key, size_t keylen, const char *msg, size_t msglen,
                unsigned char out[32])
{
    size_t outlen = 0;

    if (!EVP_MAC_init(c->hmac, key ? key : "", keylen, NULL) ||
        !EVP_MAC_update(c->hmac, (const unsigned char *)(msg ? msg : ""), msglen) ||
        !EVP_MAC_final(c->hmac, out, &outlen, 32) || outlen != 32)
        return SMOP_ERR;
    return SMOP_OK;
}

int sigv4_sha256_hex(const char *data, size_t len, char out[65])
{
    crypto c;
    int rc;

    out[0] = '\0';
    if (crypto_open(&c) != SMOP_OK)
        return SMOP_ERR;
    rc = sha256_hex(&c, data, len, out);
    crypto_close(&c);
    return rc;
}

int sigv4_hmac_sha256_hex(const void *key, size_t keylen, const char *msg, size_t msglen,
                          char out[65])
{
    unsigned char md[32];
    crypto c;
    int rc;

    out[0] = '\0';
    if (crypto_open(&c) != SMOP_OK)
        return SMOP_ERR;
    rc = hmac(&c, key, keylen, msg, msglen, md);
    if (rc == SMOP_OK)
        hex_encode(md, 32, out);
    OPENSSL_cleanse(md, sizeof(md));
    crypto_close(&c);
    return rc;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"), then the signature is HMAC(kSigning, string to sign). */
static int sign_string(crypto *c, const char *secret, const char *date,
                       const sigv4_params *params, const char *sts, char signature[65])
{
    size_t slen = strlen(secret);
    unsigned char *k0 = malloc(slen + 4);
    unsigned char k[32], sig[32];
    int rc = SMOP_ERR;

    if (!k0)
        return SMOP_ERR;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    if (hmac(c, k0, slen + 4, date, 8, k) != SMOP_OK ||
        hmac(c, k, 32, params->region, strlen(params->region), k) != SMOP_OK ||
        hmac(c, k, 32, params->service, strlen(params->service), k) != SMOP_OK ||
        hmac(c, k, 32, "aws4_request", 12, k) != SMOP_OK ||
        hmac(c, k, 32, sts, strlen(sts), sig) != SMOP_OK)
        goto done;
    hex_encode(sig, 32, signature);
    rc = SMOP_OK;
done:
    OPENSSL_cleanse(k0, slen + 4);
    OPENSSL_cleanse(k, sizeof(k));
    free(k0);
    return rc;
}

/* ---- validation --------------------------------------------------------- */

static int check_scope_name(const char *what, const char *s, char *err, size_t errlen)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0)
        return smop_fail(err, errlen, "sigv4: missing %s", what);
    if (n > NAME_MAX_LEN)
        return smop_fail(err, errlen, "sigv4: %s is longer than %d characters", what,
                         NAME_MAX_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
            return smop_fail(err, errlen, "sigv4: %s '%s' has a character other than "
                             "letters, digits, '-', '_' and '.'", what, s);
    }
    return SMOP_OK;
}

static int check_inputs(const sigv4_request *req, const sigv4_credentials *creds,
                        const sigv4_params *params, char *err, size_t errlen)
{
    const char *akid = creds->access_key_id;

    if (!akid || !*akid)
        return smop_fail(err, errlen, "sigv4: missing access key id");
    for (const char *c = akid; *c; c++)
        if (*c == '/' || *c == ',' || is_space((unsigned char)*c) ||
            (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            return smop_fail(err, errlen, "sigv4: access key id has a character "
                             "that cannot appear in a credential scope");
    if (!creds->secret_access_key || !*creds->secret_access_key)
        return smop_fail(err, errlen, "sigv4: missing secret access key");
    if (check_scope_name("region", params->region, err, errlen) != SMOP_OK ||
        check_scope_name("service", params->service, err, errlen) != SMOP_OK)
        return SMOP_ERR;
    if (!req->method || !*req->method)
        return smop_fail(err, errlen, "sigv4: missing method");
    for (const char *c = req->method; *c; c++)
        if (!is_tchar((unsigned char)*c))
            return smop_fail(err, errlen, "sigv4: method is not an HTTP token");
    if (req->nheaders > 0 && !req->headers)
        return smop_fail(err, errlen, "sigv4: nheaders set without headers");
    if (req->body_len > 0 && !req->body)
        return smop_fail(err, errlen, "sigv4: body_len set without body");
    if (req->payload_hash && (!*req->payload_hash || strlen(req->payload_hash) > 64))
        return smop_fail(err, errlen, "sigv4: payload hash override must be 1 to 64 "
                         "characters");
    return SMOP_OK;
}

static int copy_out(char *dst, size_t size, const char *src, size_t len, const char *what,
                    char *err, size_t errlen)
{
    if (!dst)
        return SMOP_OK;
    if (len >= size)
        return smop_fail(err, errlen, "sigv4: %s (%zu bytes) does not fit its %zu-byte "
                         "buffer", what, len, size);
    memcpy(dst, src, len + 1);
    return SMOP_OK;
}

/* ---- the signer --------------------------------------------------------- */

size_t sigv4_canonical_request_bound(const sigv4_request *req,
                                     const sigv4_credentials *creds,
                                     const sigv4_params *params)
{
    /* Encoding at most triples a byte; the path may gain a leading '/';
     * every header appears in its line and in the signed list, plus ':',
     * ',' or ';' and '\n'. Sums of caller-sized strings cannot overflow a
     * size_t in practice, the factors are small. */
    size_t n = 64 + (req->method ? strlen(req->method) : 0);

    n += 3 * ((req->path ? strlen(req->path) : 0) + 2);
    n += 3 * (req->query ? strlen(req->query) : 0) + 2;
    for (size_t i = 0; i < req->nheaders && req->headers; i++)
        n += 2 * ((req->headers[i].name ? strlen(req->headers[i].name) : 0) +
                  (req->headers[i].value ? strlen(req->headers[i].value) : 0) + 2);
    n += 2 * (sizeof("x-amz-date") + 16 + 2);
    if (creds->session_token)
        n += 2 * (sizeof("x-amz-security-token") + strlen(creds->session_token) + 2);
    if (params->content_sha256)
        n += 2 * (sizeof("x-amz-content-sha256") + 64 + 2);
    return n + 65 + 1;
}

int sigv4_sign(const sigv4_request *req, const sigv4_credentials *creds,
               const sigv4_params *params, sigv4_result *out,
               sigv4_debug *debug, char *err, size_t errlen)
{
    sbuf creq = {0}, signed_list = {0};
    crypto c = {0};
    char date[9], creq_hash[65], sts[SIGV4_STRING_TO_SIGN_SIZE];
    struct tm tm;
    int n, rc = SMOP_ERR;

    memset(out, 0, sizeof(*out));
    if (check_inputs(req, creds, params, err, errlen) != SMOP_OK)
        goto fail;
    if (!gmtime_r(&params->time, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
        strftime(out->x_amz_date, sizeof(out->x_amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        smop_fail(err, errlen, "sigv4: time %lld is out of range", (long long)params->time);
        goto fail;
    }
    memcpy(date, out->x_amz_date, 8);
    date[8] = '\0';
    if (crypto_open(&c) != SMOP_OK) {
        smop_fail(err, errlen, "sigv4: OpenSSL has no SHA-256 or HMAC");
        goto fail;
    }

    if (req->payload_hash) {
        memcpy(out->payload_hash, req->payload_hash, strlen(req->payload_hash) + 1);
    } else if (sha256_hex(&c, req->body, req->body_len, out->payload_hash) != SMOP_OK) {
        smop_fail(err, errlen, "sigv4: SHA-256 failed (OpenSSL)");
        goto fail;
    }

    /* METHOD \n URI \n QUERY \n HEADER-LINES \n SIGNED-HEADERS \n PAYLOAD-HASH */
    sb_adds(&creq, req->method);
    sb_addc(&creq, '\n');
    if (canonical_uri(&creq, req->path, params, err, errlen) != SMOP_OK)
        goto fail;
    sb_addc(&creq, '\n');
    if (canonical_query(&creq, req->query, err, errlen) != SMOP_OK)
        goto fail;
    sb_addc(&creq, '\n');
    if (canonical_headers(&creq, &signed_list, req, creds, params, out->x_amz_date,
                          out->payload_hash, err, errlen) != SMOP_OK)
        goto fail;
    sb_addc(&creq, '\n');
    sb_add(&creq, signed_list.p, signed_list.len);
    sb_addc(&creq, '\n');
    sb_adds(&creq, out->payload_hash);
    if (creq.oom || signed_list.oom) {
        smop_fail(err, errlen, "sigv4: out of memory");
        goto fail;
    }

    if (sha256_hex(&c, creq.p, creq.len, creq_hash) != SMOP_OK) {
        smop_fail(err, errlen, "sigv4: SHA-256 failed (OpenSSL)");
        goto fail;
    }
    n = snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
                 out->x_amz_date, date, params->region, params->service, creq_hash);
    if (n < 0 || (size_t)n >= sizeof(sts)) {    /* cannot happen: names are bounded */
        smop_fail(err, errlen, "sigv4: string to sign does not fit");
        goto fail;
    }
    if (sign_string(&c, creds->secret_access_key, date, params, sts,
                    out->signature) != SMOP_OK) {
        smop_fail(err, errlen, "sigv4: HMAC-SHA256 failed (OpenSSL)");
        goto fail;
    }
    n = snprintf(out->authorization, sizeof(out->authorization),
                 ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                 "Signature=%s", creds->access_key_id, date, params->region,
                 params->service, signed_list.p, out->signature);
    if (n < 0 || (size_t)n >= sizeof(out->authorization)) {
        smop_fail(err, errlen, "sigv4: Authorization header (%d bytes) does not fit its "
                  "%zu-byte buffer; sign fewer headers", n, sizeof(out->authorization));
        goto fail;
    }
    if (debug &&
        (copy_out(debug->canonical_request, debug->canonical_request_size, creq.p, creq.len,
                  "canonical request", err, errlen) != SMOP_OK ||
         copy_out(debug->string_to_sign, debug->string_to_sign_size, sts, strlen(sts),
                  "string to sign", err, errlen) != SMOP_OK))
        goto fail;
    rc = SMOP_OK;
fail:
    if (rc != SMOP_OK)
        memset(out, 0, sizeof(*out));
    if (creq.p)
        OPENSSL_cleanse(creq.p, creq.cap);  /* holds the session token */
    free(creq.p);
    free(signed_list.p);
    crypto_close(&c);
    return rc;
}
