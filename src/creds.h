/*
 * creds.h - the AWS credential chain: asynchronous, cached, refreshed.
 *
 * The chain, in the order of the AWS SDKs' default chain. A source that is
 * not configured is skipped; the first configured one is used and its
 * failure is THE error (a broken IRSA setup never falls back silently to the
 * node's role):
 *  1. environment   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *                   (+ AWS_SESSION_TOKEN). One of the pair alone is an error.
 *  2. web identity  AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 *                   (+ AWS_ROLE_SESSION_NAME, default "smop-<epoch>"): STS
 *                   AssumeRoleWithWebIdentity, an unsigned query-protocol
 *                   POST to https://sts.<region>.amazonaws.com (region from
 *                   AWS_REGION, AWS_DEFAULT_REGION, else us-east-1), or to
 *                   AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL (tests).
 *                   The token file is read again at every refresh (IRSA on
 *                   EKS rotates it). One of the pair alone is an error.
 *  3. profile       ~/.aws/credentials then ~/.aws/config
 *                   (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), profile
 *                   from AWS_PROFILE, else "default"; "[profile NAME]" in the
 *                   config file. aws_access_key_id + aws_secret_access_key
 *                   (+ aws_session_token), or role_arn +
 *                   web_identity_token_file (+ role_session_name; web
 *                   identity as in 2, the profile's region after the
 *                   environment's; "~/" is HOME in paths). Other
 *                   kinds (source_profile, credential_source,
 *                   credential_process, sso) are errors saying so.
 *                   A profile named by AWS_PROFILE that does not exist is an
 *                   error; a missing "default" just skips.
 *  4. container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *                   http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI
 *                   (https, loopback, or the ECS / EKS Pod Identity link-local
 *                   addresses 169.254.170.2, 169.254.170.23, [fd00:ec2::23]),
 *                   with an Authorization header from the file
 *                   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read again at
 *                   every refresh) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *                   An answer without Expiration is taken as static.
 *  5. IMDS          IMDSv2 on http://169.254.169.254 (or
 *                   AWS_EC2_METADATA_SERVICE_ENDPOINT), 1 s connect timeout;
 *                   skipped when AWS_EC2_METADATA_DISABLED=true.
 * When nothing is configured the error lists what was tried:
 *   "no AWS credentials: environment (AWS_ACCESS_KEY_ID not set), ...".
 * With an explicit profile (creds_config.profile) only that profile is used
 * (as in 3, and missing is an error): naming a profile means "these
 * credentials", never the ambient ones. Profile comes before container as in
 * the Java, Go and Python SDKs.
 *
 * Caching. Credentials that expire are refreshed when less than
 * CREDS_REFRESH_BEFORE seconds remain; callers arriving while a fetch is in
 * flight wait for that same fetch. If a refresh fails while the cached
 * credentials are still valid, those are handed out with the error as a
 * warning (and the next attempt waits CREDS_RETRY_AFTER seconds); once they
 * have expired, the error is the result. Static credentials never expire
 * and are resolved once.
 *
 * Errors are one line naming the source and what failed:
 *   "web identity: token file /var/run/secrets/token: No such file or directory"
 * They never contain keys, tokens or signatures.
 *
 * Callbacks (libuv's rule): if creds_get fails, cb is never called.
 * Otherwise cb is called exactly once, from the default libuv loop (never
 * inside creds_get, even on a cache hit), unless creds_cancel comes first.
 * The creds passed to cb are valid only during the callback. cb must not
 * free the provider. creds_peek is the synchronous shortcut for cache hits.
 * HTTP goes through http.h: http_init must have run.
 */
#ifndef CREDS_H
#define CREDS_H

#include <stddef.h>
#include <time.h>

#define CREDS_REFRESH_BEFORE 300 /* seconds of validity left that trigger a refresh */
#define CREDS_RETRY_AFTER 10     /* seconds between refresh attempts that fail */

typedef struct creds {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[8192];  /* "" when none */
    time_t expiration;         /* UTC seconds; 0: never expires */
    const char *source;        /* static string: "environment", "web identity",
                                * "profile", "container" or "imds" */
} creds;

typedef struct creds_config {
    const char *profile;       /* NULL: AWS_PROFILE, else "default" (copied) */
    /* NULL: the process environment, read at each resolution. Otherwise
     * "NAME=value" strings, NULL-terminated, copied: the only variables this
     * provider sees (tests; per-object settings). */
    const char *const *env;
} creds_config;

typedef struct creds_provider creds_provider;

/* c != NULL: credentials, and err is NULL or a refresh failure (a warning:
 * c is the previous, still valid, credentials). c == NULL: err says why. */
typedef void (*creds_cb)(void *ud, const creds *c, const char *err);

/* One pending creds_get. Caller-allocated and caller-owned (like a uv_req_t);
 * must stay put until cb runs or creds_cancel returns. Fields are private. */
typedef struct creds_wait {
    struct creds_wait *next, **pprev;
    creds_provider *provider;  /* NULL when not waiting */
    creds_cb cb;
    void *ud;
} creds_wait;

creds_provider *creds_provider_new(const creds_config *cfg, char *err, size_t errlen);

/* Cancels the fetch in flight; waiters are dropped without callbacks (their
 * creds_cancel is then a no-op, whatever the order of frees). */
void creds_provider_free(creds_provider *p);

/* Asks for credentials; cb gets them as described above. Fails only if w is
 * already waiting or memory is exhausted. */
int creds_get(creds_provider *p, creds_wait *w, creds_cb cb, void *ud,
              char *err, size_t errlen);

/* Stops waiting; cb will not be called. Safe on a wait that has completed
 * or whose provider is gone. */
void creds_cancel(creds_wait *w);

/* The cached credentials if they need no refresh at `now` (and the last
 * fetch succeeded), else NULL. Borrowed: valid until control returns to the
 * loop. */
const creds *creds_peek(const creds_provider *p, time_t now);

/* The region for cfg: AWS_REGION, AWS_DEFAULT_REGION, then `region` of the
 * profile (credentials file, then config file, as for every profile
 * setting). out = "" when none is set.
 * SMOP_ERR only for an unreadable or malformed file. */
int creds_region(const creds_config *cfg, char *out, size_t outlen,
                 char *err, size_t errlen);

/* Pure parts, exposed for tests. */

/* 1 if credentials expiring at `expiration` should be refreshed at `now`. */
int creds_needs_refresh(time_t expiration, time_t now);

/* 1 if they can no longer be used at `now`. */
int creds_expired(time_t expiration, time_t now);

/* ISO 8601 / RFC 3339 UTC time ("2024-05-01T12:00:00Z", optional fraction,
 * "Z" or a +hh:mm offset) to epoch seconds. SMOP_OK or SMOP_ERR. */
int creds_parse_time(const char *s, time_t *out);

/* STS AssumeRoleWithWebIdentity answer (XML). On an STS error document,
 * err = "Code: Message". Sets every field of out but source. */
int creds_parse_sts(const char *body, size_t len, creds *out, char *err, size_t errlen);

/* Container / IMDS answer (flat JSON: AccessKeyId, SecretAccessKey, Token,
 * Expiration; IMDS's Code must be "Success" when present). On an error
 * document, err = "code: message". Sets every field of out but source. */
int creds_parse_json(const char *body, size_t len, creds *out, char *err, size_t errlen);

#endif
