/*
 * kube.h - Kubernetes informers: list + watch of one resource on the libuv
 * loop, with the bookkeeping client-go's reflector does.
 *
 * Protocol. LIST `path?limit=N` page by page (`continue`), remembering the
 * list's resourceVersion; then WATCH `path?watch=1&allowWatchBookmarks=true
 * &resourceVersion=RV&timeoutSeconds=300..600`, read line by line as it
 * arrives (http.h on_line: no body buffering). A stream that ends re-watches
 * from the last resourceVersion seen (events and bookmarks advance it). 410
 * Gone - an ERROR event in a 200 stream, an HTTP 410 on a watch or on a
 * `continue` page - relists from scratch. Transport errors, 5xx, 429
 * (Retry-After is a floor), 401, 403 and 404 wait with exponential backoff
 * and full jitter (delay = uniform(0, min(max, base * 2^attempt))), with a
 * last_error naming the resource, the status and the server's message.
 *
 * Relists diff against a compact map "namespace/name" -> (uid,
 * resourceVersion) of everything already queued: new keys become ADDED,
 * a changed resourceVersion MODIFIED (an unchanged object yields nothing),
 * a new uid under an old key DELETED + ADDED, and keys missing from the new
 * list a synthetic DELETED whose object is metadata only (name, namespace,
 * uid, resourceVersion). Objects themselves are not kept here: consumers
 * hold them (lkube.c keeps the decoded store).
 *
 * Events are queued in C. Past queue_bytes of queued object text the watch
 * transfer is paused (on_line returns nonzero) and the next list page is
 * not fetched; reading the queue down to half of it resumes.
 *
 * Tokens. The bearer token is a string given at start and replaced with
 * kube_informer_set_token. With token_refresh > 0 the informer asks for a
 * fresh one (kube_informer_wants_token, then notify) when it is older than
 * that at a request, and after every 401; after a 401 it holds its next
 * request until set_token answers. A consumer that cannot provide one passes
 * NULL with a reason, and the old token is used again. This keeps file
 * access out of here: whoever may read the token file re-reads it.
 *
 * Ownership and callbacks: if kube_informer_start fails, notify is never
 * called. Otherwise notify(ud) is called from the loop - never from inside a
 * kube_informer_* call - when events were queued, a token is wanted, or the
 * state changed; until kube_informer_close, after which nothing is called.
 * The informer's memory is freed by the loop once its handles are closed.
 */
#ifndef KUBE_H
#define KUBE_H

#include <stddef.h>

typedef struct kube_informer kube_informer;

typedef enum kube_event_type {
    KUBE_ADDED,
    KUBE_MODIFIED,
    KUBE_DELETED,
    KUBE_RESYNC     /* periodic resync: the consumer replays its whole store */
} kube_event_type;

typedef struct kube_event {
    kube_event_type type;
    int synthetic;      /* DELETED made up by a relist diff */
    const char *key;    /* "namespace/name", or "name" when cluster-scoped */
    size_t key_len;
    const char *object; /* JSON text, NUL-terminated; NULL for KUBE_RESYNC */
    size_t object_len;
} kube_event;

typedef struct kube_informer_config {
    const char *server;          /* "https://host:port", maybe with a path prefix */
    const char *path;            /* "/apis/g/v[/namespaces/ns]/plural" */
    const char *label_selector;  /* optional */
    const char *field_selector;  /* optional */
    const char *token;           /* optional bearer token */
    double token_refresh;        /* seconds; 0 = the token never changes */
    const char *ca_pem;          /* optional PEM texts, as http_request */
    size_t ca_pem_len;
    const char *client_cert_pem;
    size_t client_cert_pem_len;
    const char *client_key_pem;
    size_t client_key_pem_len;
    long page_size;              /* 0 = 500 */
    double resync;               /* seconds between KUBE_RESYNC events; 0 = none */
    double backoff_base;         /* seconds; 0 = 0.2 */
    double backoff_max;          /* seconds; 0 = 30 */
    size_t queue_bytes;          /* back-pressure mark; 0 = 8 MiB */
    long watch_timeout;          /* seconds; 0 = uniform in 300..600 */
} kube_informer_config;

typedef void (*kube_notify_fn)(void *ud);

/* Copies everything in cfg and starts listing on the next loop turn. */
int kube_informer_start(const kube_informer_config *cfg, kube_notify_fn notify, void *ud,
                        kube_informer **out, char *err, size_t errlen);

/* The oldest queued event, left in place (1), or 0 if none. Valid until
 * kube_informer_pop or kube_informer_close. Peek, build, then pop: a
 * consumer that fails half-way finds the same event again. */
int kube_informer_peek(kube_informer *inf, kube_event *ev);
void kube_informer_pop(kube_informer *inf);

/* 1 once every event of the first complete list has been popped. */
int kube_informer_synced(const kube_informer *inf);

typedef struct kube_informer_state {
    const char *phase;             /* "listing" | "watching" | "backoff" | "closed" */
    const char *last_error;        /* NULL, or the latest failure (kept after recovery) */
    const char *resource_version;  /* "" before the first list */
    unsigned long restarts;        /* watches started after the first one */
    unsigned long relists;         /* lists started after the first one */
    unsigned long attempts;        /* consecutive failures (0 when healthy) */
    size_t queued;                 /* events waiting */
    size_t queued_bytes;
    int paused;                    /* reading stopped for back-pressure */
} kube_informer_state;

/* Strings are borrowed until the next call into the informer. */
void kube_informer_get_state(const kube_informer *inf, kube_informer_state *st);

int kube_informer_wants_token(const kube_informer *inf);
/* token NULL: none available (why says so; it becomes last_error). */
void kube_informer_set_token(kube_informer *inf, const char *token, const char *why);

/* Stops everything; no callback runs after it. inf is invalid afterwards. */
void kube_informer_close(kube_informer *inf);

#endif
