/* Unit tests for the HTTP server's C contract (srv.h) and for smop.server's
 * teardown: the app keeps a request past the client and the server, a
 * request released unanswered drops its connection, start failures leave
 * nothing behind, and closing the VM with handlers suspended, streams open
 * and the server still listening frees everything (run under ASan). The
 * group teardown checks that no libuv handle is left on the loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "lvm.h"
#include "scripts.h"
#include "smop.h"
#include "srv.h"

static int setup(void **state)
{
    char err[256];

    (void)state;
    return http_init(err, sizeof err) == SMOP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    http_shutdown();
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    /* UV_EBUSY here means some handle was never closed */
    return uv_loop_close(uv_default_loop()) == 0 ? 0 : -1;
}

/* ---- srv.h with the C client ---- */

struct app {
    srv_req *held;          /* a request the app keeps unanswered */
    int requests;
    int notified;
    int release_now;        /* release without answering */
};

static void app_notify(void *ud)
{
    ((struct app *)ud)->notified++;
}

static void app_request(void *ud, srv_req *r)
{
    struct app *a = ud;
    const srv_request *info = srv_req_info(r);
    static const srv_header h = {"X-Method", NULL};
    srv_header hdr = h;
    char body[128];
    int n;

    a->requests++;
    if (strcmp(info->target, "/hold") == 0) {
        a->held = r;
        srv_req_watch(r, app_notify, a);
        return;
    }
    if (a->release_now) {
        srv_req_release(r);
        return;
    }
    hdr.value = info->method;
    n = snprintf(body, sizeof body, "%s %s %zu", info->method, info->target, info->body_len);
    assert_int_equal(srv_respond(r, 201, &hdr, 1, body, (size_t)n, NULL, 0), SMOP_OK);
    assert_int_equal(srv_respond(r, 200, NULL, 0, "", 0, NULL, 0), SMOP_ERR);
    srv_req_release(r);
}

struct got {
    int done;
    long status;
    char body[128];
    char error[256];
};

static void got_done(void *ud, const http_response *res)
{
    struct got *g = ud;

    g->done = 1;
    g->status = res->status;
    snprintf(g->body, sizeof g->body, "%s", res->body);
    snprintf(g->error, sizeof g->error, "%s", res->error ? res->error : "");
}

static void fetch(srv *s, const char *path, const char *body, long timeout_ms, struct got *g)
{
    char url[128], err[256];
    http_request req;
    http_call *call;

    memset(&req, 0, sizeof req);
    memset(g, 0, sizeof *g);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", srv_port(s), path);
    req.url = url;
    req.method = body ? "POST" : "GET";
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = timeout_ms;
    assert_int_equal(http_start(&req, got_done, g, &call, err, sizeof err), SMOP_OK);
    while (!g->done)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
}

static srv *start(struct app *a)
{
    srv_config cfg;
    srv *s;
    char err[256];

    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = app_request;
    cfg.ud = a;
    assert_int_equal(srv_start(&cfg, &s, err, sizeof err), SMOP_OK);
    assert_true(srv_port(s) > 0);
    return s;
}

static void close_server(srv *s)
{
    srv_close(s);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);   /* close callbacks free it */
}

static void test_answers_and_refuses_a_second_answer(void **state)
{
    struct app a = {0};
    srv *s = start(&a);
    struct got g;

    (void)state;
    fetch(s, "/a?b=c", "hello", 0, &g);
    assert_int_equal(g.status, 201);
    assert_string_equal(g.body, "POST /a?b=c 5");
    assert_int_equal(a.requests, 1);
    close_server(s);
}

static void test_release_without_answer_drops_the_connection(void **state)
{
    struct app a = {0};
    srv *s = start(&a);
    struct got g;

    (void)state;
    a.release_now = 1;
    fetch(s, "/", NULL, 0, &g);
    assert_int_equal(g.status, 0);
    assert_true(g.error[0] != '\0');
    close_server(s);
}

/* The client gives up, then the server closes: the app's request stays
 * valid, turns closed, takes answers silently, and is freed on release. */
static void test_request_outlives_client_and_server(void **state)
{
    struct app a = {0};
    srv *s = start(&a);
    struct got g;

    (void)state;
    fetch(s, "/hold", NULL, 200, &g);
    assert_non_null(a.held);
    assert_int_equal(g.status, 0);
    /* the hang-up is seen while the request waits for its answer */
    while (!srv_req_closed(a.held))
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    assert_int_equal(a.notified, 1);
    close_server(s);
    assert_int_equal(a.notified, 1);   /* once is enough */
    assert_int_equal(srv_respond(a.held, 200, NULL, 0, "late", 4, NULL, 0), SMOP_OK);
    srv_req_release(a.held);
}

static void test_close_with_a_suspended_request(void **state)
{
    struct app a = {0};
    srv *s = start(&a);
    char url[128], err[256];
    http_request req;
    http_call *call;
    struct got g = {0};

    (void)state;
    memset(&req, 0, sizeof req);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hold", srv_port(s));
    req.url = url;
    assert_int_equal(http_start(&req, got_done, &g, &call, err, sizeof err), SMOP_OK);
    while (!a.held)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    close_server(s);                   /* MHD must not see it suspended */
    assert_true(srv_req_closed(a.held));
    assert_int_equal(a.notified, 1);
    while (!g.done)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    assert_int_equal(g.status, 0);
    srv_req_release(a.held);
}

static void test_start_failures(void **state)
{
    struct app a = {0};
    srv *s = start(&a), *other = NULL;
    srv_config cfg;
    char err[256];

    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = app_request;
    cfg.port = srv_port(s);
    assert_int_equal(srv_start(&cfg, &other, err, sizeof err), SMOP_ERR);
    assert_null(other);
    assert_non_null(strstr(err, "Address already in use"));
    cfg.port = 0;
    cfg.host = "::1";
    if (srv_start(&cfg, &other, err, sizeof err) == SMOP_OK)   /* no IPv6 is fine */
        close_server(other);
    cfg.host = "example.com";
    assert_int_equal(srv_start(&cfg, &other, err, sizeof err), SMOP_ERR);
    assert_non_null(strstr(err, "numeric IP"));
    cfg.host = NULL;
    cfg.tls_cert = "junk";
    assert_int_equal(srv_start(&cfg, &other, err, sizeof err), SMOP_ERR);
    assert_non_null(strstr(err, "tls needs both"));
    cfg.tls_key = "junk";
    assert_int_equal(srv_start(&cfg, &other, err, sizeof err), SMOP_ERR);
    assert_non_null(strstr(err, "certificate"));
    close_server(s);
}

/* ---- smop.server when the VM goes away ---- */

static const char *const abandon_script =
    "local server = require('smop.server')\n"
    "local http = require('smop.http')\n"
    "local task = require('smop.task')\n"
    "local close = ...\n"
    "local srv = assert(server.listen({ handler = function(req)\n"
    "  if req.path == '/sleep' then\n"
    "    task.sleep(100)\n"
    "    return 200, {}, 'late'\n"
    "  end\n"
    "  local w = req:stream(200)\n"
    "  if req.path == '/flood' then\n"
    "    while w:write(string.rep('x', 65535) .. '\\n') do end\n"
    "  else\n"
    "    w:write('hello\\n')\n"
    "    task.sleep(100)\n"
    "  end\n"
    "end }))\n"
    "local watch = assert(http.stream({ url = srv.url .. '/watch' }))\n"
    "assert(watch:read_line() == 'hello')\n"
    "local flood = assert(http.stream({ url = srv.url .. '/flood' }))\n"
    "task.spawn(http.request, { url = srv.url .. '/sleep' })\n"
    "task.sleep(0.3)\n"
    "if close then srv:close() end\n"
    "keep = { watch, flood }\n"
    "return 'left'\n";

static void run_and_abandon(int close_first)
{
    scripts_set *set = scripts_new();
    lvm_config cfg = {0};
    char err[256];
    lvm *vm;
    lua_State *L;
    lvm_task *t;

    assert_non_null(set);
    cfg.scripts = set;
    vm = lvm_new(&cfg, err, sizeof err);
    assert_non_null(vm);
    L = lvm_state(vm);
    assert_int_equal(luaL_loadstring(L, abandon_script), LUA_OK);
    lua_pushboolean(L, close_first);
    t = lvm_spawn(L, 1, "abandon", NULL, NULL);
    assert_non_null(t);
    lvm_task_ref(t);
    assert_int_equal(lvm_run(vm, t), SMOP_OK);
    assert_null(lvm_task_error(t));
    assert_string_equal(lua_tostring(lvm_task_thread(t), 1), "left");
    lvm_task_unref(t);
    lvm_free(vm);      /* handlers suspended, streams open, maybe still listening */
    scripts_free(set);
}

static void test_vm_closes_while_serving(void **state)
{
    (void)state;
    run_and_abandon(0);
}

static void test_vm_closes_after_server_closed(void **state)
{
    (void)state;
    run_and_abandon(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_and_refuses_a_second_answer),
        cmocka_unit_test(test_release_without_answer_drops_the_connection),
        cmocka_unit_test(test_request_outlives_client_and_server),
        cmocka_unit_test(test_close_with_a_suspended_request),
        cmocka_unit_test(test_start_failures),
        cmocka_unit_test(test_vm_closes_while_serving),
        cmocka_unit_test(test_vm_closes_after_server_closed),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
