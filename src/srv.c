/*
 * srv.c - HTTP/1.1 server: libmicrohttpd in external-epoll mode on libuv.
 *
 * A request's life in MHD terms: the URI-log callback allocates its srv_req
 * (so the raw request-target is kept); the access handler is called once
 * with the headers, then with body pieces, then once more when the request
 * is complete. There the app gets it, and the connection is suspended until
 * the app answers; the handler is called again after the resume and queues
 * the answer. A stream's content reader suspends the connection whenever
 * its buffer is empty, and writes resume it. MHD_OPTION_NOTIFY_COMPLETED
 * ends MHD's side of the request; the app's side ends with srv_req_release.
 *
 * MHD does not watch suspended connections, so each one gets a uv_poll_t
 * for hang-ups while suspended; a hang-up resumes it to be dropped.
 */
#include "srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "smop.h"

#define DEFAULT_MAX_CONNECTIONS 1000
#define DEFAULT_IDLE_TIMEOUT 120
#define LISTEN_BACKLOG 511
/* Per connection: request line and headers must fit (MHD answers 414/431). */
#define CONNECTION_MEMORY ((size_t)32 << 10)
#define STREAM_BLOCK ((size_t)32 << 10)
/* An oversized body is read and dropped before the 413, or clients that
 * are still sending see a reset instead of the answer; up to this much. */
#define DRAIN_MAX ((size_t)64 << 20)

struct srv {
    struct MHD_Daemon *daemon;
    uv_poll_t poll;              /* MHD's epoll fd */
    uv_timer_t timer;            /* MHD's connection timeouts */
    uv_idle_t idle;              /* run MHD again on the next loop turn */
    int open_handles;
    int closing;
    unsigned port;
    size_t max_body;
    srv_request_fn on_request;
    void *ud;
    srv_req *reqs;               /* every request MHD still holds */
    char *tls_cert, *tls_key;    /* MHD keeps pointers to them */
    char start_error[256];       /* MHD's first complaint while starting */
    int starting;
};

enum phase {
    PH_READING,                  /* headers and body arriving */
    PH_DRAINING,                 /* body too large: read it, then answer 413 */
    PH_REJECTED,                 /* answered 413 while reading */
    PH_APP,                      /* the app has it, no answer yet */
    PH_ANSWERED,                 /* buffered answer, or dropped */
    PH_STREAMING,
};

struct watch {                   /* hang-up detector of a suspended connection */
    uv_poll_t poll;
    srv_req *r;                  /* NULL once the request is done */
};

struct srv_req {
    srv *server;                 /* NULL once MHD is done with the request */
    struct MHD_Connection *conn;
    srv_req *prev, *next;
    enum phase phase;
    srv_request info;
    char *target, *method;
    srv_header *headers;
    char *header_text;
    char *body;
    size_t body_cap;
    size_t drained;
    char remote[INET6_ADDRSTRLEN + 8];
    struct MHD_Response *response; /* the app's answer, not yet queued */
    unsigned status;
    int app_owned, released;
    int suspended;
    int closed;                  /* nothing more reaches the client */
    int aborting;                /* app: drop once the queued bytes are sent */
    int dropping;                /* drop now */
    int ended, full;
    char *out;                   /* stream bytes not yet handed to MHD */
    size_t out_start, out_len, out_cap;
    struct watch *watch;
    srv_notify_fn notify;
    void *notify_ud;
};

/* ---- event loop glue ---- */

static void on_timer(uv_timer_t *t);
static void on_idle(uv_idle_t *h);

/* "Again at once" goes through an idle handle, not a 0 ms timer: libuv
 * 1.44 reruns a timer re-armed at 0 inside its own callback without ever
 * polling, and MHD asks for 0 ms all through a TLS handshake. */
static void kick(srv *s)
{
    if (!s->closing)
        uv_idle_start(&s->idle, on_idle);
}

static void run(srv *s)
{
    MHD_UNSIGNED_LONG_LONG ms;

    if (s->closing)
        return;
    MHD_run(s->daemon);
    uv_timer_stop(&s->timer);
    if (MHD_get_timeout(s->daemon, &ms) != MHD_YES)
        return;
    if (ms == 0)
        kick(s);
    else
        uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
    run(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

static void srv_free(srv *s)
{
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}

static void handle_closed(uv_handle_t *h)
{
    srv *s = h->data;

    if (--s->open_handles == 0)
        srv_free(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    srv *s = cls;
    char line[256];
    size_t n;

    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '.'))
        line[--n] = '\0';
    if (s->starting && !s->start_error[0])   /* the first is the cause */
        snprintf(s->start_error, sizeof s->start_error, "%s", line);
    else
        log_printf(LOG_DEBUG, "server: %s", line);
}

/* ---- requests: suspension, hang-ups, lifetime ---- */

static void notify(srv_req *r)
{
    if (r->notify)
        r->notify(r->notify_ud);
}

static void mark_closed(srv_req *r)
{
    if (r->closed)
        return;
    r->closed = 1;
    notify(r);
}

static void watch_free(uv_handle_t *h)
{
    free(h->data);
}

static void watch_close(srv_req *r)
{
    if (!r->watch)
        return;
    r->watch->r = NULL;
    uv_close((uv_handle_t *)&r->watch->poll, watch_free);
    r->watch = NULL;
}

static void resume(srv_req *r);

static void on_hangup(uv_poll_t *p, int status, int events)
{
    struct watch *w = p->data;
    srv_req *r = w->r;

    (void)status;
    (void)events;
    uv_poll_stop(p);
    if (!r)
        return;
    r->dropping = 1;
    mark_closed(r);
    resume(r);
}

/* Best effort: without a watch a hang-up is noticed at the next write. */
static void watch_start(srv_req *r)
{
    const union MHD_ConnectionInfo *ci;
    struct watch *w = r->watch;

    if (!w) {
        ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = calloc(1, sizeof *w);
        if (!w || !ci || uv_poll_init(uv_default_loop(), &w->poll, ci->connect_fd) != 0) {
            free(w);
            return;
        }
        w->poll.data = w;
        w->r = r;
        r->watch = w;
    }
    uv_poll_start(&w->poll, UV_DISCONNECT, on_hangup);
}

static void suspend(srv_req *r)
{
    if (r->suspended)
        return;
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
    watch_start(r);
}

static void resume(srv_req *r)
{
    if (!r->suspended)
        return;
    if (r->watch)
        uv_poll_stop(&r->watch->poll);
    MHD_resume_connection(r->conn);
    r->suspended = 0;
    kick(r->server);   /* a resumed connection moves only in a later MHD_run */
}

static void req_free(srv_req *r)
{
    watch_close(r);
    if (r->response)
        MHD_destroy_response(r->response);
    free(r->target);
    free(r->method);
    free(r->headers);
    free(r->header_text);
    free(r->body);
    free(r->out);
    free(r);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    srv *s = cls;
    srv_req *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->target = strdup(uri);
    if (!r->target) {
        free(r);
        return NULL;
    }
    r->server = s;
    r->conn = conn;
    r->next = s->reqs;
    if (s->reqs)
        s->reqs->prev = r;
    s->reqs = r;
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    srv_req *r = *con_cls;

    (void)conn;
    (void)toe;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->prev)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->server = NULL;
    r->conn = NULL;
    r->suspended = 0;
    watch_close(r);        /* now, while MHD still has the fd open */
    mark_closed(r);
    if (!r->app_owned || r->released)
        req_free(r);
}

/* ---- reading the request ---- */

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    size_t *total = cls;

    (void)kind;
    total[0]++;
    total[1] += strlen(key) + strlen(value ? value : "") + 2;
    return MHD_YES;
}

struct header_copy {
    srv_req *r;
    char *p;
};

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_copy *c = cls;
    srv_header *h = &c->r->headers[c->r->info.nheaders++];
    size_t klen = strlen(key), vlen = strlen(value ? value : ""), i;

    (void)kind;
    h->name = c->p;
    for (i = 0; i < klen; i++)
        c->p[i] = (key[i] >= 'A' && key[i] <= 'Z') ? (char)(key[i] - 'A' + 'a') : key[i];
    c->p[klen] = '\0';
    c->p += klen + 1;
    h->value = c->p;
    memcpy(c->p, value ? value : "", vlen + 1);
    c->p += vlen + 1;
    return MHD_YES;
}

static void format_remote(srv_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char ip[INET6_ADDRSTRLEN];

    snprintf(r->remote, sizeof r->remote, "?");
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip))
            snprintf(r->remote, sizeof r->remote, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip))
            snprintf(r->remote, sizeof r->remote, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

static int read_head(srv_req *r, const char *method)
{
    size_t total[2] = {0, 0};
    struct header_copy c;

    r->method = strdup(method);
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_header, total);
    r->headers = calloc(total[0] ? total[0] : 1, sizeof *r->headers);
    r->header_text = malloc(total[1] ? total[1] : 1);
    if (!r->method || !r->headers || !r->header_text)
        return SMOP_ERR;
    c.r = r;
    c.p = r->header_text;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, copy_header, &c);
    format_remote(r);
    r->info.method = r->method;
    r->info.target = r->target;
    r->info.remote = r->remote;
    r->info.headers = r->headers;
    r->info.body = "";
    return SMOP_OK;
}

/* The caller checked that the body stays within max. */
static int body_append(srv_req *r, const char *data, size_t len, size_t max)
{
    size_t need;
    char *p;

    need = r->info.body_len + len + 1;
    if (need > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;

        while (cap < need)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        p = realloc(r->body, cap);
        if (!p)
            return SMOP_ERR;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->info.body_len, data, len);
    r->info.body_len += len;
    r->body[r->info.body_len] = '\0';
    r->info.body = r->body;
    return SMOP_OK;
}

/* Answers from the server itself (413 and friends): a static JSON body. */
static enum MHD_Result queue_own(struct MHD_Connection *conn, unsigned status,
                                 const char *json)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, "Content-Type", "application/json");
    MHD_add_response_header(res, "Connection", "close");
    ret = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return ret;
}

static const char too_large[] = "{\"message\":\"request body too large\"}";

static enum MHD_Result reject(srv_req *r, struct MHD_Connection *conn)
{
    r->phase = PH_REJECTED;
    return queue_own(conn, MHD_HTTP_CONTENT_TOO_LARGE, too_large);
}

static enum MHD_Result drain(srv_req *r, struct MHD_Connection *conn, size_t *upload_size)
{
    if (!*upload_size)
        return reject(r, conn);
    r->drained += *upload_size;
    *upload_size = 0;
    return r->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
}

/* A client waiting for "100 Continue" has not sent its body: say no now. */
static int expects_continue(struct MHD_Connection *conn)
{
    const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

    return e && strcasecmp(e, "100-continue") == 0;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload, size_t *upload_size, void **con_cls)
{
    srv *s = cls;
    srv_req *r = *con_cls;
    const char *cl;
    enum MHD_Result ret;

    (void)url;
    (void)version;
    if (!r || s->closing)
        return MHD_NO;
    if (r->phase == PH_DRAINING)
        return drain(r, conn, upload_size);
    if (r->phase == PH_REJECTED) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->phase == PH_READING) {
        if (!r->method) {               /* first call: headers only */
            if (read_head(r, method) != SMOP_OK)
                return MHD_NO;
            cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > s->max_body) {
                if (expects_continue(conn))
                    return reject(r, conn);
                r->phase = PH_DRAINING;
            }
            return MHD_YES;
        }
        if (*upload_size) {
            if (*upload_size > s->max_body - r->info.body_len) {
                r->phase = PH_DRAINING;   /* a chunked body grew past the cap */
                return drain(r, conn, upload_size);
            }
            if (body_append(r, upload, *upload_size, s->max_body) != SMOP_OK)
                return MHD_NO;
            *upload_size = 0;
            return MHD_YES;
        }
        r->phase = PH_APP;
        r->app_owned = 1;
        s->on_request(s->ud, r);
    }
    if (r->dropping || (r->aborting && r->phase != PH_STREAMING))
        return MHD_NO;
    if (r->response) {
        ret = MHD_queue_response(conn, r->status, r->response);
        MHD_destroy_response(r->response);
        r->response = NULL;
        return ret;
    }
    suspend(r);
    return MHD_YES;
}

/* ---- answers ---- */

static int add_headers(struct MHD_Response *res, const srv_header *h, size_t n,
                       char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcasecmp(h[i].name, "content-length") == 0 ||
            strcasecmp(h[i].name, "transfer-encoding") == 0)
            continue;
        if (MHD_add_response_header(res, h[i].name, h[i].value) != MHD_YES)
            return smop_fail(err, errlen, "invalid response header '%.64s'", h[i].name);
    }
    return SMOP_OK;
}

/* Takes res; on failure the request is left unanswered. */
static int answer(srv_req *r, enum phase phase, unsigned status, struct MHD_Response *res,
                  const srv_header *h, size_t n, char *err, size_t errlen)
{
    if (!res)
        return smop_fail(err, errlen, "out of memory");
    if (add_headers(res, h, n, err, errlen) != SMOP_OK) {
        MHD_destroy_response(res);
        return SMOP_ERR;
    }
    r->phase = phase;
    if (r->closed || !r->server) {
        MHD_destroy_response(res);
        return SMOP_OK;
    }
    r->response = res;
    r->status = status;
    resume(r);
    return SMOP_OK;
}

int srv_respond(srv_req *r, unsigned status, const srv_header *headers, size_t nheaders,
                const char *body, size_t body_len, char *err, size_t errlen)
{
    if (r->phase != PH_APP)
        return smop_fail(err, errlen, "the request was already answered");
    return answer(r, PH_ANSWERED, status,
                  MHD_create_response_from_buffer(body_len, (void *)body, MHD_RESPMEM_MUST_COPY),
                  headers, nheaders, err, errlen);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    srv_req *r = cls;
    size_t n = r->out_len - r->out_start;

    (void)pos;
    if (r->dropping)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n) {
        if (n > max)
            n = max;
        memcpy(buf, r->out + r->out_start, n);
        r->out_start += n;
        if (r->out_start == r->out_len)
            r->out_start = r->out_len = 0;
        if (r->full && r->out_len - r->out_start <= SRV_STREAM_LOW) {
            r->full = 0;
            notify(r);
        }
        return (ssize_t)n;
    }
    if (r->aborting)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (r->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    suspend(r);   /* until the next write: returning 0 alone would spin */
    return 0;
}

int srv_stream_start(srv_req *r, unsigned status, const srv_header *headers,
                     size_t nheaders, char *err, size_t errlen)
{
    if (r->phase != PH_APP)
        return smop_fail(err, errlen, "the request was already answered");
    return answer(r, PH_STREAMING, status,
                  MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                    stream_read, r, NULL),
                  headers, nheaders, err, errlen);
}

int srv_stream_write(srv_req *r, const char *data, size_t len)
{
    size_t used = r->out_len - r->out_start;

    if (r->phase != PH_STREAMING || r->closed || r->ended || r->aborting)
        return SMOP_ERR;
    if (r->out_len + len > r->out_cap && r->out_start) {
        memmove(r->out, r->out + r->out_start, used);
        r->out_start = 0;
        r->out_len = used;
    }
    if (r->out_len + len > r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap : 16384;
        char *p;

        while (cap < r->out_len + len)
            cap *= 2;
        p = realloc(r->out, cap);
        if (!p) {
            srv_abort(r);
            r->dropping = 1;
            return SMOP_ERR;
        }
        r->out = p;
        r->out_cap = cap;
    }
    if (len)    /* an empty write may come before any buffer exists */
        memcpy(r->out + r->out_len, data, len);
    r->out_len += len;
    if (r->out_len - r->out_start > SRV_STREAM_HIGH)
        r->full = 1;
    resume(r);
    return SMOP_OK;
}

size_t srv_req_buffered(const srv_req *r)
{
    return r->out_len - r->out_start;
}

void srv_stream_end(srv_req *r)
{
    if (r->phase != PH_STREAMING || r->ended || r->aborting)
        return;
    r->ended = 1;
    resume(r);
}

void srv_abort(srv_req *r)
{
    if (r->phase == PH_APP)
        r->phase = PH_ANSWERED;
    r->aborting = 1;
    r->closed = 1;   /* the caller knows: no notify */
    if (r->server)
        resume(r);
}

/* ---- the app's side of a request ---- */

const srv_request *srv_req_info(const srv_req *r) { return &r->info; }
int srv_req_closed(const srv_req *r) { return r->closed; }

void srv_req_watch(srv_req *r, srv_notify_fn fn, void *ud)
{
    r->notify = fn;
    r->notify_ud = ud;
}

void srv_req_release(srv_req *r)
{
    r->released = 1;
    r->notify = NULL;
    if (!r->server) {
        req_free(r);
        return;
    }
    if (r->phase == PH_APP || (r->phase == PH_STREAMING && !r->ended && !r->aborting)) {
        r->dropping = 1;
        r->closed = 1;
        resume(r);
    }
}

/* ---- the server ---- */

static int parse_host(const char *host, unsigned port, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
        return SMOP_OK;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return SMOP_OK;
    }
    return SMOP_ERR;
}

/* Binding ourselves gives the caller errno's own words. */
static int open_listener(const char *host, unsigned port, int *fd_out, unsigned *bound,
                         char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (port > 65535)
        return smop_fail(err, errlen, "listen %s:%u: port out of range", host, port);
    if (parse_host(host, port, &ss, &len) != SMOP_OK)
        return smop_fail(err, errlen, "listen %s:%u: host must be a numeric IP address",
                         host, port);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return smop_fail(err, errlen, "listen %s:%u: %s", host, port, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        goto fail;
    *bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                           : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return SMOP_OK;
fail:
    smop_fail(err, errlen, "listen %s:%u: %s", host, port, strerror(errno));
    close(fd);
    return SMOP_ERR;
}

int srv_start(const srv_config *cfg, srv **out, char *err, size_t errlen)
{
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    struct MHD_OptionItem tls[3] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, NULL},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    int fd = -1;
    srv *s;

    *out = NULL;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES)   /* Linux builds have it */
        return smop_fail(err, errlen, "listen %s: this libmicrohttpd has no epoll support", host);
    if (!cfg->tls_cert != !cfg->tls_key)
        return smop_fail(err, errlen, "listen %s: tls needs both cert and key", host);
    if (cfg->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return smop_fail(err, errlen, "listen %s: this libmicrohttpd has no TLS support",
                             host);
        flags |= MHD_USE_TLS;
    } else {
        tls[0].option = MHD_OPTION_END;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return smop_fail(err, errlen, "listen %s: out of memory", host);
    if (cfg->tls_cert && (!(s->tls_cert = strdup(cfg->tls_cert)) ||
                          !(s->tls_key = strdup(cfg->tls_key)))) {
        smop_fail(err, errlen, "listen %s: out of memory", host);
        goto fail;
    }
    tls[0].ptr_value = s->tls_cert;
    tls[1].ptr_value = s->tls_key;
    if (open_listener(host, cfg->port, &fd, &s->port, err, errlen) != SMOP_OK)
        goto fail;
    s->max_body = cfg->max_body ? cfg->max_body : SRV_DEFAULT_MAX_BODY;
    s->on_request = cfg->on_request;
    s->ud = cfg->ud;
    s->starting = 1;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,   /* first, or MHD complains */
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout ? cfg->idle_timeout : DEFAULT_IDLE_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    s->starting = 0;
    if (!s->daemon) {
        smop_fail(err, errlen, "listen %s:%u: %s", host, s->port,
                  s->start_error[0] ? s->start_error : "cannot start the HTTP server");
        goto fail;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    uv_timer_init(uv_default_loop(), &s->timer);
    uv_idle_init(uv_default_loop(), &s->idle);
    s->timer.data = s->idle.data = s;
    s->open_handles = 2;
    if (!info || uv_poll_init(uv_default_loop(), &s->poll, info->epoll_fd) != 0) {
        smop_fail(err, errlen, "listen %s:%u: cannot watch the server's epoll fd", host, s->port);
        s->closing = 1;
        uv_close((uv_handle_t *)&s->timer, handle_closed);
        uv_close((uv_handle_t *)&s->idle, handle_closed);
        MHD_stop_daemon(s->daemon);
        return SMOP_ERR;
    }
    s->poll.data = s;
    s->open_handles = 3;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    kick(s);
    *out = s;
    return SMOP_OK;
fail:
    if (fd >= 0)
        close(fd);   /* MHD 0.9.75 leaves a given listen socket open when it fails */
    srv_free(s);
    return SMOP_ERR;
}

unsigned srv_port(const srv *s) { return s->port; }

void srv_close(srv *s)
{
    srv_req *r;

    if (!s || s->closing)
        return;
    /* Our watch on the epoll fd goes before MHD closes that fd. */
    uv_close((uv_handle_t *)&s->poll, handle_closed);
    uv_close((uv_handle_t *)&s->timer, handle_closed);
    uv_close((uv_handle_t *)&s->idle, handle_closed);
    /* MHD refuses to stop with suspended connections: resume them all; the
     * access handler and content readers see `closing` and drop them. */
    s->closing = 1;
    for (r = s->reqs; r; r = r->next) {
        r->dropping = 1;
        resume(r);
    }
    MHD_stop_daemon(s->daemon);   /* completes (and notifies) every request */
    s->daemon = NULL;
}
