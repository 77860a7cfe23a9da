/*
 * sigv4.h - AWS Signature Version 4 (header signing), on OpenSSL.
 *
 * Pure functions: no I/O, no clock (the caller passes the time), no globals.
 * The caller owns every input; outputs go into caller-owned buffers of stated
 * size, and a too-small buffer is an error, never a truncated signature.
 * Secrets (secret key, session token, derived keys) are never copied into
 * error messages, and key material is wiped before sigv4_sign returns.
 *
 * What the signer adds. The caller passes the headers it will send (Host
 * included) and gets back what to add: X-Amz-Date (out->x_amz_date),
 * X-Amz-Security-Token (the credentials' session token, when there is one;
 * it is always a signed header), X-Amz-Content-Sha256 (out->payload_hash,
 * only with params->content_sha256) and Authorization. Those names are the
 * signer's: passing any of them in req->headers is an error. Every header
 * passed is signed.
 *
 * Canonical form (the rules of the AWS test suite): header names lower-cased,
 * values trimmed with inner runs of whitespace (folded lines too) turned into
 * one space, repeated names joined with "," in the order given; query
 * parameters %-decoded, re-encoded with the RFC 3986 unreserved set and
 * sorted by name, then value; the path encoded likewise, '/' kept.
 */
#ifndef SIGV4_H
#define SIGV4_H

#include <stddef.h>
#include <time.h>

typedef struct sigv4_header {
    const char *name;
    const char *value;
} sigv4_header;

typedef struct sigv4_request {
    const char *method;
    const char *path;        /* as sent, may contain %-escapes; no query; NULL = "/" */
    const char *query;       /* raw query string without '?', or NULL */
    const sigv4_header *headers; /* as they will be sent, host included */
    size_t nheaders;
    const char *body;
    size_t body_len;
    const char *payload_hash; /* hex SHA-256 override (e.g. "UNSIGNED-PAYLOAD"), or NULL */
} sigv4_request;

typedef struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;  /* NULL or "" when none */
} sigv4_credentials;

typedef struct sigv4_params {
    const char *region;         /* at most 63 characters, as is service */
    const char *service;
    time_t time;                /* UTC seconds */
    /* Path handling. Every service but S3: normalize_path = 1, single_encode
     * = 0 (dot segments removed, "//" collapsed, and the path as sent is
     * encoded once more, so "%20" signs as "%2520"). S3: normalize_path = 0,
     * single_encode = 1 (escapes decoded, then encoded once). */
    int normalize_path;
    int single_encode;
    int content_sha256;         /* sign an X-Amz-Content-Sha256 header (S3) */
} sigv4_params;

/* Everything a signer produces; the caller adds x_amz_date, (session token),
 * (payload_hash as X-Amz-Content-Sha256) and authorization to the request. */
typedef struct sigv4_result {
    char x_amz_date[17];         /* 20150830T123600Z */
    char payload_hash[65];
    char signature[65];
    char authorization[2048];
} sigv4_result;

/* Optional intermediate outputs for tests, debugging and servers that verify
 * signatures (sigv4_debug may be NULL, and so may either buffer).
 * SIGV4_STRING_TO_SIGN_SIZE always suffices for the string to sign;
 * sigv4_canonical_request_bound() gives a size that suffices for the
 * canonical request. */
typedef struct sigv4_debug {
    char *canonical_request;     /* caller buffer */
    size_t canonical_request_size;
    char *string_to_sign;
    size_t string_to_sign_size;
} sigv4_debug;

#define SIGV4_STRING_TO_SIGN_SIZE 256

/* Signs req. Returns SMOP_OK and fills *out (and debug), or SMOP_ERR with one
 * line in err: missing credentials, bad region/service, no Host header, a
 * header name that is not an HTTP token or belongs to the signer, a bad
 * %-escape, a path not starting with '/', or an output that does not fit. */
int sigv4_sign(const sigv4_request *req, const sigv4_credentials *creds,
               const sigv4_params *params, sigv4_result *out,
               sigv4_debug *debug, char *err, size_t errlen);

/* An upper bound on the canonical request's size (NUL included). */
size_t sigv4_canonical_request_bound(const sigv4_request *req,
                                     const sigv4_credentials *creds,
                                     const sigv4_params *params);

/* Hex SHA-256 of data, and hex HMAC-SHA256 of msg under a raw key, into
 * out[65]. Return SMOP_OK, or SMOP_ERR if OpenSSL fails (out is then ""). */
int sigv4_sha256_hex(const char *data, size_t len, char out[65]);
int sigv4_hmac_sha256_hex(const void *key, size_t keylen,
                          const char *msg, size_t msglen, char out[65]);

#endif
