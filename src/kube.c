/*
 * kube.c - the informer's state machine (contract in kube.h).
 *
 * One step at a time, always started from one timer (`timer`): a list page
 * or a watch, now or after a backoff. Completion callbacks never start the
 * next request themselves; they decide the next step and arm the timer, so
 * nothing runs inside libcurl's callbacks but bookkeeping, and a step held
 * for a token or for back-pressure is just a timer not armed yet.
 *
 * The queue is a singly linked list of events, each one allocation holding
 * its key and object text. The map (kube_map.h) mirrors what was queued, so
 * a relist can tell ADDED from MODIFIED and find what disappeared.
 */
#include "kube.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "json.h"
#include "kube_map.h"
#include "kube_wire.h"
#include "smop.h"

#define DEFAULT_PAGE_SIZE 500
#define DEFAULT_QUEUE_BYTES ((size_t)8 << 20)
#define DEFAULT_BACKOFF_BASE 0.2
#define DEFAULT_BACKOFF_MAX 30.0
#define MAX_RETRY_AFTER 600.0
#define LIST_TIMEOUT_MS (120 * 1000L)
#define WATCH_SLACK_S 60        /* client timeout past timeoutSeconds */
#define ERROR_BODY_MAX 4096     /* of a failed watch, for its message */
#define MESSAGE_MAX 600         /* of a server message in last_error */

/* A growable NUL-terminated string; oom sticks until reset. */
struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_reset(struct buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->p)
        b->p[0] = '\0';
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Query parameter value: everything but RFC 3986 unreserved is escaped. */
static void buf_query(struct buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)value;

    buf_str(b, b->len && strchr(b->p, '?') ? "&" : "?");
    buf_str(b, name);
    buf_add(b, "=", 1);
    for (; *s; s++) {
        char esc[3] = {'%', hex[*s >> 4], hex[*s & 15]};

        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
            *s == '-' || *s == '.' || *s == '_' || *s == '~')
            buf_add(b, (const char *)s, 1);
        else
            buf_add(b, esc, 3);
    }
}

static void buf_json_string(struct buf *b, const char *s)
{
    size_t n = strlen(s), elen = json_escaped_len(s, n);
    char small[600];

    buf_add(b, "\"", 1);
    if (elen < sizeof small) {
        buf_add(b, small, (size_t)(json_escape(small, s, n) - small));
    } else {
        b->oom = 1; /* keys and uids are far shorter than this */
    }
    buf_add(b, "\"", 1);
}

struct qev {
    struct qev *next;
    kube_event_type type;
    int synthetic;
    size_t key_len, obj_len;
    char *obj;          /* into data, or NULL */
    char data[];        /* key \0 [object \0] */
};

enum phase { PH_LISTING, PH_WATCHING, PH_BACKOFF, PH_CLOSED };
enum step { STEP_LIST, STEP_WATCH };

struct kube_informer {
    /* configuration (copies) */
    char *server, *path, *label_selector, *field_selector, *token;
    char *ca_pem, *cert_pem, *key_pem;
    size_t ca_len, cert_len, key_len;
    long page_size, watch_timeout;
    double resync, backoff_base, backoff_max, token_refresh;
    size_t queue_bytes;
    char what[160];             /* "trainingjobs.sagemaker.aws.amazon.com" */
    kube_notify_fn notify;
    void *ud;

    uv_timer_t timer;           /* the next step: now, or after a backoff */
    uv_timer_t resync_timer;
    int open_handles;

    enum phase phase;
    enum step step;
    int step_held;              /* the timer fired while a token was awaited */
    int drain_wait;             /* the next page waits for the queue to drain */
    int token_wanted, token_wait;
    uint64_t token_time;        /* uv_now() when the token was set */

    http_call *call;            /* the request in flight, or NULL */
    long watch_status;
    unsigned long watch_lines;
    unsigned long empty_watches;/* clean ends in a row without a line */
    double retry_after;
    struct buf error_body;      /* of a failed watch */
    struct buf line;            /* a watch line, NUL-terminated */
    struct buf scratch;         /* synthetic objects, URLs */

    char *cont;                 /* continue token of the next page */
    unsigned gen;               /* generation of the list in progress */
    kube_map map;
    char rv[KUBE_MAP_MAX_FIELD + 1];
    int listed;                 /* the first list completed */
    uint64_t pushed, popped, sync_at;
    int resync_queued;
    unsigned long lists, watches, attempts;

    struct qev *head, *tail;
    size_t queued, queued_bytes;
    int paused;

    char last_error[1024];
    int has_error;
    char item_error[256];       /* why a list item was refused */
    uint64_t rng;
};

/* ---- small helpers ---- */

static char *dup_opt(const char *s, size_t n, int *oom)
{
    char *p;

    if (!s)
        return NULL;
    p = malloc(n + 1);
    if (!p) {
        *oom = 1;
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static double random_unit(kube_informer *inf)
{
    uint64_t x = inf->rng;      /* xorshift64* */

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    inf->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static const char *status_phrase(long code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

/* "plural.group" (or "plural" for the core group) from an API path. */
static void resource_name(const char *path, char *out, size_t size)
{
    const char *seg[8];
    size_t len[8], n = 0;
    const char *p = path;

    while (*p && n < 8) {
        const char *end;

        while (*p == '/')
            p++;
        end = p + strcspn(p, "/?");
        if (end == p)
            break;
        seg[n] = p;
        len[n++] = (size_t)(end - p);
        if (*end == '?')
            break;
        p = end;
    }
    if (n >= 4 && len[0] == 4 && memcmp(seg[0], "apis", 4) == 0) {
        size_t i = n >= 6 && len[3] == 10 && memcmp(seg[3], "namespaces", 10) == 0 ? 5 : 3;

        if (i < n) {
            snprintf(out, size, "%.*s.%.*s", (int)len[i], seg[i], (int)len[1], seg[1]);
            return;
        }
    } else if (n >= 3 && len[0] == 3 && memcmp(seg[0], "api", 3) == 0) {
        size_t i = n >= 5 && len[2] == 10 && memcmp(seg[2], "namespaces", 10) == 0 ? 4 : 2;

        if (i < n) {
            snprintf(out, size, "%.*s", (int)len[i], seg[i]);
            return;
        }
    }
    snprintf(out, size, "%s", path);
}

static int is_crd_path(const char *path)
{
    return strncmp(path, "/apis/", 6) == 0;
}

/* One line: control characters become spaces, cut at MESSAGE_MAX. */
static void clean_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static void set_error(kube_informer *inf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(kube_informer *inf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(inf->last_error, sizeof inf->last_error, fmt, ap);
    va_end(ap);
    clean_line(inf->last_error);
    inf->has_error = 1;
}

static void notify(kube_informer *inf)
{
    if (inf->notify && inf->phase != PH_CLOSED)
        inf->notify(inf->ud);
}

/* ---- the event queue ---- */

static int push(kube_informer *inf, kube_event_type type, int synthetic, const char *key,
                size_t key_len, const char *obj, size_t obj_len)
{
    struct qev *e = malloc(sizeof *e + key_len + 1 + (obj ? obj_len + 1 : 0));

    if (!e)
        return SMOP_ERR;
    e->next = NULL;
    e->type = type;
    e->synthetic = synthetic;
    e->key_len = key_len;
    e->obj_len = obj ? obj_len : 0;
    memcpy(e->data, key, key_len);
    e->data[key_len] = '\0';
    e->obj = NULL;
    if (obj) {
        e->obj = e->data + key_len + 1;
        memcpy(e->obj, obj, obj_len);
        e->obj[obj_len] = '\0';
    }
    if (inf->tail)
        inf->tail->next = e;
    else
        inf->head = e;
    inf->tail = e;
    inf->queued++;
    inf->queued_bytes += key_len + e->obj_len;
    inf->pushed++;
    return SMOP_OK;
}

static void free_queue(kube_informer *inf)
{
    while (inf->head) {
        struct qev *e = inf->head;

        inf->head = e->next;
        free(e);
    }
    inf->tail = NULL;
    inf->queued = inf->queued_bytes = 0;
}

static int over_mark(const kube_informer *inf)
{
    return inf->queued_bytes >= inf->queue_bytes;
}

/* A DELETED whose object is what we remember: name, namespace, uid, rv. */
static int push_synthetic_delete(kube_informer *inf, const kube_map_entry *e)
{
    const char *key = kube_map_key(e), *slash = strchr(key, '/');
    struct buf *b = &inf->scratch;
    char ns[KUBE_MAP_MAX_KEY + 1];

    buf_reset(b);
    buf_str(b, "{\"metadata\":{\"name\":");
    buf_json_string(b, slash ? slash + 1 : key);
    if (slash) {
        snprintf(ns, sizeof ns, "%.*s", (int)(slash - key), key);
        buf_str(b, ",\"namespace\":");
        buf_json_string(b, ns);
    }
    if (kube_map_uid(e)[0]) {
        buf_str(b, ",\"uid\":");
        buf_json_string(b, kube_map_uid(e));
    }
    buf_str(b, ",\"resourceVersion\":");
    buf_json_string(b, kube_map_rv(e));
    buf_str(b, "}}");
    if (b->oom)
        return SMOP_ERR;
    return push(inf, KUBE_DELETED, 1, key, e->key_len, b->p, b->len);
}

/* ---- steps ---- */

static void on_timer(uv_timer_t *t);

static void schedule(kube_informer *inf, enum step step, double delay)
{
    inf->step = step;
    inf->step_held = 0;
    uv_timer_start(&inf->timer, on_timer, (uint64_t)(delay * 1000.0 + 0.5), 0);
}

/* Failure of a step: note why, wait, retry that step. */
static void backoff(kube_informer *inf, enum step step)
{
    double cap = inf->backoff_base, delay;
    unsigned long i;

    for (i = 0; i < inf->attempts && cap < inf->backoff_max; i++)
        cap *= 2;
    if (cap > inf->backoff_max)
        cap = inf->backoff_max;
    delay = random_unit(inf) * cap;
    if (inf->retry_after > delay)
        delay = inf->retry_after;
    inf->retry_after = 0;
    inf->attempts++;
    inf->phase = PH_BACKOFF;
    schedule(inf, step, delay);
    notify(inf);
}

static void relist(kube_informer *inf)
{
    free(inf->cont);
    inf->cont = NULL;
    schedule(inf, STEP_LIST, 0);
}

static void ask_token(kube_informer *inf, int hold)
{
    if (inf->token_refresh <= 0)
        return;
    inf->token_wanted = 1;
    inf->token_wait |= hold;
    notify(inf);
}

static void parse_retry_after(kube_informer *inf, const http_response *res)
{
    size_t i;

    inf->retry_after = 0;
    for (i = 0; i < res->nheaders; i++) {
        if (strcmp(res->headers[i].name, "retry-after") == 0) {
            char *end;
            double s = strtod(res->headers[i].value, &end);

            if (end != res->headers[i].value && s > 0)
                inf->retry_after = s > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : s;
        }
    }
}

/* An HTTP error answer: a message from its Status body, then backoff. */
static void http_failure(kube_informer *inf, const char *verb, long status, const char *body,
                         size_t body_len, enum step step)
{
    char message[MESSAGE_MAX + 1] = "";
    kube_status st;

    if (body_len && kube_wire_status_scan(body, body_len, &st) == SMOP_OK && st.message.p)
        kube_str_copy(&st.message, message, sizeof message);
    else if (body_len)
        snprintf(message, sizeof message, "%.*s", (int)(body_len < 200 ? body_len : 200), body);
    clean_line(message);
    if (status == 404 && is_crd_path(inf->path))
        set_error(inf, "%s %s: the CRD for %s is not installed (GET %s: 404 Not Found)", verb,
                  inf->what, inf->what, inf->path);
    else if (status == 403)
        set_error(inf, "%s %s: 403 Forbidden: %s (the operator's RBAC role must allow get, "
                       "list and watch on %s)", verb, inf->what, message, inf->what);
    else if (status == 401)
        set_error(inf, "%s %s: 401 Unauthorized: %s (the token was rejected: expired, "
                       "revoked or for another cluster)", verb, inf->what,
                  message[0] ? message : "no message");
    else
        set_error(inf, "%s %s: %ld %s%s%s", verb, inf->what, status, status_phrase(status),
                  message[0] ? ": " : "", message);
    if (status == 401)
        ask_token(inf, 1);
    backoff(inf, step);
}

static void start_request(kube_informer *inf, const char *verb, http_request *req,
                          http_done_fn done, enum step step)
{
    struct buf auth = {0};
    http_header headers[2] = {{"Accept", "application/json"}, {"Authorization", ""}};
    char err[256];

    if (inf->token_refresh > 0 && !inf->token_wanted &&
        uv_now(uv_default_loop()) - inf->token_time >= (uint64_t)(inf->token_refresh * 1000))
        ask_token(inf, 0);  /* go on with the current one meanwhile */
    req->headers = headers;
    req->nheaders = 1;
    if (inf->token && inf->token[0]) {
        buf_str(&auth, "Bearer ");
        buf_str(&auth, inf->token);
        headers[1].value = auth.p;
        req->nheaders = 2;
    }
    req->ca_pem = inf->ca_pem;
    req->ca_pem_len = inf->ca_len;
    req->client_cert_pem = inf->cert_pem;
    req->client_cert_pem_len = inf->cert_len;
    req->client_key_pem = inf->key_pem;
    req->client_key_pem_len = inf->key_len;
    if (auth.oom || inf->scratch.oom ||
        http_start(req, done, inf, &inf->call, err, sizeof err) != SMOP_OK) {
        set_error(inf, "%s %s: %s", verb, inf->what,
                  auth.oom || inf->scratch.oom ? "out of memory" : err);
        inf->call = NULL;
        backoff(inf, step);
    }
    buf_free(&auth);
}

static void build_url(kube_informer *inf)
{
    struct buf *b = &inf->scratch;
    size_t n = strlen(inf->server);

    buf_reset(b);
    while (n && inf->server[n - 1] == '/')
        n--;
    buf_add(b, inf->server, n);
    buf_str(b, inf->path);
    if (inf->label_selector)
        buf_query(b, "labelSelector", inf->label_selector);
    if (inf->field_selector)
        buf_query(b, "fieldSelector", inf->field_selector);
}

/* ---- LIST ---- */

static void sweep(kube_informer *inf)
{
    size_t i;

    for (i = 0; i < inf->map.cap; i++) {
        kube_map_entry *e = inf->map.slots[i];

        if (e && e->gen != inf->gen && push_synthetic_delete(inf, e) != SMOP_OK)
            e->gen = inf->gen;  /* out of memory: remembered, the next relist retries */
    }
    for (i = 0; i < inf->map.cap;) {
        kube_map_entry *e = inf->map.slots[i];

        if (e && e->gen != inf->gen)
            kube_map_remove(&inf->map, e->data, e->key_len); /* slot i refilled: look again */
        else
            i++;
    }
}

/* "ns/name" (or "name"), uid and rv of an object, into caller buffers. */
static int object_key(const kube_meta *m, char *key, size_t *key_len, char *uid, char *rv,
                      char *why, size_t whylen)
{
    char name[KUBE_MAP_MAX_KEY + 1], ns[KUBE_MAP_MAX_KEY + 1];
    size_t nl = kube_str_copy(&m->name, name, sizeof name);
    size_t sl = kube_str_copy(&m->ns, ns, sizeof ns);
    int n;

    if (!nl)
        return smop_fail(why, whylen, "object without metadata.name");
    if (kube_str_copy(&m->uid, uid, KUBE_MAP_MAX_FIELD + 1) > KUBE_MAP_MAX_FIELD ||
        kube_str_copy(&m->rv, rv, KUBE_MAP_MAX_FIELD + 1) > KUBE_MAP_MAX_FIELD)
        return smop_fail(why, whylen, "object %s: uid or resourceVersion too long", name);
    n = sl ? snprintf(key, KUBE_MAP_MAX_KEY + 1, "%s/%s", ns, name)
           : snprintf(key, KUBE_MAP_MAX_KEY + 1, "%s", name);
    if (nl >= sizeof name || sl >= sizeof ns || n < 0 || n > KUBE_MAP_MAX_KEY)
        return smop_fail(why, whylen, "object name too long");
    *key_len = (size_t)n;
    return SMOP_OK;
}

static int list_item(void *ud, const char *obj, size_t len, const kube_meta *m)
{
    kube_informer *inf = ud;
    char key[KUBE_MAP_MAX_KEY + 1], uid[KUBE_MAP_MAX_FIELD + 1], rv[KUBE_MAP_MAX_FIELD + 1];
    kube_event_type type = KUBE_ADDED;
    kube_map_entry *e;
    size_t key_len;

    if (object_key(m, key, &key_len, uid, rv, inf->item_error, sizeof inf->item_error) !=
        SMOP_OK)
        return 1;
    e = kube_map_get(&inf->map, key, key_len);
    if (e && uid[0] && kube_map_uid(e)[0] && strcmp(uid, kube_map_uid(e)) != 0) {
        /* deleted and created again while we were not watching */
        if (push_synthetic_delete(inf, e) != SMOP_OK)
            goto oom;
        kube_map_remove(&inf->map, key, key_len);
        e = NULL;
    }
    if (e) {
        if (strcmp(rv, kube_map_rv(e)) == 0) {
            e->gen = inf->gen;
            return 0;
        }
        type = KUBE_MODIFIED;
    }
    if (push(inf, type, 0, key, key_len, obj, len) != SMOP_OK ||
        kube_map_put(&inf->map, key, key_len, uid, strlen(uid), rv, strlen(rv), inf->gen) !=
            SMOP_OK)
        goto oom;
    return 0;
oom:
    snprintf(inf->item_error, sizeof inf->item_error, "out of memory");
    return 1;
}

static void list_done(void *ud, const http_response *res)
{
    kube_informer *inf = ud;
    kube_wire_list page;
    char err[256];

    inf->call = NULL;
    if (res->error) {
        set_error(inf, "list %s: %s", inf->what, res->error);
        backoff(inf, STEP_LIST);
        return;
    }
    if (res->status == 410 && inf->cont) {
        relist(inf);    /* the continue token expired: start over */
        return;
    }
    if (res->status != 200) {
        parse_retry_after(inf, res);
        http_failure(inf, "list", res->status, res->body, res->body_len, STEP_LIST);
        return;
    }
    inf->item_error[0] = '\0';
    if (kube_wire_list_scan(res->body, res->body_len, list_item, inf, &page, err,
                            sizeof err) != SMOP_OK) {
        set_error(inf, "list %s: %s", inf->what, inf->item_error[0] ? inf->item_error : err);
        free(inf->cont);
        inf->cont = NULL;   /* items may have been taken: start over */
        backoff(inf, STEP_LIST);
        return;
    }
    free(inf->cont);
    inf->cont = NULL;
    if (page.cont.p && page.cont.n) {
        inf->cont = malloc(page.cont.n + 1);
        if (!inf->cont) {
            set_error(inf, "list %s: out of memory", inf->what);
            backoff(inf, STEP_LIST);
            return;
        }
        kube_str_copy(&page.cont, inf->cont, page.cont.n + 1);
        if (over_mark(inf)) {
            inf->drain_wait = inf->paused = 1;
            inf->step = STEP_LIST;
        } else {
            schedule(inf, STEP_LIST, 0);
        }
        notify(inf);
        return;
    }
    sweep(inf);
    kube_str_copy(&page.rv, inf->rv, sizeof inf->rv);
    inf->attempts = 0;
    if (!inf->listed) {
        inf->listed = 1;
        inf->sync_at = inf->pushed;
    }
    schedule(inf, STEP_WATCH, 0);
    notify(inf);
}

static void start_list(kube_informer *inf)
{
    http_request req;
    char limit[32];

    memset(&req, 0, sizeof req);
    inf->phase = PH_LISTING;
    if (!inf->cont) {
        inf->gen++;
        inf->lists++;
    }
    build_url(inf);
    snprintf(limit, sizeof limit, "%ld", inf->page_size);
    buf_query(&inf->scratch, "limit", limit);
    if (inf->cont)
        buf_query(&inf->scratch, "continue", inf->cont);
    req.url = inf->scratch.p;
    req.timeout_ms = LIST_TIMEOUT_MS;
    start_request(inf, "list", &req, list_done, STEP_LIST);
}

/* ---- WATCH ---- */

static void watch_headers(void *ud, const http_response *res)
{
    kube_informer *inf = ud;

    inf->watch_status = res->status;
    parse_retry_after(inf, res);
}

static void set_rv(kube_informer *inf, const kube_str *rv)
{
    if (rv->p && rv->n && rv->n < sizeof inf->rv)
        kube_str_copy(rv, inf->rv, sizeof inf->rv);
}

/* Ends the watch from inside on_line and goes on with a timer. */
static void watch_abort(kube_informer *inf)
{
    http_cancel(inf->call);
    inf->call = NULL;
    inf->paused = 0;
}

static int watch_event(kube_informer *inf, const kube_wire_event *ev)
{
    const char *text = inf->line.p;
    char key[KUBE_MAP_MAX_KEY + 1], uid[KUBE_MAP_MAX_FIELD + 1], rv[KUBE_MAP_MAX_FIELD + 1];
    char why[256];
    kube_event_type type;
    size_t key_len;

    if (kube_str_eq(&ev->type, "ADDED"))
        type = KUBE_ADDED;
    else if (kube_str_eq(&ev->type, "MODIFIED"))
        type = KUBE_MODIFIED;
    else if (kube_str_eq(&ev->type, "DELETED"))
        type = KUBE_DELETED;
    else
        return SMOP_OK; /* a type from the future: nothing we can apply */
    if (object_key(&ev->meta, key, &key_len, uid, rv, why, sizeof why) != SMOP_OK) {
        set_error(inf, "watch %s: %s", inf->what, why);
        return SMOP_ERR;
    }
    if (push(inf, type, 0, key, key_len, text + ev->obj_off, ev->obj_len) != SMOP_OK)
        goto oom;
    if (type == KUBE_DELETED)
        kube_map_remove(&inf->map, key, key_len);
    else if (kube_map_put(&inf->map, key, key_len, uid, strlen(uid), rv, strlen(rv),
                          inf->gen) != SMOP_OK)
        goto oom;
    set_rv(inf, &ev->meta.rv);
    return SMOP_OK;
oom:
    set_error(inf, "watch %s: out of memory", inf->what);
    return SMOP_ERR;
}

static int watch_line(void *ud, const char *line, size_t len)
{
    kube_informer *inf = ud;
    kube_wire_event ev;
    char err[256];

    if (inf->watch_status != 200) {
        size_t room = ERROR_BODY_MAX - inf->error_body.len;

        buf_add(&inf->error_body, line, len < room ? len : room);
        return 0;
    }
    if (!len)
        return 0;
    buf_reset(&inf->line);
    buf_add(&inf->line, line, len);
    if (inf->line.oom) {
        set_error(inf, "watch %s: out of memory", inf->what);
        goto fail;
    }
    if (kube_wire_event_scan(inf->line.p, len, &ev, err, sizeof err) != SMOP_OK) {
        set_error(inf, "watch %s: %s", inf->what, err);
        goto fail;
    }
    inf->watch_lines++;
    if (kube_str_eq(&ev.type, "BOOKMARK")) {
        set_rv(inf, &ev.meta.rv);
        return 0;
    }
    if (kube_str_eq(&ev.type, "ERROR")) {
        char message[MESSAGE_MAX + 1], reason[64];

        watch_abort(inf);
        if ((ev.status.has_code && ev.status.code == 410) ||
            kube_str_eq(&ev.status.reason, "Expired") || kube_str_eq(&ev.status.reason, "Gone")) {
            relist(inf);    /* our resourceVersion is too old */
            return 0;
        }
        kube_str_copy(&ev.status.message, message, sizeof message);
        kube_str_copy(&ev.status.reason, reason, sizeof reason);
        set_error(inf, "watch %s: ERROR event %lld %s: %s", inf->what,
                  (long long)(ev.status.has_code ? ev.status.code : 0), reason, message);
        backoff(inf, STEP_WATCH);
        return 0;
    }
    if (watch_event(inf, &ev) != SMOP_OK)
        goto fail;
    inf->attempts = 0;
    inf->empty_watches = 0;
    notify(inf);
    if (!over_mark(inf))
        return 0;
    inf->paused = 1;
    return 1;
fail:
    /* the event was not applied: the RV did not move, so a re-watch replays it */
    watch_abort(inf);
    backoff(inf, STEP_WATCH);
    return 0;
}

static void watch_done(void *ud, const http_response *res)
{
    kube_informer *inf = ud;

    inf->call = NULL;
    inf->paused = 0;
    if (res->error) {
        set_error(inf, "watch %s: %s", inf->what, res->error);
        backoff(inf, STEP_WATCH);
    } else if (res->status == 410) {
        relist(inf);
    } else if (res->status != 200) {
        http_failure(inf, "watch", res->status, inf->error_body.p, inf->error_body.len,
                     STEP_WATCH);
    } else if (inf->watch_lines) {
        inf->empty_watches = 0;
        schedule(inf, STEP_WATCH, 0);   /* timeoutSeconds passed: go on */
    } else {
        /* ended before saying anything: not an error, but no hot loop either */
        double cap = inf->backoff_base;
        unsigned long i;

        for (i = 0; i < inf->empty_watches && cap < inf->backoff_max; i++)
            cap *= 2;
        inf->empty_watches++;
        schedule(inf, STEP_WATCH, random_unit(inf) * (cap < inf->backoff_max ? cap
                                                                              : inf->backoff_max));
    }
}

static void start_watch(kube_informer *inf)
{
    http_request req;
    char timeout[32];
    long seconds = inf->watch_timeout > 0 ? inf->watch_timeout
                                          : 300 + (long)(random_unit(inf) * 300);

    memset(&req, 0, sizeof req);
    inf->phase = PH_WATCHING;
    inf->watches++;
    inf->watch_status = 0;
    inf->watch_lines = 0;
    buf_reset(&inf->error_body);
    build_url(inf);
    buf_query(&inf->scratch, "watch", "1");
    buf_query(&inf->scratch, "allowWatchBookmarks", "true");
    buf_query(&inf->scratch, "resourceVersion", inf->rv);
    snprintf(timeout, sizeof timeout, "%ld", seconds);
    buf_query(&inf->scratch, "timeoutSeconds", timeout);
    req.url = inf->scratch.p;
    req.timeout_ms = (seconds + WATCH_SLACK_S) * 1000L;
    req.on_headers = watch_headers;
    req.on_line = watch_line;
    start_request(inf, "watch", &req, watch_done, STEP_WATCH);
}

static void on_timer(uv_timer_t *t)
{
    kube_informer *inf = t->data;

    if (inf->token_wait) {
        inf->step_held = 1;     /* kube_informer_set_token goes on */
        return;
    }
    if (inf->step == STEP_LIST)
        start_list(inf);
    else
        start_watch(inf);
}

static void on_resync(uv_timer_t *t)
{
    kube_informer *inf = t->data;

    if (!inf->listed || inf->resync_queued)
        return;
    if (push(inf, KUBE_RESYNC, 0, "", 0, NULL, 0) == SMOP_OK) {
        inf->resync_queued = 1;
        notify(inf);
    }
}

/* ---- public ---- */

static void free_informer(kube_informer *inf)
{
    free_queue(inf);
    kube_map_free(&inf->map);
    buf_free(&inf->error_body);
    buf_free(&inf->line);
    buf_free(&inf->scratch);
    free(inf->cont);
    free(inf->server);
    free(inf->path);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf->token);
    free(inf->ca_pem);
    free(inf->cert_pem);
    free(inf->key_pem);
    free(inf);
}

static void on_closed(uv_handle_t *h)
{
    kube_informer *inf = h->data;

    if (--inf->open_handles == 0)
        free_informer(inf);
}

int kube_informer_start(const kube_informer_config *cfg, kube_notify_fn notify_fn, void *ud,
                        kube_informer **out, char *err, size_t errlen)
{
    kube_informer *inf;
    int oom = 0;

    *out = NULL;
    if (!cfg->server || !cfg->path || cfg->path[0] != '/')
        return smop_fail(err, errlen, "informer: server and an absolute path are required");
    if (strncmp(cfg->server, "https://", 8) != 0 && strncmp(cfg->server, "http://", 7) != 0)
        return smop_fail(err, errlen, "informer: server must be an http:// or https:// URL");
    if (http_init(err, errlen) != SMOP_OK)
        return SMOP_ERR;
    inf = calloc(1, sizeof *inf);
    if (!inf)
        return smop_fail(err, errlen, "informer: out of memory");
    inf->server = dup_opt(cfg->server, strlen(cfg->server), &oom);
    inf->path = dup_opt(cfg->path, strlen(cfg->path), &oom);
    if (cfg->label_selector && cfg->label_selector[0])
        inf->label_selector = dup_opt(cfg->label_selector, strlen(cfg->label_selector), &oom);
    if (cfg->field_selector && cfg->field_selector[0])
        inf->field_selector = dup_opt(cfg->field_selector, strlen(cfg->field_selector), &oom);
    if (cfg->token)
        inf->token = dup_opt(cfg->token, strlen(cfg->token), &oom);
    inf->ca_pem = dup_opt(cfg->ca_pem, cfg->ca_pem_len, &oom);
    inf->ca_len = cfg->ca_pem_len;
    inf->cert_pem = dup_opt(cfg->client_cert_pem, cfg->client_cert_pem_len, &oom);
    inf->cert_len = cfg->client_cert_pem_len;
    inf->key_pem = dup_opt(cfg->client_key_pem, cfg->client_key_pem_len, &oom);
    inf->key_len = cfg->client_key_pem_len;
    if (oom) {
        free_informer(inf);
        return smop_fail(err, errlen, "informer: out of memory");
    }
    inf->page_size = cfg->page_size > 0 ? cfg->page_size : DEFAULT_PAGE_SIZE;
    inf->watch_timeout = cfg->watch_timeout;
    inf->resync = cfg->resync;
    inf->backoff_base = cfg->backoff_base > 0 ? cfg->backoff_base : DEFAULT_BACKOFF_BASE;
    inf->backoff_max = cfg->backoff_max > 0 ? cfg->backoff_max : DEFAULT_BACKOFF_MAX;
    if (inf->backoff_max < inf->backoff_base)
        inf->backoff_max = inf->backoff_base;
    inf->token_refresh = cfg->token_refresh;
    inf->queue_bytes = cfg->queue_bytes ? cfg->queue_bytes : DEFAULT_QUEUE_BYTES;
    resource_name(inf->path, inf->what, sizeof inf->what);
    inf->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)inf;
    if (!inf->rng)
        inf->rng = 1;
    inf->notify = notify_fn;
    inf->ud = ud;
    inf->token_time = uv_now(uv_default_loop());

    uv_timer_init(uv_default_loop(), &inf->timer);
    inf->timer.data = inf;
    uv_timer_init(uv_default_loop(), &inf->resync_timer);
    inf->resync_timer.data = inf;
    inf->open_handles = 2;
    if (inf->resync > 0) {
        uint64_t ms = (uint64_t)(inf->resync * 1000.0 + 0.5);

        uv_timer_start(&inf->resync_timer, on_resync, ms ? ms : 1, ms ? ms : 1);
    }
    inf->phase = PH_LISTING;
    schedule(inf, STEP_LIST, 0);
    *out = inf;
    return SMOP_OK;
}

int kube_informer_peek(kube_informer *inf, kube_event *ev)
{
    struct qev *e = inf->head;

    if (!e)
        return 0;
    ev->type = e->type;
    ev->synthetic = e->synthetic;
    ev->key = e->data;
    ev->key_len = e->key_len;
    ev->object = e->obj;
    ev->object_len = e->obj_len;
    return 1;
}

void kube_informer_pop(kube_informer *inf)
{
    struct qev *e = inf->head;

    if (!e)
        return;
    inf->head = e->next;
    if (!inf->head)
        inf->tail = NULL;
    inf->queued--;
    inf->queued_bytes -= e->key_len + e->obj_len;
    inf->popped++;
    if (e->type == KUBE_RESYNC)
        inf->resync_queued = 0;
    free(e);
    if (!inf->paused || inf->queued_bytes > inf->queue_bytes / 2)
        return;
    inf->paused = 0;
    if (inf->drain_wait) {
        inf->drain_wait = 0;
        schedule(inf, STEP_LIST, 0);
    } else if (inf->call) {
        http_resume(inf->call);
    }
}

int kube_informer_synced(const kube_informer *inf)
{
    return inf->listed && inf->popped >= inf->sync_at;
}

void kube_informer_get_state(const kube_informer *inf, kube_informer_state *st)
{
    static const char *const phases[] = {"listing", "watching", "backoff", "closed"};

    st->phase = phases[inf->phase];
    st->last_error = inf->has_error ? inf->last_error : NULL;
    st->resource_version = inf->rv;
    st->restarts = inf->watches > 1 ? inf->watches - 1 : 0;
    st->relists = inf->lists > 1 ? inf->lists - 1 : 0;
    st->attempts = inf->attempts;
    st->queued = inf->queued;
    st->queued_bytes = inf->queued_bytes;
    st->paused = inf->paused;
}

int kube_informer_wants_token(const kube_informer *inf)
{
    return inf->token_wanted;
}

void kube_informer_set_token(kube_informer *inf, const char *token, const char *why)
{
    inf->token_wanted = 0;
    inf->token_wait = 0;
    inf->token_time = uv_now(uv_default_loop());
    if (token) {
        char *copy = strdup(token);

        if (copy) {
            free(inf->token);
            inf->token = copy;
        }
    } else if (why) {
        set_error(inf, "%s %s: no token: %s", inf->listed ? "watch" : "list", inf->what, why);
    }
    if (inf->step_held) {
        inf->step_held = 0;
        uv_timer_start(&inf->timer, on_timer, 0, 0);
    }
}

void kube_informer_close(kube_informer *inf)
{
    if (!inf || inf->phase == PH_CLOSED)
        return;
    inf->phase = PH_CLOSED;
    inf->notify = NULL;
    if (inf->call)
        http_cancel(inf->call);
    inf->call = NULL;
    free_queue(inf);
    kube_map_free(&inf->map);
    uv_timer_stop(&inf->timer);
    uv_timer_stop(&inf->resync_timer);
    uv_close((uv_handle_t *)&inf->timer, on_closed);
    uv_close((uv_handle_t *)&inf->resync_timer, on_closed);
}
