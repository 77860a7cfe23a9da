/*
 * creds.c - the credential chain and the provider's cache (see creds.h).
 *
 * A provider resolves the chain afresh at each fetch (a fetch happens only
 * when there is nothing cached or the cache needs a refresh), so a rotated
 * token file or a changed profile file is seen at the next refresh. Sources
 * answer synchronously (environment, profile keys) or start HTTP calls
 * (STS, container, IMDS); either way the outcome goes through complete(),
 * and every waiter is answered from the provider's zero-delay timer, so no
 * callback ever runs inside creds_get.
 */
#include "creds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "http.h"
#include "ini.h"
#include "smop.h"

/* Message buffers nest (a URL in a reason in the tried list in the final
 * line); sizes chosen so that every level fits in the one above. */
#define MSGLEN 1024
#define TRIEDLEN 600
#define WHYLEN 384
#define URLSHOWN 256
#define FILE_MAX (64 * 1024)          /* token files are a few KB */
#define STS_CONNECT_MS 5000
#define STS_TIMEOUT_MS 15000
#define CONTAINER_CONNECT_MS 2000
#define CONTAINER_TIMEOUT_MS 5000
#define IMDS_CONNECT_MS 1000          /* a laptop without IMDS fails fast */
#define IMDS_TIMEOUT_MS 3000

enum { SRC_SKIP, SRC_READY, SRC_STARTED, SRC_FAILED };
enum fetch_kind { FETCH_STS, FETCH_CONTAINER, FETCH_IMDS };

struct fetch {
    creds_provider *p;
    enum fetch_kind kind;
    int step;                 /* IMDS: 0 token, 1 role name, 2 credentials */
    http_call *call;
    char url[URLSHOWN];       /* what messages show: no query string */
    char *target;             /* full URL of the current request */
    char *body;               /* STS form */
    size_t body_len;
    char *secret_header;      /* Authorization / IMDS token value */
    char base[512];           /* IMDS endpoint */
    char role[128];           /* IMDS: the instance's role */
    char tried[TRIEDLEN];     /* IMDS: the chain so far, for the final error */
};

struct creds_provider {
    char *profile;            /* explicit, or NULL */
    char **env;               /* override, NULL-terminated, or NULL */
    creds cached;
    int have;
    char error[MSGLEN];       /* the last fetch's failure; "" after a success */
    time_t retry_after;       /* no new fetch before, while error[] is set */
    struct fetch *fetch;      /* in flight, or NULL */
    creds_wait *waiting;      /* for the fetch */
    creds_wait *ready;        /* to answer on the next loop turn */
    uv_timer_t kick;          /* freed with the provider, in its close callback */
};

/* ---- small helpers ---- */

static const char *env_get(const char *const *env, const char *name)
{
    const char *v = NULL;
    size_t n = strlen(name);

    if (!env) {
        v = getenv(name);
    } else {
        for (; *env; env++) {
            if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
                v = *env + n + 1;
        }
    }
    return v && *v ? v : NULL;
}

static const char *penv(const creds_provider *p, const char *name)
{
    return env_get((const char *const *)p->env, name);
}

static int copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        return SMOP_ERR;
    memcpy(dst, src, n + 1);
    return SMOP_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reads a small file whole, trims surrounding whitespace; *out is malloc'd. */
static int read_file(const char *path, char **out, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL, *s;
    size_t n;
    int rc = SMOP_ERR;

    *out = NULL;
    if (!fp)
        return smop_fail(err, errlen, "%s: %s", path, strerror(errno));
    buf = malloc(FILE_MAX + 1);
    if (!buf) {
        smop_fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    n = fread(buf, 1, FILE_MAX + 1, fp);
    if (ferror(fp)) {
        smop_fail(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (n > FILE_MAX) {
        smop_fail(err, errlen, "%s: larger than %d bytes", path, FILE_MAX);
        goto done;
    }
    buf[n] = '\0';
    while (n > 0 && is_space(buf[n - 1]))
        buf[--n] = '\0';
    for (s = buf; is_space(*s); s++)
        ;
    if (!*s) {
        smop_fail(err, errlen, "%s: empty", path);
        goto done;
    }
    memmove(buf, s, strlen(s) + 1);
    *out = buf;
    buf = NULL;
    rc = SMOP_OK;
done:
    free(buf);
    fclose(fp);
    return rc;
}

/* Writes a source's error line; returns SRC_FAILED. */
static int src_fail(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int src_fail(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return SRC_FAILED;
}

/* A value sent as a header must not smuggle a line break. */
static int header_safe(const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n')
            return 0;
    }
    return 1;
}

/* Expands a leading "~/" with HOME, as the SDKs do for paths in settings. */
static int expand_path(const char *const *env, const char *path, char *out, size_t size)
{
    const char *home = env_get(env, "HOME");

    if (path[0] == '~' && path[1] == '/' && home)
        return snprintf(out, size, "%s%s", home, path + 1) < (int)size ? SMOP_OK : SMOP_ERR;
    return copy(out, size, path);
}

/* Copies the URL without its query string (messages never show one). */
static void url_for_messages(const char *url, char *out, size_t size)
{
    size_t n = strcspn(url, "?#");

    snprintf(out, size, "%.*s", (int)n, url);
}

static int set_keys(creds *c, const char *id, const char *secret, const char *token,
                    const char *source, const char *label, char *msg, size_t msglen)
{
    if (copy(c->access_key_id, sizeof c->access_key_id, id))
        return src_fail(msg, msglen, "%s: access key id longer than %zu bytes", label,
                         sizeof c->access_key_id - 1);
    if (copy(c->secret_access_key, sizeof c->secret_access_key, secret))
        return smop_fail(msg, msglen, "%s: secret access key longer than %zu bytes", label,
                         sizeof c->secret_access_key - 1);
    if (copy(c->session_token, sizeof c->session_token, token ? token : ""))
        return smop_fail(msg, msglen, "%s: session token longer than %zu bytes", label,
                         sizeof c->session_token - 1);
    c->expiration = 0;
    c->source = source;
    return SMOP_OK;
}

/* ---- growing strings, for the STS form body ---- */

struct sbuf {
    char *data;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *d;

        while (cap < b->len + n + 1)
            cap *= 2;
        d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* application/x-www-form-urlencoded, keeping only RFC 3986 unreserved bytes. */
static void sb_form(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            sb_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            sb_add(b, e, 3);
        }
    }
}

/* ---- profiles in the shared files ---- */

struct profile {
    char name[256];
    int named;                /* by the caller or AWS_PROFILE: must exist */
    int explicit_name;        /* by the caller */
    char path[2][PATH_MAX];   /* credentials, config; "" without HOME */
    ini_file *file[2];        /* NULL when the file does not exist */
    char section[2][300];     /* section names in each file */
    int has[2];               /* the section is there */
};

static void profile_free(struct profile *pr)
{
    ini_free(pr->file[0]);
    ini_free(pr->file[1]);
}

static int profile_load(struct profile *pr, const char *explicit_name,
                        const char *const *env, char *err, size_t errlen)
{
    static const char *const vars[2] = {"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"};
    static const char *const names[2] = {"credentials", "config"};
    const char *name = explicit_name ? explicit_name : env_get(env, "AWS_PROFILE");
    const char *home = env_get(env, "HOME");
    int i;

    memset(pr, 0, sizeof *pr);
    pr->explicit_name = explicit_name != NULL;
    pr->named = name != NULL;
    if (copy(pr->name, sizeof pr->name, name ? name : "default"))
        return smop_fail(err, errlen, "profile name longer than %zu bytes", sizeof pr->name - 1);
    for (i = 0; i < 2; i++) {
        const char *v = env_get(env, vars[i]);
        int bad = 0;

        if (v)
            bad = expand_path(env, v, pr->path[i], sizeof pr->path[i]);
        else if (home)
            bad = snprintf(pr->path[i], sizeof pr->path[i], "%s/.aws/%s", home, names[i]) >=
                  (int)sizeof pr->path[i];
        if (bad)
            return smop_fail(err, errlen, "profile %s: path of the %s file too long",
                             pr->name, names[i]);
        if (pr->path[i][0] && ini_load(pr->path[i], &pr->file[i], err, errlen) != SMOP_OK) {
            profile_free(pr);
            return SMOP_ERR;
        }
    }
    snprintf(pr->section[0], sizeof pr->section[0], "%s", pr->name);
    snprintf(pr->section[1], sizeof pr->section[1], "profile %s", pr->name);
    if (strcmp(pr->name, "default") == 0 && !ini_has_section(pr->file[1], pr->section[1]))
        snprintf(pr->section[1], sizeof pr->section[1], "default");
    for (i = 0; i < 2; i++)
        pr->has[i] = ini_has_section(pr->file[i], pr->section[i]);
    return SMOP_OK;
}

/* The credentials file wins over the config file, as in the SDKs. */
static const char *profile_get(const struct profile *pr, const char *key)
{
    const char *v = ini_get(pr->file[0], pr->section[0], key);

    if (!v || !*v)
        v = ini_get(pr->file[1], pr->section[1], key);
    return v && *v ? v : NULL;
}

/* Where the profile was looked for: "no A, not in B" (for messages). */
static void profile_where(const struct profile *pr, char *out, size_t size)
{
    size_t n = 0;
    int i;

    out[0] = '\0';
    if (!pr->path[0][0] && !pr->path[1][0]) {
        snprintf(out, size, "HOME not set");
        return;
    }
    for (i = 0; i < 2; i++) {
        if (!pr->path[i][0] || n >= size)
            continue;
        n += (size_t)snprintf(out + n, size - n, "%s%s %s", n ? ", " : "",
                              pr->file[i] ? "not in" : "no", pr->path[i]);
    }
}

static const char *region_from_env(const char *const *env)
{
    const char *r = env_get(env, "AWS_REGION");

    return r ? r : env_get(env, "AWS_DEFAULT_REGION");
}

int creds_region(const creds_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
    struct profile pr;
    const char *r = region_from_env(cfg->env);
    int rc = SMOP_OK;

    if (r) {
        if (copy(out, outlen, r))
            return smop_fail(err, errlen, "region name too long");
        return SMOP_OK;
    }
    if (profile_load(&pr, cfg->profile, cfg->env, err, errlen) != SMOP_OK)
        return SMOP_ERR;
    r = profile_get(&pr, "region");
    if (copy(out, outlen, r ? r : ""))
        rc = smop_fail(err, errlen, "profile %s: region name too long", pr.name);
    profile_free(&pr);
    return rc;
}

/* ---- completing a fetch, answering waiters ---- */

static void list_push(creds_wait **head, creds_wait *w)
{
    w->next = *head;
    if (*head)
        (*head)->pprev = &w->next;
    w->pprev = head;
    *head = w;
}

static void list_unlink(creds_wait *w)
{
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->next = NULL;
    w->pprev = NULL;
}

static void kick_fired(uv_timer_t *t)
{
    creds_provider *p = t->data;
    creds_wait *list = p->ready;
    time_t now = time(NULL);
    int fresh = p->error[0] == '\0';
    int usable = p->have && (fresh || !creds_expired(p->cached.expiration, now));
    creds snap;
    char msg[MSGLEN];

    if (!list)
        return;
    p->ready = NULL;
    list->pprev = &list;
    /* A callback may call creds_get and so change the cache: answer everyone
     * here from one snapshot. */
    if (usable)
        snap = p->cached;
    snprintf(msg, sizeof msg, "%s", fresh ? "" : p->error);
    while (list) {
        creds_wait *w = list;

        list_unlink(w);
        w->provider = NULL;
        if (usable)
            w->cb(w->ud, &snap, msg[0] ? msg : NULL);
        else
            w->cb(w->ud, NULL, msg[0] ? msg : "credentials: no result");
    }
    if (usable)
        memset(&snap, 0, sizeof snap);
}

static void schedule_answers(creds_provider *p)
{
    if (!uv_is_active((uv_handle_t *)&p->kick))
        uv_timer_start(&p->kick, kick_fired, 0, 0);
}

/* Records a fetch's outcome (c, or the error msg) and answers its waiters. */
static void complete(creds_provider *p, const creds *c, const char *msg)
{
    time_t now = time(NULL);

    if (c) {
        p->cached = *c;
        p->have = 1;
        p->error[0] = '\0';
        p->retry_after = 0;
    } else {
        snprintf(p->error, sizeof p->error, "%s", msg);
        p->retry_after = now + CREDS_RETRY_AFTER;
    }
    p->fetch = NULL;
    while (p->waiting) {
        creds_wait *w = p->waiting;

        list_unlink(w);
        list_push(&p->ready, w);
    }
    schedule_answers(p);
}

static void fetch_free(struct fetch *f)
{
    if (!f)
        return;
    if (f->call)
        http_cancel(f->call);
    free(f->target);
    free(f->body);
    if (f->secret_header) {
        memset(f->secret_header, 0, strlen(f->secret_header));
        free(f->secret_header);
    }
    free(f);
}

static void fetch_done(struct fetch *f, const creds *c, const char *msg)
{
    creds_provider *p = f->p;

    fetch_free(f);
    complete(p, c, msg);
}

/* ---- HTTP sources ---- */

static void http_done(void *ud, const http_response *res);

static int fetch_http(struct fetch *f, const char *method, const char *url,
                      const http_header *headers, size_t nheaders,
                      long connect_ms, long timeout_ms, char *msg, size_t msglen)
{
    http_request req;
    char err[256];

    free(f->target);
    f->target = strdup(url);
    if (!f->target)
        return smop_fail(msg, msglen, "out of memory");
    url_for_messages(url, f->url, sizeof f->url);
    memset(&req, 0, sizeof req);
    req.method = method;
    req.url = f->target;
    req.headers = headers;
    req.nheaders = nheaders;
    if (strcmp(method, "POST") == 0) {
        req.body = f->body;
        req.body_len = f->body_len;
    }
    req.connect_timeout_ms = connect_ms;
    req.timeout_ms = timeout_ms;
    req.max_response = 1 << 20;
    if (http_start(&req, http_done, f, &f->call, err, sizeof err) != SMOP_OK)
        return smop_fail(msg, msglen, "%s %s: %s", method, f->url, err);
    return SMOP_OK;
}

static int valid_region(const char *r)
{
    if (!*r || strlen(r) > 64)
        return 0;
    for (; *r; r++) {
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return 0;
    }
    return 1;
}

/* Web identity: read the token (again at every refresh) and ask STS. */
static int start_sts(creds_provider *p, struct fetch *f, const char *role_arn,
                     const char *token_file, const char *session_name, const char *region,
                     char *msg, size_t msglen)
{
    static const http_header headers[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Accept", "text/xml"},
    };
    const char *endpoint = penv(p, "AWS_ENDPOINT_URL_STS");
    char url[512], session[64], err[512];
    struct sbuf b = {0};
    char *token = NULL;
    int rc = SRC_FAILED;

    if (!endpoint)
        endpoint = penv(p, "AWS_ENDPOINT_URL");
    if (endpoint) {
        snprintf(url, sizeof url, "%s", endpoint);
    } else if (!valid_region(region)) {
        smop_fail(msg, msglen, "web identity: region \"%.64s\" is not a region name", region);
        goto done;
    } else {
        snprintf(url, sizeof url, "https://sts.%s.amazonaws.com%s", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    }
    if (!session_name) {
        snprintf(session, sizeof session, "smop-%lld", (long long)time(NULL));
        session_name = session;
    }
    if (read_file(token_file, &token, err, sizeof err) != SMOP_OK) {
        smop_fail(msg, msglen, "web identity: token file %s", err);
        goto done;
    }
    sb_str(&b, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    sb_form(&b, role_arn);
    sb_str(&b, "&RoleSessionName=");
    sb_form(&b, session_name);
    sb_str(&b, "&WebIdentityToken=");
    sb_form(&b, token);
    if (b.oom) {
        smop_fail(msg, msglen, "web identity: out of memory");
        goto done;
    }
    f->kind = FETCH_STS;
    f->body = b.data;
    f->body_len = b.len;
    b.data = NULL;
    if (fetch_http(f, "POST", url, headers, 2, STS_CONNECT_MS, STS_TIMEOUT_MS, err,
                   sizeof err) != SMOP_OK) {
        smop_fail(msg, msglen, "web identity: STS AssumeRoleWithWebIdentity: %s", err);
        goto done;
    }
    rc = SRC_STARTED;
done:
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    free(b.data);
    return rc;
}

static void sts_done(struct fetch *f, const http_response *res)
{
    char msg[MSGLEN], why[WHYLEN];
    creds c;

    if (res->error) {
        snprintf(msg, sizeof msg, "web identity: STS AssumeRoleWithWebIdentity: POST %s: %s",
                 f->url, res->error);
    } else if (creds_parse_sts(res->body, res->body_len, &c, why, sizeof why) == SMOP_OK &&
               res->status == 200) {
        c.source = "web identity";
        fetch_done(f, &c, NULL);
        return;
    } else if (res->status != 200 && strstr(res->body, "<Error") == NULL) {
        snprintf(msg, sizeof msg, "web identity: STS AssumeRoleWithWebIdentity: POST %s: HTTP %ld",
                 f->url, res->status);
    } else {
        snprintf(msg, sizeof msg, "web identity: STS AssumeRoleWithWebIdentity: %s", why);
    }
    memset(&c, 0, sizeof c);
    fetch_done(f, NULL, msg);
}

/* The SDKs' rule for AWS_CONTAINER_CREDENTIALS_FULL_URI: https, a loopback
 * host, or the ECS / EKS Pod Identity agents' link-local addresses. */
static int container_uri_allowed(const char *uri, char *host, size_t hostlen)
{
    const char *h, *end;
    unsigned char a[16];
    size_t n;

    host[0] = '\0';
    if (strncasecmp(uri, "https://", 8) == 0)
        return 1;
    if (strncasecmp(uri, "http://", 7) != 0) {
        snprintf(host, hostlen, "scheme of %.*s", (int)strcspn(uri, ":/"), uri);
        return 0;
    }
    h = uri + 7;
    end = h + strcspn(h, "/?#");
    for (const char *at = h; at < end; at++) {
        if (*at == '@')
            h = at + 1;     /* user info is not the host */
    }
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));

        if (!close)
            return 0;
        n = (size_t)(close - h - 1);
        snprintf(host, hostlen, "%.*s", (int)n, h + 1);
    } else {
        n = strcspn(h, ":/?#");
        snprintf(host, hostlen, "%.*s", (int)n, h);
    }
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 ||
        strcmp(host, "169.254.170.23") == 0)
        return 1;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char loop6[16] = {[15] = 1};
        static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};

        return memcmp(a, loop6, 16) == 0 || memcmp(a, eks6, 16) == 0;
    }
    return 0;
}

static int src_container(creds_provider *p, struct fetch *f, char *msg, size_t msglen)
{
    const char *rel = penv(p, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = penv(p, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *token_file = penv(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *token = penv(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    http_header auth = {"Authorization", NULL};
    char url[1024], host[256], err[512];

    if (!rel && !full) {
        snprintf(msg, msglen, "container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI not set)");
        return SRC_SKIP;
    }
    if (rel) {
        if (rel[0] != '/')
            return src_fail(msg, msglen, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
                                          "must start with '/'");
        if (snprintf(url, sizeof url, "http://169.254.170.2%s", rel) >= (int)sizeof url)
            return src_fail(msg, msglen, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
                                          "too long");
    } else {
        if (!container_uri_allowed(full, host, sizeof host))
            return src_fail(msg, msglen, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI must "
                             "use https, a loopback host or the ECS/EKS agent address "
                             "(169.254.170.2, 169.254.170.23, fd00:ec2::23), not %s",
                             host[0] ? host : "this");
        if (copy(url, sizeof url, full))
            return src_fail(msg, msglen, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI "
                                          "too long");
    }
    f->kind = FETCH_CONTAINER;
    if (token_file) {
        if (read_file(token_file, &f->secret_header, err, sizeof err) != SMOP_OK)
            return src_fail(msg, msglen, "container: authorization token file %s", err);
    } else if (token && !(f->secret_header = strdup(token))) {
        return src_fail(msg, msglen, "container: out of memory");
    }
    if (f->secret_header && !header_safe(f->secret_header))
        return src_fail(msg, msglen, "container: authorization token contains a line break");
    auth.value = f->secret_header;
    if (fetch_http(f, "GET", url, &auth, f->secret_header ? 1 : 0, CONTAINER_CONNECT_MS,
                   CONTAINER_TIMEOUT_MS, err, sizeof err) != SMOP_OK)
        return src_fail(msg, msglen, "container: %s", err);
    return SRC_STARTED;
}

static void container_done(struct fetch *f, const http_response *res)
{
    char msg[MSGLEN], why[WHYLEN];
    creds c;

    if (res->error) {
        snprintf(msg, sizeof msg, "container: GET %s: %s", f->url, res->error);
    } else if (res->status != 200) {
        if (creds_parse_json(res->body, res->body_len, &c, why, sizeof why) == SMOP_OK ||
            strncmp(why, "answer ", 7) == 0)
            snprintf(msg, sizeof msg, "container: GET %s: HTTP %ld", f->url, res->status);
        else
            snprintf(msg, sizeof msg, "container: GET %s: HTTP %ld: %s", f->url, res->status,
                     why);
    } else if (creds_parse_json(res->body, res->body_len, &c, why, sizeof why) != SMOP_OK) {
        snprintf(msg, sizeof msg, "container: GET %s: %s", f->url, why);
    } else {
        c.source = "container";
        fetch_done(f, &c, NULL);
        return;
    }
    memset(&c, 0, sizeof c);
    fetch_done(f, NULL, msg);
}

/* IMDSv2: a session token, the role's name, then its credentials. */
static int imds_step(struct fetch *f, char *msg, size_t msglen)
{
    http_header h;
    char url[1024];

    if (f->step == 0) {
        h.name = "X-aws-ec2-metadata-token-ttl-seconds";
        h.value = "21600";
        snprintf(url, sizeof url, "%s/latest/api/token", f->base);
        return fetch_http(f, "PUT", url, &h, 1, IMDS_CONNECT_MS, IMDS_TIMEOUT_MS, msg, msglen);
    }
    h.name = "X-aws-ec2-metadata-token";
    h.value = f->secret_header;
    if (f->step == 1)
        snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", f->base);
    else if (snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s",
                      f->base, f->role) >= (int)sizeof url)
        return src_fail(msg, msglen, "role name too long");
    return fetch_http(f, "GET", url, &h, 1, IMDS_CONNECT_MS, IMDS_TIMEOUT_MS, msg, msglen);
}

static int src_imds(creds_provider *p, struct fetch *f, const char *tried,
                    char *msg, size_t msglen)
{
    const char *off = penv(p, "AWS_EC2_METADATA_DISABLED");
    const char *base = penv(p, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char why[WHYLEN];
    size_t n;

    if (off && strcasecmp(off, "true") == 0) {
        snprintf(msg, msglen, "IMDS (AWS_EC2_METADATA_DISABLED=true)");
        return SRC_SKIP;
    }
    snprintf(f->base, sizeof f->base, "%s", base ? base : "http://169.254.169.254");
    n = strlen(f->base);
    while (n > 0 && f->base[n - 1] == '/')
        f->base[--n] = '\0';
    snprintf(f->tried, sizeof f->tried, "%s", tried);
    f->kind = FETCH_IMDS;
    f->step = 0;
    if (imds_step(f, why, sizeof why) != SMOP_OK)
        return src_fail(msg, msglen, "no AWS credentials: %s, IMDS (%s)", tried, why);
    return SRC_STARTED;
}

/* A role name from IMDS goes into a URL path: keep IAM's own alphabet. */
static int valid_role_name(const char *s)
{
    if (!*s || strlen(s) > 64)   /* IAM's limit; fits f->role */
        return 0;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("+=,.@_-", *s)))
            return 0;
    }
    return 1;
}

static void imds_done(struct fetch *f, const http_response *res)
{
    char msg[MSGLEN], why[WHYLEN];
    creds c;

    if (res->error) {
        snprintf(why, sizeof why, "%s %s: %s", f->step ? "GET" : "PUT", f->url, res->error);
    } else if (f->step == 1 && res->status == 404) {
        snprintf(why, sizeof why, "no IAM role attached to this instance");
    } else if (res->status != 200) {
        snprintf(why, sizeof why, "%s %s: HTTP %ld", f->step ? "GET" : "PUT", f->url,
                 res->status);
    } else if (f->step < 2) {
        char *value = strndup(res->body, strcspn(res->body, "\r\n"));

        if (!value) {
            snprintf(why, sizeof why, "out of memory");
        } else if (f->step == 0 ? !header_safe(value) || !*value : !valid_role_name(value)) {
            snprintf(why, sizeof why, "GET %s: unexpected answer", f->url);
            free(value);
        } else {
            if (f->step == 0) {
                f->secret_header = value;
            } else {
                snprintf(f->role, sizeof f->role, "%s", value);
                free(value);
            }
            f->step++;
            if (imds_step(f, why, sizeof why) == SMOP_OK)
                return;
        }
    } else if (creds_parse_json(res->body, res->body_len, &c, why, sizeof why) == SMOP_OK) {
        c.source = "imds";
        fetch_done(f, &c, NULL);
        return;
    }
    snprintf(msg, sizeof msg, "no AWS credentials: %s, IMDS (%s)", f->tried, why);
    memset(&c, 0, sizeof c);
    fetch_done(f, NULL, msg);
}

static void http_done(void *ud, const http_response *res)
{
    struct fetch *f = ud;

    f->call = NULL;   /* freed by http after we return */
    switch (f->kind) {
    case FETCH_STS:
        sts_done(f, res);
        break;
    case FETCH_CONTAINER:
        container_done(f, res);
        break;
    case FETCH_IMDS:
        imds_done(f, res);
        break;
    }
}

/* ---- synchronous sources ---- */

static int src_env(creds_provider *p, creds *out, char *msg, size_t msglen)
{
    const char *id = penv(p, "AWS_ACCESS_KEY_ID");
    const char *secret = penv(p, "AWS_SECRET_ACCESS_KEY");

    if (!id && !secret) {
        snprintf(msg, msglen, "environment (AWS_ACCESS_KEY_ID not set)");
        return SRC_SKIP;
    }
    if (!secret)
        return src_fail(msg, msglen, "environment: AWS_ACCESS_KEY_ID is set but "
                                      "AWS_SECRET_ACCESS_KEY is not");
    if (!id)
        return src_fail(msg, msglen, "environment: AWS_SECRET_ACCESS_KEY is set but "
                                      "AWS_ACCESS_KEY_ID is not");
    if (set_keys(out, id, secret, penv(p, "AWS_SESSION_TOKEN"), "environment", "environment",
                 msg, msglen) != SMOP_OK)
        return SRC_FAILED;
    return SRC_READY;
}

static int src_web_identity(creds_provider *p, struct fetch *f, char *msg, size_t msglen)
{
    const char *arn = penv(p, "AWS_ROLE_ARN");
    const char *file = penv(p, "AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *region = region_from_env((const char *const *)p->env);

    if (!arn && !file) {
        snprintf(msg, msglen, "web identity (AWS_ROLE_ARN not set)");
        return SRC_SKIP;
    }
    if (!file)
        return src_fail(msg, msglen, "web identity: AWS_ROLE_ARN is set but "
                                      "AWS_WEB_IDENTITY_TOKEN_FILE is not");
    if (!arn)
        return src_fail(msg, msglen, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but "
                                      "AWS_ROLE_ARN is not");
    return start_sts(p, f, arn, file, penv(p, "AWS_ROLE_SESSION_NAME"),
                     region ? region : "us-east-1", msg, msglen);
}

static int src_profile(creds_provider *p, struct fetch *f, creds *out, char *msg, size_t msglen)
{
    const char *const *env = (const char *const *)p->env;
    struct profile pr;
    const char *id, *secret, *role;
    char where[2 * PATH_MAX + 32], err[MSGLEN];
    int rc = SRC_FAILED;

    if (profile_load(&pr, p->profile, env, err, sizeof err) != SMOP_OK) {
        const char *name = p->profile ? p->profile : env_get(env, "AWS_PROFILE");

        return src_fail(msg, msglen, "profile %s: %s", name ? name : "default", err);
    }
    profile_where(&pr, where, sizeof where);
    if (!pr.has[0] && !pr.has[1]) {
        if (pr.named) {
            smop_fail(msg, msglen, "profile %s: not found (%s)", pr.name, where);
        } else {
            snprintf(msg, msglen, "profile %s (%s)", pr.name, where);
            rc = SRC_SKIP;
        }
        goto done;
    }
    role = profile_get(&pr, "role_arn");
    id = profile_get(&pr, "aws_access_key_id");
    secret = profile_get(&pr, "aws_secret_access_key");
    if (role) {
        const char *token_file = profile_get(&pr, "web_identity_token_file");
        const char *region = region_from_env(env);
        char path[PATH_MAX];

        if (!token_file) {
            smop_fail(msg, msglen, "profile %s: role_arn without web_identity_token_file "
                      "(source_profile and credential_source are not supported)", pr.name);
            goto done;
        }
        if (expand_path(env, token_file, path, sizeof path)) {
            smop_fail(msg, msglen, "profile %s: web_identity_token_file too long", pr.name);
            goto done;
        }
        if (!region)
            region = profile_get(&pr, "region");
        rc = start_sts(p, f, role, path, profile_get(&pr, "role_session_name"),
                       region ? region : "us-east-1", msg, msglen);
    } else if (id || secret) {
        char label[300];

        snprintf(label, sizeof label, "profile %s", pr.name);
        if (!id || !secret)
            smop_fail(msg, msglen, "profile %s: %s is set but %s is not", pr.name,
                      id ? "aws_access_key_id" : "aws_secret_access_key",
                      id ? "aws_secret_access_key" : "aws_access_key_id");
        else if (set_keys(out, id, secret, profile_get(&pr, "aws_session_token"), "profile",
                          label, msg, msglen) == SMOP_OK)
            rc = SRC_READY;
    } else if (profile_get(&pr, "credential_process")) {
        smop_fail(msg, msglen, "profile %s: credential_process is not supported", pr.name);
    } else if (profile_get(&pr, "sso_session") || profile_get(&pr, "sso_start_url")) {
        smop_fail(msg, msglen, "profile %s: SSO credentials are not supported", pr.name);
    } else if (pr.explicit_name) {
        smop_fail(msg, msglen, "profile %s: no credentials in its settings", pr.name);
    } else {
        snprintf(msg, msglen, "profile %s (no credentials in its settings)", pr.name);
        rc = SRC_SKIP;
    }
done:
    profile_free(&pr);
    return rc;
}

/* ---- the chain ---- */

static void tried_add(char *tried, size_t size, const char *why)
{
    size_t n = strlen(tried);

    /* A cut list is still readable; using the result tells gcc so. */
    if (n < size && snprintf(tried + n, size - n, "%s%s", n ? ", " : "", why) < 0)
        tried[n] = '\0';
}

/* Walks the chain; the first source that is configured decides. */
static int walk(creds_provider *p, struct fetch *f, creds *out, char *msg, size_t msglen)
{
    char tried[TRIEDLEN] = "";
    int rc;

    if (p->profile)
        return src_profile(p, f, out, msg, msglen);
    if ((rc = src_env(p, out, msg, msglen)) != SRC_SKIP)
        return rc;
    tried_add(tried, sizeof tried, msg);
    if ((rc = src_web_identity(p, f, msg, msglen)) != SRC_SKIP)
        return rc;
    tried_add(tried, sizeof tried, msg);
    if ((rc = src_profile(p, f, out, msg, msglen)) != SRC_SKIP)
        return rc;
    tried_add(tried, sizeof tried, msg);
    if ((rc = src_container(p, f, msg, msglen)) != SRC_SKIP)
        return rc;
    tried_add(tried, sizeof tried, msg);
    if ((rc = src_imds(p, f, tried, msg, msglen)) != SRC_SKIP)
        return rc;
    tried_add(tried, sizeof tried, msg);
    smop_fail(msg, msglen, "no AWS credentials: %s", tried);
    return SRC_FAILED;
}

static void start_fetch(creds_provider *p)
{
    struct fetch *f = calloc(1, sizeof *f);
    creds c;
    char msg[MSGLEN];
    int rc;

    if (!f) {
        complete(p, NULL, "credentials: out of memory");
        return;
    }
    f->p = p;
    rc = walk(p, f, &c, msg, sizeof msg);
    if (rc == SRC_STARTED) {
        p->fetch = f;
        return;
    }
    fetch_free(f);
    complete(p, rc == SRC_READY ? &c : NULL, msg);
    memset(&c, 0, sizeof c);
}

/* ---- the public face ---- */

creds_provider *creds_provider_new(const creds_config *cfg, char *err, size_t errlen)
{
    creds_provider *p = calloc(1, sizeof *p);
    size_t i, n = 0;

    if (!p)
        goto nomem;
    if (cfg->profile && !(p->profile = strdup(cfg->profile)))
        goto nomem;
    if (cfg->env) {
        while (cfg->env[n])
            n++;
        p->env = calloc(n + 1, sizeof(char *));
        if (!p->env)
            goto nomem;
        for (i = 0; i < n; i++) {
            if (!(p->env[i] = strdup(cfg->env[i])))
                goto nomem;
        }
    }
    uv_timer_init(uv_default_loop(), &p->kick);
    p->kick.data = p;
    return p;

nomem:
    if (p) {
        for (i = 0; p->env && p->env[i]; i++)
            free(p->env[i]);
        free(p->env);
        free(p->profile);
        free(p);
    }
    smop_fail(err, errlen, "credentials: out of memory");
    return NULL;
}

static void provider_closed(uv_handle_t *h)
{
    free(h->data);
}

void creds_provider_free(creds_provider *p)
{
    size_t i;

    if (!p)
        return;
    if (p->fetch) {
        fetch_free(p->fetch);
        p->fetch = NULL;
    }
    while (p->waiting) {
        creds_wait *w = p->waiting;

        list_unlink(w);
        w->provider = NULL;
    }
    while (p->ready) {
        creds_wait *w = p->ready;

        list_unlink(w);
        w->provider = NULL;
    }
    for (i = 0; p->env && p->env[i]; i++) {
        memset(p->env[i], 0, strlen(p->env[i]));
        free(p->env[i]);
    }
    free(p->env);
    free(p->profile);
    memset(&p->cached, 0, sizeof p->cached);
    uv_timer_stop(&p->kick);
    uv_close((uv_handle_t *)&p->kick, provider_closed);
}

int creds_get(creds_provider *p, creds_wait *w, creds_cb cb, void *ud, char *err, size_t errlen)
{
    time_t now = time(NULL);
    time_t exp = p->cached.expiration;

    if (w->provider)
        return smop_fail(err, errlen, "credentials: this wait is already in use");
    w->provider = p;
    w->cb = cb;
    w->ud = ud;
    if (p->have && (!creds_needs_refresh(exp, now) ||
                    (p->error[0] && now < p->retry_after && !creds_expired(exp, now)))) {
        list_push(&p->ready, w);
        schedule_answers(p);
        return SMOP_OK;
    }
    list_push(&p->waiting, w);
    if (!p->fetch)
        start_fetch(p);
    return SMOP_OK;
}

void creds_cancel(creds_wait *w)
{
    if (!w->provider)
        return;
    list_unlink(w);
    w->provider = NULL;
}

const creds *creds_peek(const creds_provider *p, time_t now)
{
    if (!p->have || p->error[0] || creds_needs_refresh(p->cached.expiration, now))
        return NULL;
    return &p->cached;
}
