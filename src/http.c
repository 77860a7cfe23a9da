/*
 * http.c - libcurl's multi interface driven by the libuv loop.
 *
 * libcurl tells us which sockets to watch (on_socket) and when to call it
 * back (on_curl_timer); libuv watches them (one uv_poll_t per socket) and we
 * hand every event back with curl_multi_socket_action. Finished transfers
 * are collected in settle(), after libcurl has returned, so `done` never
 * runs inside libcurl and may start or cancel calls freely.
 *
 * Anything that would re-enter libcurl from inside one of its callbacks is
 * deferred: a cancel there marks the call doomed (reaped in settle()), and
 * resumes always go through a zero-delay timer.
 */
#include "http.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "smop.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_TIMEOUT_MS 60000L
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define MAX_HEADER_BYTES ((size_t)256 << 10)

struct buf {
    char *data;
    size_t len, cap;
};

struct http_call {
    CURL *easy;
    struct curl_slist *req_headers;
    http_done_fn done;
    void (*on_headers)(void *ud, const http_response *res);
    http_line_fn on_line;
    void *ud;
    size_t max_response;
    int streaming;          /* on_line mode */
    int head_only;

    long status;
    struct buf body;        /* the body, or (streaming) the partial line */
    struct buf hdrs;        /* "name\0value\0" of the current response */
    size_t nheaders;
    http_header *harr;      /* built from hdrs when they are handed out */
    int headers_done;       /* the final header block has ended */
    size_t skip;            /* bytes of a paused chunk already consumed */
    int paused;
    int resume_wanted;
    int cancelled;
    int doomed;             /* cancelled inside libcurl; reap in settle() */
    int in_done;
    char fail[96];          /* our own reason to abort; wins over libcurl's */
    char errbuf[CURL_ERROR_SIZE];
    struct http_call *prev, *next;
};

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct sock *prev, *next;
};

static struct {
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t curl_timer;
    uv_timer_t resume_timer;
    int in_curl;            /* depth of calls into libcurl */
    int shutting_down;
    int closing;            /* handles waiting for their close callback */
    size_t ncalls, ndoomed, nresume;
    struct http_call *calls;
    struct sock *socks;
} H;

/* ---- small buffers ---- */

/* Makes room for n more bytes plus a NUL. */
static int buf_reserve(struct buf *b, size_t n)
{
    size_t want, cap;
    char *p;

    if (n >= SIZE_MAX - b->len)
        return SMOP_ERR;
    want = b->len + n + 1;
    if (want <= b->cap)
        return SMOP_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    p = realloc(b->data, cap);
    if (!p)
        return SMOP_ERR;
    b->data = p;
    b->cap = cap;
    return SMOP_OK;
}

static int buf_append(struct buf *b, const char *p, size_t n)
{
    if (buf_reserve(b, n) != SMOP_OK)
        return SMOP_ERR;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SMOP_OK;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- calls ---- */

static void call_link(struct http_call *c)
{
    c->next = H.calls;
    if (H.calls)
        H.calls->prev = c;
    H.calls = c;
    H.ncalls++;
}

static void call_unlink(struct http_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (H.calls == c)
        H.calls = c->next;
    else
        return; /* not linked */
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    H.ncalls--;
}

static void call_free(struct http_call *c)
{
    if (c->resume_wanted)
        H.nresume--;
    if (c->doomed)
        H.ndoomed--;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->req_headers);
    buf_free(&c->body);
    buf_free(&c->hdrs);
    free(c->harr);
    free(c);
}

/* Takes a call out of libcurl and frees it; never calls back. */
static void call_destroy(struct http_call *c)
{
    curl_multi_remove_handle(H.multi, c->easy);
    call_unlink(c);
    call_free(c);
}

/* Points harr at the collected headers; SMOP_ERR if out of memory. */
static int build_headers(struct http_call *c)
{
    const char *p = c->hdrs.data;
    size_t i;

    free(c->harr);
    c->harr = NULL;
    if (!c->nheaders)
        return SMOP_OK;
    c->harr = malloc(c->nheaders * sizeof *c->harr);
    if (!c->harr)
        return SMOP_ERR;
    for (i = 0; i < c->nheaders; i++) {
        c->harr[i].name = p;
        p += strlen(p) + 1;
        c->harr[i].value = p;
        p += strlen(p) + 1;
    }
    return SMOP_OK;
}

static size_t too_large(struct http_call *c, const char *what)
{
    snprintf(c->fail, sizeof c->fail, "%s larger than %zu bytes", what,
             c->max_response);
    return CURL_WRITEFUNC_ERROR;
}

static size_t out_of_memory(struct http_call *c)
{
    snprintf(c->fail, sizeof c->fail, "out of memory reading the response");
    return CURL_WRITEFUNC_ERROR;
}

/* ---- libcurl's data callbacks ---- */

static int is_space(char ch) { return ch == ' ' || ch == '\t'; }

/* Parses a decimal Content-Length; SMOP_ERR if it is not one. */
static int parse_length(const char *s, size_t n, size_t *out)
{
    size_t v = 0, i;

    if (!n)
        return SMOP_ERR;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SMOP_ERR;
        if (v > (SIZE_MAX - 9) / 10)
            v = SIZE_MAX; /* saturate: larger than any cap */
        else
            v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return SMOP_OK;
}

static void announce_headers(struct http_call *c)
{
    http_response res = {0};

    if (build_headers(c) != SMOP_OK) {
        out_of_memory(c);
        return;
    }
    res.status = c->status;
    res.headers = c->harr;
    res.nheaders = c->nheaders;
    res.body = "";
    c->on_headers(c->ud, &res);
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userp)
{
    struct http_call *c = userp;
    size_t len = size * nitems, n = len, colon, i, vstart, vend;

    if (c->cancelled)
        return CURL_WRITEFUNC_ERROR;
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* a status line starts a new response (after 1xx ones) */
        c->hdrs.len = 0;
        c->nheaders = 0;
        c->headers_done = 0;
        c->status = 0;
        for (i = 5; i < len && !is_space(ptr[i]); i++)
            ;
        for (; i < len && is_space(ptr[i]); i++)
            ;
        for (; i < len && ptr[i] >= '0' && ptr[i] <= '9' && c->status < 1000; i++)
            c->status = c->status * 10 + (ptr[i] - '0');
        return len;
    }
    if (c->headers_done)
        return len; /* trailers */
    while (n && (ptr[n - 1] == '\n' || ptr[n - 1] == '\r'))
        n--;
    if (!n) {
        if (c->status >= 200) {
            c->headers_done = 1;
            if (c->on_headers) {
                announce_headers(c);
                if (c->cancelled || c->fail[0])
                    return CURL_WRITEFUNC_ERROR;
            }
        }
        return len;
    }
    for (colon = 0; colon < n && ptr[colon] != ':'; colon++)
        ;
    if (colon == n || colon == 0 || is_space(ptr[0]))
        return len; /* not a header (or an obsolete folded line) */
    if (c->hdrs.len + n + 2 > MAX_HEADER_BYTES) {
        snprintf(c->fail, sizeof c->fail, "response headers larger than %zu bytes",
                 MAX_HEADER_BYTES);
        return CURL_WRITEFUNC_ERROR;
    }
    for (vstart = colon + 1; vstart < n && is_space(ptr[vstart]); vstart++)
        ;
    for (vend = n; vend > vstart && is_space(ptr[vend - 1]); vend--)
        ;
    i = colon;
    while (i > 0 && is_space(ptr[i - 1]))
        i--;
    if (!c->streaming && !c->head_only && i == 14 &&
        strncasecmp(ptr, "content-length", 14) == 0) {
        size_t cl;

        if (parse_length(ptr + vstart, vend - vstart, &cl) == SMOP_OK) {
            if (cl > c->max_response)
                return too_large(c, "response");
            /* one allocation for the whole body (the cap bounds it) */
            if (buf_reserve(&c->body, cl) != SMOP_OK)
                return out_of_memory(c);
        }
    }
    if (buf_reserve(&c->hdrs, i + (vend - vstart) + 2) != SMOP_OK)
        return out_of_memory(c);
    for (size_t k = 0; k < i; k++) {
        char ch = ptr[k];
        c->hdrs.data[c->hdrs.len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    c->hdrs.data[c->hdrs.len++] = '\0';
    memcpy(c->hdrs.data + c->hdrs.len, ptr + vstart, vend - vstart);
    c->hdrs.len += vend - vstart;
    c->hdrs.data[c->hdrs.len++] = '\0';
    c->nheaders++;
    return len;
}

/* Streaming: splits a chunk into lines. When on_line asks for a pause, the
 * chunk is held by libcurl and handed over again on resume; skip remembers
 * how much of it was already delivered. */
static size_t stream_write(struct http_call *c, const char *ptr, size_t len)
{
    size_t off = c->skip < len ? c->skip : len;

    c->skip -= off;
    while (off < len) {
        const char *nl = memchr(ptr + off, '\n', len - off);
        size_t seg = nl ? (size_t)(nl - (ptr + off)) : len - off;
        const char *line;
        size_t n;
        int stop;

        if (seg > c->max_response - c->body.len)
            return too_large(c, "response line");
        if (!nl) {
            if (buf_append(&c->body, ptr + off, seg) != SMOP_OK)
                return out_of_memory(c);
            break;
        }
        if (c->body.len) {
            if (buf_append(&c->body, ptr + off, seg) != SMOP_OK)
                return out_of_memory(c);
            line = c->body.data;
            n = c->body.len;
        } else {
            line = ptr + off;
            n = seg;
        }
        if (n && line[n - 1] == '\r')
            n--;
        off += seg + 1;
        stop = c->on_line(c->ud, line, n);
        c->body.len = 0;
        if (c->cancelled)
            return CURL_WRITEFUNC_ERROR;
        if (stop) {
            c->skip = off;
            c->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    return len;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct http_call *c = userp;
    size_t len = size * nmemb;

    if (c->cancelled)
        return CURL_WRITEFUNC_ERROR;
    if (c->streaming)
        return stream_write(c, ptr, len);
    if (len > c->max_response - c->body.len)
        return too_large(c, "response");
    if (buf_append(&c->body, ptr, len) != SMOP_OK)
        return out_of_memory(c);
    return len;
}

/* ---- completion ---- */

/* One line, from our reason, libcurl's error buffer, or the code. */
static void error_line(struct http_call *c, CURLcode rc, char *out, size_t outlen)
{
    const char *src = c->fail[0] ? c->fail : c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    size_t i, n = 0;

    for (i = 0; src[i] && n + 1 < outlen; i++)
        out[n++] = ((unsigned char)src[i] < 0x20) ? ' ' : src[i];
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static void finish(struct http_call *c, CURLcode rc)
{
    http_response res = {0};
    char errline[CURL_ERROR_SIZE + sizeof c->fail];

    curl_multi_remove_handle(H.multi, c->easy);
    call_unlink(c);
    c->in_done = 1;
    if (rc == CURLE_OK && c->streaming && c->body.len && !c->cancelled) {
        size_t n = c->body.len;

        if (c->body.data[n - 1] == '\r')
            n--;
        c->on_line(c->ud, c->body.data, n);
    }
    if (!c->cancelled && c->done) {
        if (rc == CURLE_OK && build_headers(c) != SMOP_OK) {
            out_of_memory(c);
            rc = CURLE_OUT_OF_MEMORY;
        }
        res.status = c->status;
        res.headers = c->harr;
        res.nheaders = c->harr ? c->nheaders : 0;
        res.body = (!c->streaming && c->body.data) ? c->body.data : "";
        res.body_len = c->streaming ? 0 : c->body.len;
        if (rc != CURLE_OK) {
            error_line(c, rc, errline, sizeof errline);
            res.error = errline;
        }
        c->done(c->ud, &res);
    }
    call_free(c);
}

static void reap_doomed(void)
{
    struct http_call *c, *next;

    for (c = H.calls; c && H.ndoomed; c = next) {
        next = c->next;
        if (c->doomed)
            call_destroy(c);
    }
}

/* Runs after every entry into libcurl, once it has returned. */
static void settle(void)
{
    CURLMsg *msg;
    int left;

    reap_doomed();
    while ((msg = curl_multi_info_read(H.multi, &left))) {
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct http_call *c = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
        finish(c, rc);
    }
}

/* ---- the loop side ---- */

static void drive(curl_socket_t fd, int flags)
{
    int running;

    H.in_curl++;
    curl_multi_socket_action(H.multi, fd, flags, &running);
    H.in_curl--;
    settle();
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock *sk = p->data;
    int flags = 0;

    /* A poll error is often a reset after the peer already answered (a 414
     * with unread input, say): let curl read, and meet the error itself. */
    if (status < 0)
        flags = CURL_CSELECT_IN;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    drive(sk->fd, flags);
}

static void on_curl_timeout(uv_timer_t *t)
{
    drive(CURL_SOCKET_TIMEOUT, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    H.closing--;
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
    H.closing--;
}

static void sock_close(struct sock *sk)
{
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        H.socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    uv_poll_stop(&sk->poll);
    H.closing++;
    uv_close((uv_handle_t *)&sk->poll, on_sock_closed);
}

static void drop_stale(curl_socket_t fd)
{
    struct sock *sk, *next;

    for (sk = H.socks; sk; sk = next) {
        next = sk->next;
        if (sk->fd == fd)
            sock_close(sk);
    }
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct sock *sk = socketp;
    int events = 0;

    if (H.shutting_down)
        return 0;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(H.multi, fd, NULL);
            sock_close(sk);
        }
        return 0;
    }
    if (!sk) {
        int rc;

        sk = calloc(1, sizeof *sk);
        if (!sk)
            return -1;
        rc = uv_poll_init_socket(H.loop, &sk->poll, fd);
        if (rc == UV_EEXIST) {
            /* libcurl closed an earlier socket with this number unannounced */
            drop_stale(fd);
            rc = uv_poll_init_socket(H.loop, &sk->poll, fd);
        }
        if (rc != 0) {
            free(sk);
            return -1;
        }
        sk->fd = fd;
        sk->poll.data = sk;
        sk->next = H.socks;
        if (H.socks)
            H.socks->prev = sk;
        H.socks = sk;
        curl_multi_assign(H.multi, fd, sk);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    if (events)
        uv_poll_start(&sk->poll, events, on_poll);
    else
        uv_poll_stop(&sk->poll);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    if (H.shutting_down)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&H.curl_timer);
    else
        uv_timer_start(&H.curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_resume_timer(uv_timer_t *t)
{
    struct http_call *c;

    H.in_curl++;
    for (c = H.calls; c && H.nresume; c = c->next) {
        if (!c->resume_wanted)
            continue;
        c->resume_wanted = 0;
        H.nresume--;
        if (c->paused && !c->cancelled) {
            c->paused = 0;
            /* hands the held chunk to on_write right away (may pause again) */
            curl_easy_pause(c->easy, CURLPAUSE_CONT);
        }
    }
    H.in_curl--;
    settle();
}

/* ---- public ---- */

int http_init(char *err, size_t errlen)
{
    CURLcode rc;

    if (H.multi)
        return SMOP_OK;
    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return smop_fail(err, errlen, "http: libcurl init failed: %s", curl_easy_strerror(rc));
    H.multi = curl_multi_init();
    if (!H.multi) {
        curl_global_cleanup();
        return smop_fail(err, errlen, "http: libcurl multi init failed");
    }
    H.loop = uv_default_loop();
    curl_multi_setopt(H.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(H.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(H.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(H.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_MAX_HOST_CONNECTIONS);
    uv_timer_init(H.loop, &H.curl_timer);
    uv_timer_init(H.loop, &H.resume_timer);
    return SMOP_OK;
}

void http_shutdown(void)
{
    struct sock *sk;

    if (!H.multi)
        return;
    while (H.calls)
        call_destroy(H.calls);
    H.shutting_down = 1;
    while ((sk = H.socks))
        sock_close(sk);
    curl_multi_cleanup(H.multi);
    H.multi = NULL;
    H.closing += 2;
    uv_close((uv_handle_t *)&H.curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&H.resume_timer, on_handle_closed);
    while (H.closing > 0)
        uv_run(H.loop, UV_RUN_NOWAIT);
    curl_global_cleanup();
    memset(&H, 0, sizeof H);
}

/* RFC 9110 token characters: methods and header names. */
static int is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z') || (ch && strchr(extra, ch))))
            return 0;
    }
    return 1;
}

static int has_header(const http_request *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return 1;
    return 0;
}

static int add_header(struct http_call *c, const char *name, const char *value,
                      char *err, size_t errlen)
{
    size_t n = strlen(name) + strlen(value) + 3;
    struct curl_slist *l;
    char *line;

    if (!is_token(name))
        return smop_fail(err, errlen, "http: invalid header name \"%.64s\"", name);
    if (strpbrk(value, "\r\n"))
        return smop_fail(err, errlen, "http: header %.64s: line break in value", name);
    line = malloc(n);
    if (!line)
        return smop_fail(err, errlen, "http: out of memory");
    /* "Name;" is libcurl's way to send a header with an empty value */
    if (*value)
        snprintf(line, n, "%s: %s", name, value);
    else
        snprintf(line, n, "%s;", name);
    l = curl_slist_append(c->req_headers, line);
    free(line);
    if (!l)
        return smop_fail(err, errlen, "http: out of memory");
    c->req_headers = l;
    return SMOP_OK;
}

/* "Name:" stops libcurl from sending a header it would add by itself. */
static int remove_header(struct http_call *c, const char *line, char *err, size_t errlen)
{
    struct curl_slist *l = curl_slist_append(c->req_headers, line);

    if (!l)
        return smop_fail(err, errlen, "http: out of memory");
    c->req_headers = l;
    return SMOP_OK;
}

static int set_blob(CURL *e, CURLoption opt, const char *pem, size_t len)
{
    struct curl_blob blob;

    blob.data = (void *)pem;
    blob.len = len;
    blob.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(e, opt, &blob) == CURLE_OK ? SMOP_OK : SMOP_ERR;
}

static int setup(struct http_call *c, const http_request *req, char *err, size_t errlen)
{
    const char *method = req->method ? req->method : "GET";
    CURL *e = c->easy;
    CURLcode rc = CURLE_OK;
    size_t i;
    int send_body;

#define SET(opt, val)                                   \
    do {                                                \
        if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK) \
            goto curl_fail;                             \
    } while (0)

    if (!req->url)
        return smop_fail(err, errlen, "http: no url");
    if (!is_token(method))
        return smop_fail(err, errlen, "http: invalid method \"%.32s\"", method);
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_PRIVATE, (char *)c);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_USERAGENT, "smop/" SMOP_VERSION);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Prefer multiplexing over a new connection, but only where HTTP/2 can
     * happen (TLS): over plain http a second request would wait for the
     * first one's headers, which a long poll may hold back for minutes. */
    SET(CURLOPT_PIPEWAIT, strncmp(req->url, "https:", 6) == 0 ? 1L : 0L);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L); /* notice dead peers under long watches */
    SET(CURLOPT_TCP_KEEPIDLE, 30L);
    SET(CURLOPT_TCP_KEEPINTVL, 15L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        req->connect_timeout_ms > 0 ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
    SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms
                            : req->on_line ? 0L : DEFAULT_TIMEOUT_MS);
    if (req->ca_file || req->ca_pem) {
        SET(CURLOPT_CAPATH, (char *)NULL); /* replace the trust store, not add to it */
        if (req->ca_pem) {
            SET(CURLOPT_CAINFO, (char *)NULL);
            if (set_blob(e, CURLOPT_CAINFO_BLOB, req->ca_pem, req->ca_pem_len) != SMOP_OK)
                return smop_fail(err, errlen, "http: cannot use ca_pem");
        } else {
            SET(CURLOPT_CAINFO, req->ca_file);
        }
    }
    if (req->client_cert_pem) {
        if (set_blob(e, CURLOPT_SSLCERT_BLOB, req->client_cert_pem,
                     req->client_cert_pem_len) != SMOP_OK)
            return smop_fail(err, errlen, "http: cannot use client_cert_pem");
        SET(CURLOPT_SSLCERTTYPE, "PEM");
    } else if (req->client_cert) {
        SET(CURLOPT_SSLCERT, req->client_cert);
    }
    if (req->client_key_pem) {
        if (set_blob(e, CURLOPT_SSLKEY_BLOB, req->client_key_pem,
                     req->client_key_pem_len) != SMOP_OK)
            return smop_fail(err, errlen, "http: cannot use client_key_pem");
        SET(CURLOPT_SSLKEYTYPE, "PEM");
    } else if (req->client_key) {
        SET(CURLOPT_SSLKEY, req->client_key);
    }
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, c);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, c);

    send_body = req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0) {
        c->head_only = 1;
        SET(CURLOPT_NOBODY, 1L);
    } else if (send_body) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        if (strcmp(method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, method);
    }

    for (i = 0; i < req->nheaders; i++)
        if (add_header(c, req->headers[i].name, req->headers[i].value, err, errlen) != SMOP_OK)
            return SMOP_ERR;
    /* libcurl's defaults would otherwise label a body as a form, and wait for
     * a 100 Continue before sending a large one */
    if (send_body && !has_header(req, "content-type") &&
        remove_header(c, "Content-Type:", err, errlen) != SMOP_OK)
        return SMOP_ERR;
    if (send_body && !has_header(req, "expect") &&
        remove_header(c, "Expect:", err, errlen) != SMOP_OK)
        return SMOP_ERR;
    if (c->req_headers)
        SET(CURLOPT_HTTPHEADER, c->req_headers);
    return SMOP_OK;
#undef SET

curl_fail:
    return smop_fail(err, errlen, "http: %s", curl_easy_strerror(rc));
}

int http_start(const http_request *req, http_done_fn done, void *ud,
               http_call **out, char *err, size_t errlen)
{
    struct http_call *c = NULL;
    CURLMcode mrc;

    *out = NULL;
    if (!H.multi)
        return smop_fail(err, errlen, "http: not initialized");
    if (H.in_curl)
        return smop_fail(err, errlen, "http: http_start called from an http callback");
    c = calloc(1, sizeof *c);
    if (!c)
        return smop_fail(err, errlen, "http: out of memory");
    c->done = done;
    c->ud = ud;
    c->on_headers = req->on_headers;
    c->on_line = req->on_line;
    c->streaming = req->on_line != NULL;
    c->max_response = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;
    c->easy = curl_easy_init();
    if (!c->easy) {
        smop_fail(err, errlen, "http: out of memory");
        goto fail;
    }
    if (setup(c, req, err, errlen) != SMOP_OK)
        goto fail;
    /* only arms the timer: the transfer starts on a later loop turn */
    mrc = curl_multi_add_handle(H.multi, c->easy);
    if (mrc != CURLM_OK) {
        smop_fail(err, errlen, "http: %s", curl_multi_strerror(mrc));
        goto fail;
    }
    call_link(c);
    *out = c;
    return SMOP_OK;

fail:
    call_free(c);
    return SMOP_ERR;
}

void http_cancel(http_call *c)
{
    if (!c || c->cancelled)
        return;
    c->cancelled = 1;
    c->done = NULL;
    c->on_headers = NULL;
    c->on_line = NULL;
    if (c->in_done)
        return; /* finish() frees it */
    if (H.in_curl) {
        c->doomed = 1;
        H.ndoomed++;
        return;
    }
    call_destroy(c);
}

void http_resume(http_call *c)
{
    if (!c || c->cancelled || c->resume_wanted)
        return;
    c->resume_wanted = 1;
    H.nresume++;
    uv_timer_start(&H.resume_timer, on_resume_timer, 0, 0);
}

size_t http_in_flight(void)
{
    return H.ncalls - H.ndoomed;
}
