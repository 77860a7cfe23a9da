/* Unit tests for the Lua VM: allocator cap, CPU budget, task outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <string.h>
#include <uv.h>

#include "lvm.h"
#include "scripts.h"
#include "smop.h"

static lvm *new_vm(size_t mem, long budget, scripts_set **set)
{
    lvm_config cfg = {0};
    char err[256];
    lvm *vm;

    *set = scripts_new();
    assert_non_null(*set);
    cfg.mem_limit = mem;
    cfg.cpu_budget = budget;
    cfg.sandbox = 1;
    cfg.scripts = *set;
    vm = lvm_new(&cfg, err, sizeof err);
    assert_non_null(vm);
    return vm;
}

static void free_vm(lvm *vm, scripts_set *set)
{
    lvm_free(vm);
    scripts_free(set);
}

static void test_allocator_refuses_past_cap(void **state)
{
    scripts_set *set;
    lvm *vm = new_vm((size_t)2 << 20, 0, &set);
    lua_State *L = lvm_state(vm);
    size_t before;

    (void)state;
    lua_gc(L, LUA_GCCOLLECT, 0);
    before = lvm_mem_used(vm);
    assert_true(before > 0);
    assert_true(before < ((size_t)2 << 20));
    assert_int_equal(luaL_loadstring(L, "local t = {} for i = 1, 1e8 do t[i] = i end"), LUA_OK);
    assert_int_equal(lua_pcall(L, 0, 0, 0), LUA_ERRMEM);
    assert_true(lvm_mem_used(vm) <= lvm_mem_limit(vm));
    lua_pop(L, 1);
    /* the garbage goes, and the VM keeps working */
    lua_gc(L, LUA_GCCOLLECT, 0);
    assert_true(lvm_mem_used(vm) < before + 4096);
    assert_int_equal(luaL_dostring(L, "return 6 * 7"), LUA_OK);
    assert_int_equal(lua_tointeger(L, -1), 42);
    free_vm(vm, set);
}

static void test_tiny_cap_fails_cleanly(void **state)
{
    lvm_config cfg = {0};
    scripts_set *set = scripts_new();
    char err[256] = "";

    (void)state;
    cfg.mem_limit = 1024;   /* too small for the standard libraries */
    cfg.sandbox = 1;
    cfg.scripts = set;
    assert_null(lvm_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "lua:"));
    scripts_free(set);
}

static void test_budget_stops_loop_with_location(void **state)
{
    scripts_set *set;
    lvm *vm = new_vm(0, 100000, &set);
    lua_State *L = lvm_state(vm);
    lvm_task *spin, *ok;

    (void)state;
    assert_int_equal(luaL_loadbuffer(L, "local n = 0\nwhile true do n = n + 1 end", 39, "@spin.lua"),
                     LUA_OK);
    spin = lvm_spawn(L, 0, "spin", NULL, NULL);
    assert_non_null(spin);
    lvm_task_ref(spin);
    assert_int_equal(luaL_loadstring(L, "local s = 0 for i = 1, 1000 do s = s + i end return s"), LUA_OK);
    ok = lvm_spawn(L, 0, "sum", NULL, NULL);
    lvm_task_ref(ok);
    assert_int_equal(lvm_run(vm, NULL), SMOP_OK);
    assert_true(lvm_task_done(spin));
    assert_non_null(lvm_task_error(spin));
    assert_non_null(strstr(lvm_task_error(spin),
                           "spin.lua:2: CPU budget of 100000 instructions per resume exceeded"));
    assert_true(lvm_task_done(ok));
    assert_null(lvm_task_error(ok));
    assert_int_equal(lua_tointeger(lvm_task_thread(ok), 1), 500500);
    lvm_task_unref(spin);
    lvm_task_unref(ok);
    free_vm(vm, set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_refuses_past_cap),
        cmocka_unit_test(test_tiny_cap_fails_cleanly),
        cmocka_unit_test(test_budget_stops_loop_with_location),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    uv_loop_close(uv_default_loop());
    return rc;
}
