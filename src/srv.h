/*
 * srv.h - HTTP/1.1 server: libmicrohttpd driven by the libuv loop.
 *
 * MHD runs in external-event mode on uv_default_loop(): its epoll fd is
 * watched by a uv_poll_t and its connection timeouts by a uv_timer_t, so
 * every callback below runs on the loop thread, never concurrently. MHD
 * answers malformed HTTP itself (400, 414, 431...); an oversized body gets
 * 413 before the app sees the request.
 *
 * Requests. on_request hands the app a complete request (headers and body
 * read). From then on the app owns the srv_req and must call srv_req_release
 * exactly once. Before releasing it answers once, with srv_respond (a
 * buffered body) or srv_stream_start + srv_stream_write... + srv_stream_end
 * (chunked), or drops the connection with srv_abort. Releasing without an
 * answer, or in the middle of a stream, drops the connection.
 *
 * The client may go away at any time (it disconnects, the server closes).
 * The srv_req stays valid until released; srv_req_closed then says so and
 * answers are discarded. Disconnects are noticed even while the app is busy
 * (a connection waiting for its answer is watched for hang-ups; a client
 * that half-closes its side counts as gone, as MHD itself treats it).
 *
 * notify (srv_req_watch) is called when a stream's buffer drains below
 * SRV_STREAM_LOW after having passed SRV_STREAM_HIGH, and when the request
 * becomes closed. It runs on the loop or inside srv_close, never inside
 * another srv_* call; it may only record and wake (no srv_* calls).
 *
 * Strings in srv_request belong to the srv_req. Every string and buffer the
 * app passes in is copied.
 */
#ifndef SRV_H
#define SRV_H

#include <stddef.h>

#define SRV_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define SRV_STREAM_HIGH ((size_t)1 << 20)   /* writers should wait above this */
#define SRV_STREAM_LOW ((size_t)256 << 10)  /* ... until it drains below this */

typedef struct srv srv;
typedef struct srv_req srv_req;

typedef struct srv_header {
    const char *name;
    const char *value;
} srv_header;

typedef struct srv_request {
    const char *method;
    const char *target;          /* raw request-target: path and query, undecoded */
    const char *remote;          /* "127.0.0.1:40000", "[::1]:40000" */
    const srv_header *headers;   /* names lower-cased, in order received */
    size_t nheaders;
    const char *body;            /* NUL-terminated; may hold NULs */
    size_t body_len;
} srv_request;

typedef void (*srv_request_fn)(void *ud, srv_req *r);
typedef void (*srv_notify_fn)(void *ud);

typedef struct srv_config {
    const char *host;            /* numeric IPv4 or IPv6; NULL = 127.0.0.1 */
    unsigned port;               /* 0 = any free port */
    const char *tls_cert;        /* PEM text; with tls_key: serve https */
    const char *tls_key;
    size_t max_body;             /* 0 = SRV_DEFAULT_MAX_BODY */
    unsigned max_connections;    /* 0 = 1000 */
    unsigned idle_timeout;       /* seconds a connection may sit idle; 0 = 120 */
    srv_request_fn on_request;
    void *ud;
} srv_config;

/* Binds and starts serving. On failure nothing is left behind and err says
 * why ("listen 127.0.0.1:80: Address already in use"). */
int srv_start(const srv_config *cfg, srv **out, char *err, size_t errlen);
unsigned srv_port(const srv *s);

/* Stops listening and drops every connection at once: requests the app
 * still holds become closed (their notify runs). Frees the server once
 * libuv has closed its handles; on_request is never called again. */
void srv_close(srv *s);

const srv_request *srv_req_info(const srv_req *r);
void srv_req_watch(srv_req *r, srv_notify_fn notify, void *ud);
int srv_req_closed(const srv_req *r);
void srv_req_release(srv_req *r);

/* Both fail (SMOP_ERR, err set) for a header the protocol cannot carry or
 * a second answer. Content-Length and Transfer-Encoding are MHD's to set
 * and are ignored. On a closed request they succeed and do nothing. */
int srv_respond(srv_req *r, unsigned status, const srv_header *headers, size_t nheaders,
                const char *body, size_t body_len, char *err, size_t errlen);
int srv_stream_start(srv_req *r, unsigned status, const srv_header *headers,
                     size_t nheaders, char *err, size_t errlen);

/* Queues bytes for the client. SMOP_ERR if the request is closed (or out
 * of memory, which drops the connection). Never blocks: the app should
 * wait for notify while srv_req_buffered() > SRV_STREAM_HIGH. */
int srv_stream_write(srv_req *r, const char *data, size_t len);
size_t srv_req_buffered(const srv_req *r);
/* Ends the chunked body once the buffer is sent. */
void srv_stream_end(srv_req *r);
/* Drops the connection: before an answer, or mid-stream after the bytes
 * already queued are sent, so the client sees a truncated body. */
void srv_abort(srv_req *r);

#endif
