/*
 * http.h - asynchronous HTTP client: libcurl's multi interface on the libuv loop.
 *
 * Many requests in flight on one thread (uv_default_loop()), connections kept
 * alive and reused (one shared multi handle, at most HTTP_MAX_HOST_CONNECTIONS
 * per host; further requests queue), HTTP/2 where the server offers it over
 * TLS. TLS peers are always verified; ca_file/ca_pem only replace the trust
 * store. Redirects are not followed. Only http:// and https:// URLs.
 *
 * Ownership and callbacks (libuv's rule): if http_start fails, no callback is
 * ever called. Otherwise `done` is called exactly once, from the loop, unless
 * the call is cancelled first with http_cancel, after which no callback is
 * called. Callbacks never run inside http_start, http_cancel or http_resume.
 * The http_response passed to a callback and everything it points to are
 * valid only during the callback; the call object is freed right after
 * `done` returns (cancelling it from inside its own `done` is a no-op).
 * Every string in the request is copied by http_start.
 *
 * on_headers and on_line run while libcurl is reading the transfer: they may
 * call http_cancel (any call) and http_resume, but not http_start. `done`
 * runs outside libcurl and may call anything but http_shutdown.
 *
 * Request headers are sent as given; libcurl adds Host, User-Agent
 * ("smop/<version>"), Accept and Content-Length, but no Content-Type and no
 * Expect unless the caller sets them.
 *
 * Errors are one line (libcurl's own message, or "response larger than N
 * bytes"), and never contain request headers.
 *
 * Streaming: with on_line set the body is not accumulated; each complete line
 * (without its "\n", nor a "\r" before it) is handed to on_line as it
 * arrives; a final unterminated line is delivered before a successful done.
 * max_response then bounds one line, not the body. Returning nonzero from
 * on_line pauses the transfer right after that line until http_resume is
 * called (back-pressure for slow consumers).
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#define HTTP_MAX_HOST_CONNECTIONS 64

typedef struct http_call http_call;

typedef struct http_header {
    const char *name;
    const char *value;
} http_header;

typedef struct http_response {
    long status;                 /* 0 if no answer came */
    const http_header *headers;  /* names lower-cased, in order received */
    size_t nheaders;
    const char *body;            /* NUL-terminated; empty when streaming */
    size_t body_len;
    const char *error;           /* NULL on a transport success, else one line */
} http_response;

typedef void (*http_done_fn)(void *ud, const http_response *res);
typedef int (*http_line_fn)(void *ud, const char *line, size_t len);

typedef struct http_request {
    const char *method;          /* default "GET"; "HEAD" reads no body */
    const char *url;
    const http_header *headers;  /* an empty value sends the header empty */
    size_t nheaders;
    const char *body;            /* may hold NULs; NULL = none */
    size_t body_len;
    long connect_timeout_ms;     /* 0 = 10 s */
    long timeout_ms;             /* 0 = 60 s; streams: 0 = none */
    size_t max_response;         /* body cap in bytes; 0 = 64 MiB */
    const char *ca_file;         /* NULL = system trust store */
    const char *ca_pem;          /* PEM text (kubeconfig *-data), ca_pem_len bytes */
    size_t ca_pem_len;
    const char *client_cert;     /* PEM file, optional */
    const char *client_key;      /* PEM file, optional */
    const char *client_cert_pem; /* PEM text instead of a file, optional */
    size_t client_cert_pem_len;
    const char *client_key_pem;
    size_t client_key_pem_len;
    /* Called once, when the final status and headers arrived (body empty,
     * error NULL), before any on_line. Optional. */
    void (*on_headers)(void *ud, const http_response *res);
    http_line_fn on_line;        /* NULL = accumulate the body */
} http_request;

/* Global init/teardown. http_init may be called more than once (later calls
 * do nothing). http_shutdown cancels every call (no callbacks), closes all
 * connections and runs the loop just long enough for its own handles to
 * close; call it once everything else is done (after lvm_free). */
int http_init(char *err, size_t errlen);
void http_shutdown(void);

int http_start(const http_request *req, http_done_fn done, void *ud,
               http_call **out, char *err, size_t errlen);
void http_cancel(http_call *call);
/* Lifts an on_line pause; the transfer continues on a later loop turn. */
void http_resume(http_call *call);

/* Number of calls in flight (for metrics and tests). */
size_t http_in_flight(void);

#endif
