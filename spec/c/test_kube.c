/* Unit tests for the informer's pieces that need no server: the wire
 * scanners (watch events as kube-wire recorded them, list pages, Status
 * bodies, malformed input) and the key -> resourceVersion map (growth and
 * deletion under collisions, checked against a plain array). The informer's
 * behaviour against a server is in spec/kube_informer_spec.lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_map.h"
#include "kube_wire.h"
#include "smop.h"

static const char *str(const kube_str *s)
{
    static char bufs[4][512];
    static int i;
    char *b = bufs[i++ % 4];

    if (!s->p)
        return "(absent)";
    kube_str_copy(s, b, 512);
    return b;
}

static void test_event_modified(void **state)
{
    /* the shape of kube-wire 13's events, trimmed; "object" before "type" too */
    static const char line[] =
        "{\"object\":{\"apiVersion\":\"sagemaker.aws.amazon.com/v1\",\"kind\":\"TrainingJob\","
        "\"metadata\":{\"annotations\":{\"a\":\"{\\\"name\\\":\\\"x\\\"}\"},"
        "\"managedFields\":[{\"fieldsV1\":{\"f:status\":{\".\":{}}}}],\"name\":\"xgboost-mnist\","
        "\"namespace\":\"default\",\"resourceVersion\":\"210\","
        "\"uid\":\"fd1fc888-9737-4ed6-a96d-7694ea74f920\"},\"spec\":{\"eta\":0.2,"
        "\"name\":\"not-this-one\",\"list\":[1,2,{\"metadata\":{\"name\":\"nor-this\"}}]}},"
        "\"type\":\"MODIFIED\"}";
    kube_wire_event ev;
    char err[128];

    (void)state;
    assert_int_equal(kube_wire_event_scan(line, sizeof line - 1, &ev, err, sizeof err), SMOP_OK);
    assert_string_equal(str(&ev.type), "MODIFIED");
    assert_string_equal(str(&ev.meta.name), "xgboost-mnist");
    assert_string_equal(str(&ev.meta.ns), "default");
    assert_string_equal(str(&ev.meta.rv), "210");
    assert_string_equal(str(&ev.meta.uid), "fd1fc888-9737-4ed6-a96d-7694ea74f920");
    assert_int_equal(line[ev.obj_off], '{');
    assert_int_equal(line[ev.obj_off + ev.obj_len - 1], '}');
    assert_int_equal(ev.obj_off, strlen("{\"object\":"));
    assert_int_equal(ev.obj_off + ev.obj_len, sizeof line - 1 - strlen(",\"type\":\"MODIFIED\"}"));
    assert_true(kube_str_eq(&ev.type, "MODIFIED"));
    assert_false(kube_str_eq(&ev.type, "MODIFIE"));
}

static void test_event_bookmark_and_error(void **state)
{
    static const char bookmark[] =
        "{\"type\":\"BOOKMARK\",\"object\":{\"apiVersion\":\"sagemaker.aws.amazon.com/v1\","
        "\"kind\":\"TrainingJob\",\"metadata\":{\"resourceVersion\":\"211\"}}}";
    static const char error[] =
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
        "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 198 "
        "(202)\",\"reason\":\"Expired\",\"code\":410}}";
    kube_wire_event ev;
    char err[128];

    (void)state;
    assert_int_equal(kube_wire_event_scan(bookmark, sizeof bookmark - 1, &ev, err, sizeof err),
                     SMOP_OK);
    assert_string_equal(str(&ev.meta.rv), "211");
    assert_null(ev.meta.name.p);
    assert_int_equal(kube_wire_event_scan(error, sizeof error - 1, &ev, err, sizeof err), SMOP_OK);
    assert_string_equal(str(&ev.type), "ERROR");
    assert_true(ev.status.has_code);
    assert_int_equal(ev.status.code, 410);
    assert_string_equal(str(&ev.status.reason), "Expired");
    assert_string_equal(str(&ev.status.message), "too old resource version: 198 (202)");
    assert_string_equal(str(&ev.status.kind), "Status");
}

static void test_event_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"type\":\"ADDED\"}",
        "{\"object\":{}}",
        "{\"type\":\"ADDED\",\"object\":[]}",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}",
        "{\"type\":\"ADDED\",\"object\":{}} trailing",
        "{\"type\":\"ADDED\",\"object\":{\"a\":tru}}",
    };
    kube_wire_event ev;
    char err[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(kube_wire_event_scan(bad[i], strlen(bad[i]), &ev, err, sizeof err),
                         SMOP_ERR);
        assert_true(err[0] != '\0');
    }
}

struct items {
    int n;
    char names[8][64];
    char text[8][256];
    int stop_at;
};

static int collect(void *ud, const char *obj, size_t len, const kube_meta *m)
{
    struct items *it = ud;

    if (it->n == it->stop_at)
        return 1;
    snprintf(it->names[it->n], sizeof it->names[0], "%s/%s", str(&m->ns), str(&m->name));
    snprintf(it->text[it->n], sizeof it->text[0], "%.*s", (int)len, obj);
    it->n++;
    return 0;
}

static void test_list_page(void **state)
{
    /* the real server writes items before metadata (kube-wire 14) */
    static const char page[] =
        "{\n  \"apiVersion\": \"sagemaker.aws.amazon.com/v1\",\n  \"items\": [\n"
        "    {\"metadata\": {\"name\": \"a\", \"namespace\": \"ns1\", \"resourceVersion\": \"5\"}},\n"
        "    {\"metadata\": {\"name\": \"b\"}, \"spec\": {\"x\": [1, 2]}}\n  ],\n"
        "  \"kind\": \"TrainingJobList\",\n"
        "  \"metadata\": {\"continue\": \"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjE1fQ\\u003d\\u003d\","
        " \"resourceVersion\": \"215\"}\n}\n";
    struct items it = {.stop_at = -1};
    kube_wire_list out;
    char err[128];

    (void)state;
    assert_int_equal(kube_wire_list_scan(page, sizeof page - 1, collect, &it, &out, err,
                                         sizeof err), SMOP_OK);
    assert_int_equal(it.n, 2);
    assert_string_equal(it.names[0], "ns1/a");
    assert_string_equal(it.names[1], "(absent)/b");
    assert_string_equal(it.text[1], "{\"metadata\": {\"name\": \"b\"}, \"spec\": {\"x\": [1, 2]}}");
    assert_string_equal(str(&out.rv), "215");
    assert_string_equal(str(&out.cont), "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjE1fQ==");
}

static void test_list_edges(void **state)
{
    static const char empty[] = "{\"items\":null,\"metadata\":{\"resourceVersion\":\"9\"}}";
    static const char no_rv[] = "{\"items\":[],\"metadata\":{}}";
    static const char bad_item[] = "{\"items\":[1],\"metadata\":{\"resourceVersion\":\"9\"}}";
    static const char two[] = "{\"items\":[{},{}],\"metadata\":{\"resourceVersion\":\"9\"}}";
    struct items it = {.stop_at = -1};
    kube_wire_list out;
    char err[128];

    (void)state;
    assert_int_equal(kube_wire_list_scan(empty, sizeof empty - 1, collect, &it, &out, err,
                                         sizeof err), SMOP_OK);
    assert_int_equal(it.n, 0);
    assert_int_equal(kube_wire_list_scan(no_rv, sizeof no_rv - 1, collect, &it, &out, err,
                                         sizeof err), SMOP_ERR);
    assert_string_equal(err, "list without metadata.resourceVersion");
    assert_int_equal(kube_wire_list_scan(bad_item, sizeof bad_item - 1, collect, &it, &out, err,
                                         sizeof err), SMOP_ERR);
    /* a callback that stops the scan: SMOP_ERR, err left alone */
    it.stop_at = 1;
    snprintf(err, sizeof err, "untouched");
    assert_int_equal(kube_wire_list_scan(two, sizeof two - 1, collect, &it, &out, err,
                                         sizeof err), SMOP_ERR);
    assert_string_equal(err, "untouched");
    assert_int_equal(it.n, 1);
}

static void test_status(void **state)
{
    static const char body[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"trainingjobs.sagemaker.aws.amazon.com \\\"x\\\" is forbidden\","
        "\"reason\":\"Forbidden\",\"details\":{\"name\":\"x\",\"kind\":\"trainingjobs\"},"
        "\"code\":403}";
    kube_status st;
    char small[16];

    (void)state;
    assert_int_equal(kube_wire_status_scan(body, sizeof body - 1, &st), SMOP_OK);
    assert_int_equal(st.code, 403);
    assert_string_equal(str(&st.reason), "Forbidden");
    assert_string_equal(str(&st.message),
                        "trainingjobs.sagemaker.aws.amazon.com \"x\" is forbidden");
    /* cut to fit, escapes decoded first; the full length is returned */
    assert_int_equal(kube_str_copy(&st.message, small, sizeof small), 54);
    assert_string_equal(small, "trainingjobs.sa");
    assert_int_equal(kube_wire_status_scan("<html>", 6, &st), SMOP_ERR);
    assert_false(st.has_code);
}

/* ---- map ---- */

static void key_of(int i, char *buf, size_t size)
{
    snprintf(buf, size, "team-%d/xgboost-mnist-%06d", i % 7, i);
}

static void test_map_put_get_replace(void **state)
{
    kube_map m = {0};
    kube_map_entry *e;

    (void)state;
    assert_null(kube_map_get(&m, "a/b", 3));
    assert_int_equal(kube_map_put(&m, "a/b", 3, "uid-1", 5, "10", 2, 1), SMOP_OK);
    assert_int_equal(kube_map_put(&m, "a/b", 3, "uid-1", 5, "11", 2, 2), SMOP_OK);
    assert_int_equal(m.count, 1);
    e = kube_map_get(&m, "a/b", 3);
    assert_non_null(e);
    assert_string_equal(kube_map_key(e), "a/b");
    assert_string_equal(kube_map_uid(e), "uid-1");
    assert_string_equal(kube_map_rv(e), "11");
    assert_int_equal(e->gen, 2);
    assert_null(kube_map_get(&m, "a/c", 3));
    assert_int_equal(kube_map_put(&m, "", 0, "", 0, "1", 1, 1), SMOP_ERR);
    kube_map_remove(&m, "zzz", 3);   /* absent: nothing happens */
    assert_int_equal(m.count, 1);
    kube_map_free(&m);
}

/* Inserts many keys, removes a pseudo-random two thirds (backward shifts
 * through collision chains), and checks every key against the truth. */
static void test_map_many(void **state)
{
    enum { N = 20000 };
    kube_map m = {0};
    static char present[N];
    char key[64];
    unsigned x = 12345;
    int i, count = 0;

    (void)state;
    for (i = 0; i < N; i++) {
        key_of(i, key, sizeof key);
        assert_int_equal(kube_map_put(&m, key, strlen(key), "u", 1, "1", 1, 1), SMOP_OK);
        present[i] = 1;
    }
    assert_int_equal(m.count, N);
    for (i = 0; i < 2 * N; i++) {
        int k;

        x = x * 1103515245u + 12345u;
        k = (int)((x >> 8) % N);
        key_of(k, key, sizeof key);
        kube_map_remove(&m, key, strlen(key));
        present[k] = 0;
    }
    for (i = 0; i < N; i++) {
        kube_map_entry *e;

        key_of(i, key, sizeof key);
        e = kube_map_get(&m, key, strlen(key));
        if (present[i]) {
            assert_non_null(e);
            assert_string_equal(kube_map_key(e), key);
            count++;
        } else {
            assert_null(e);
        }
    }
    assert_int_equal(m.count, (size_t)count);
    kube_map_free(&m);
    assert_int_equal(m.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_modified),
        cmocka_unit_test(test_event_bookmark_and_error),
        cmocka_unit_test(test_event_malformed),
        cmocka_unit_test(test_list_page),
        cmocka_unit_test(test_list_edges),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_map_put_get_replace),
        cmocka_unit_test(test_map_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
