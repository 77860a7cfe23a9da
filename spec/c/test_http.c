/* Unit tests for the HTTP client's C contract, against spec/support/httpd.py:
 * callbacks never inside http_start, the loop ends when the calls do (kept-alive
 * connections do not hold it), cancel from inside on_line, pause/resume,
 * shutdown with calls in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "smop.h"

static FILE *server_pipe;
static int server_pid;
static int server_port;

static int start_server(void **state)
{
    char err[256];
    char line[64];

    (void)state;
    server_pipe = popen("exec python3 spec/support/httpd.py", "r");
    if (!server_pipe || !fgets(line, sizeof line, server_pipe) ||
        sscanf(line, "%d %d", &server_port, &server_pid) != 2)
        return -1;
    return http_init(err, sizeof err) == SMOP_OK ? 0 : -1;
}

static int stop_server(void **state)
{
    (void)state;
    http_shutdown();
    uv_loop_close(uv_default_loop());
    if (server_pid > 0)
        kill(server_pid, SIGTERM);
    if (server_pipe)
        pclose(server_pipe);
    return 0;
}

static void url(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", server_port, path);
}

struct result {
    int calls;
    int in_start;           /* set around http_start: done must not see it */
    int called_in_start;
    long status;
    char body[256];
    char error[256];
    int lines;
    int bad_order;
    int pause_every;        /* on_line pauses after every n-th line */
    http_call *call;
    uv_timer_t resume;
};

static void on_done(void *ud, const http_response *res)
{
    struct result *r = ud;

    r->calls++;
    r->called_in_start |= r->in_start;
    r->status = res->status;
    snprintf(r->body, sizeof r->body, "%s", res->body);
    snprintf(r->error, sizeof r->error, "%s", res->error ? res->error : "");
}

static void start(struct result *r, http_request *req, http_done_fn done)
{
    char err[256];

    r->in_start = 1;
    assert_int_equal(http_start(req, done, r, &r->call, err, sizeof err), SMOP_OK);
    r->in_start = 0;
}

static void test_request_and_loop_ends(void **state)
{
    struct result r = {0};
    http_request req = {0};
    char u[128];
    int i;

    (void)state;
    url(u, sizeof u, "/status/201");
    req.url = u;
    for (i = 0; i < 3; i++) {
        start(&r, &req, on_done);
        assert_int_equal(http_in_flight(), 1);
        /* returns once the call is done, though the connection stays open */
        uv_run(uv_default_loop(), UV_RUN_DEFAULT);
        assert_int_equal(r.calls, i + 1);
        assert_int_equal(r.called_in_start, 0);
        assert_int_equal(r.status, 201);
        assert_string_equal(r.body, "status 201\n");
        assert_string_equal(r.error, "");
        assert_int_equal(http_in_flight(), 0);
    }
}

static void test_start_failure_calls_nothing(void **state)
{
    struct result r = {0};
    http_request req = {0};
    http_header h = {"Bad Name", "x"};
    char u[128], err[256];

    (void)state;
    url(u, sizeof u, "/echo");
    req.url = u;
    req.headers = &h;
    req.nheaders = 1;
    assert_int_equal(http_start(&req, on_done, &r, &r.call, err, sizeof err), SMOP_ERR);
    assert_null(r.call);
    assert_non_null(strstr(err, "invalid header name"));
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 0);
}

static int cancel_on_second_line(void *ud, const char *line, size_t len)
{
    struct result *r = ud;

    (void)line;
    (void)len;
    if (++r->lines == 2)
        http_cancel(r->call);
    return 0;
}

static void test_cancel_inside_on_line(void **state)
{
    struct result r = {0};
    http_request req = {0};
    char u[128];

    (void)state;
    url(u, sizeof u, "/stream/100?interval_ms=10");
    req.url = u;
    req.on_line = cancel_on_second_line;
    start(&r, &req, on_done);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(r.lines, 2);
    assert_int_equal(r.calls, 0);
    assert_int_equal(http_in_flight(), 0);
}

static void resume_later(uv_timer_t *t)
{
    struct result *r = t->data;

    http_resume(r->call);
}

static int pausing_line(void *ud, const char *line, size_t len)
{
    struct result *r = ud;
    char want[32];

    if (++r->lines > 3000) { /* lines delivered twice: stop, and fail */
        http_cancel(r->call);
        return 0;
    }
    snprintf(want, sizeof want, "line %d", r->lines);
    if (len < strlen(want) || memcmp(line, want, strlen(want)) != 0 ||
        (len > strlen(want) && line[strlen(want)] != 'x'))
        r->bad_order++;
    if (r->lines % r->pause_every)
        return 0;
    uv_timer_start(&r->resume, resume_later, 1, 0);
    return 1;
}

static void resume_closed(uv_handle_t *h) { (void)h; }

static void test_pause_and_resume_keep_every_line(void **state)
{
    struct result r = {0};
    http_request req = {0};
    char u[128];

    (void)state;
    url(u, sizeof u, "/stream/3000?size=100");
    req.url = u;
    req.on_line = pausing_line;
    r.pause_every = 7; /* pauses in the middle of libcurl's chunks */
    uv_timer_init(uv_default_loop(), &r.resume);
    r.resume.data = &r;
    start(&r, &req, on_done);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 1);
    assert_string_equal(r.error, "");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.lines, 3000);
    assert_int_equal(r.bad_order, 0);
    uv_close((uv_handle_t *)&r.resume, resume_closed);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

static void test_shutdown_with_calls_in_flight(void **state)
{
    struct result r[3] = {{0}};
    http_request req = {0};
    char u[128], err[256];
    int i;

    (void)state;
    url(u, sizeof u, "/delay/5000");
    req.url = u;
    for (i = 0; i < 3; i++)
        start(&r[i], &req, on_done);
    /* connect and send, then give up on them all */
    for (i = 0; i < 20; i++)
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    assert_int_equal(http_in_flight(), 3);
    http_shutdown();
    assert_int_equal(http_in_flight(), 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 0);
    /* and it starts again */
    assert_int_equal(http_init(err, sizeof err), SMOP_OK);
    url(u, sizeof u, "/status/200");
    start(&r[0], &req, on_done);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(r[0].calls, 1);
    assert_int_equal(r[0].status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_and_loop_ends),
        cmocka_unit_test(test_start_failure_calls_nothing),
        cmocka_unit_test(test_cancel_inside_on_line),
        cmocka_unit_test(test_pause_and_resume_keep_every_line),
        cmocka_unit_test(test_shutdown_with_calls_in_flight),
    };

    return cmocka_run_group_tests(tests, start_server, stop_server);
}
