/*
 * main.c - `smop <command>`: global options, the VM, and the three ways to
 * run Lua: a built-in command (the `cli` module), `exec` (a user file in the
 * sandbox) and `test` (busted, unsandboxed).
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "log.h"
#include "lsandbox.h"
#include "lsys.h"
#include "lvm.h"
#include "scripts.h"
#include "smop.h"

#define EXIT_USAGE 2

struct options {
    const char *scripts_dir;
    size_t mem_limit;
    long cpu_budget;
    int argc;           /* the command and its arguments */
    char **argv;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "smop: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'smop --help' for usage.\n");
    return EXIT_USAGE;
}

static int parse_size_mib(const char *s, size_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v == 0 || v > (1UL << 20))
        return SMOP_ERR;
    *out = (size_t)v << 20;
    return SMOP_OK;
}

/* Global options come before the command. Returns -1 to go on, else an
 * exit code. */
static int parse_options(int argc, char **argv, struct options *o)
{
    int i;
    enum log_level level;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("smop %s\n", SMOP_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            break;      /* handled by the cli module as `help` */
        } else if (strcmp(a, "--scripts-dir") == 0 && v) {
            o->scripts_dir = v;
            i++;
        } else if (strcmp(a, "--log-format") == 0 && v) {
            if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
                return usage_error("--log-format must be text or json, not '%s'", v);
            log_set_json(strcmp(v, "json") == 0);
            i++;
        } else if (strcmp(a, "--log-level") == 0 && v) {
            if (log_parse_level(v, &level) != SMOP_OK)
                return usage_error("--log-level must be debug, info, warn or error, not '%s'", v);
            log_set_level(level);
            i++;
        } else if (strcmp(a, "--memory-limit") == 0 && v) {
            if (parse_size_mib(v, &o->mem_limit) != SMOP_OK)
                return usage_error("--memory-limit takes a size in MiB, not '%s'", v);
            i++;
        } else if (strcmp(a, "--cpu-budget") == 0 && v) {
            o->cpu_budget = strtol(v, NULL, 10);
            if (o->cpu_budget <= 0)
                return usage_error("--cpu-budget takes a positive instruction count, not '%s'", v);
            i++;
        } else {
            return usage_error("unknown option or missing value: %s", a);
        }
    }
    o->argc = argc - i;
    o->argv = argv + i;
    return -1;
}

static void push_args(lua_State *L, int argc, char **argv, int first)
{
    int i;

    lua_createtable(L, argc, 0);
    for (i = first; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - first + 1);
    }
}

/* Runs the task on the stack top (function + nargs) to completion and turns
 * its outcome into an exit code: an integer it returns, else 0; 1 if it
 * failed (message on stderr). */
static int run_main_task(lvm *vm, int nargs, const char *name)
{
    lua_State *L = lvm_state(vm);
    lvm_task *t = lvm_spawn(L, nargs, name, NULL, NULL);
    lua_State *co;
    int code = 0;

    if (!t) {
        fprintf(stderr, "smop: out of memory\n");
        return 1;
    }
    lvm_task_ref(t);
    if (lvm_run(vm, t) != SMOP_OK) {
        fprintf(stderr, "smop: %s: stuck waiting on nothing\n", name);
        code = 1;
    } else if (lvm_task_error(t)) {
        code = 1;   /* already logged by the task's finish */
    } else {
        co = lvm_task_thread(t);
        if (lua_gettop(co) >= 1 && lua_isinteger(co, 1))
            code = (int)lua_tointeger(co, 1);
    }
    lvm_task_unref(t);
    return code;
}

static int protected_setup(lua_State *L)
{
    int (*setup)(lua_State *) = (int (*)(lua_State *))lua_touserdata(L, 1);

    lua_remove(L, 1);
    return setup(L);
}

/* `smop exec FILE ARGS...`: a user's Lua file, sandboxed, as one task. */
static int load_exec(lua_State *L)
{
    struct options *o = lua_touserdata(L, 1);
    const char *path = o->argv[1];
    char chunk[512];
    FILE *f = fopen(path, "rb");
    luaL_Buffer b;
    size_t n;
    char *p;

    if (!f)
        return luaL_error(L, "cannot open %s", path);
    luaL_buffinit(L, &b);
    do {
        p = luaL_prepbuffer(&b);
        n = fread(p, 1, LUAL_BUFFERSIZE, f);
        luaL_addsize(&b, n);
    } while (n == LUAL_BUFFERSIZE);
    fclose(f);
    luaL_pushresult(&b);
    snprintf(chunk, sizeof chunk, "@%s", path);
    n = 0;
    p = (char *)lua_tolstring(L, -1, &n);
    if (luaL_loadbufferx(L, p, n, chunk, "t") != LUA_OK)
        return lua_error(L);
    lsandbox_push_env(L);
    lua_setupvalue(L, -2, 1);
    lua_remove(L, -2);
    return 1;
}

static int cmd_exec(lvm *vm, struct options *o)
{
    lua_State *L = lvm_state(vm);
    int i;

    if (o->argc < 2) {
        fprintf(stderr, "smop exec: usage: smop exec FILE [ARGS...]\n");
        return EXIT_USAGE;
    }
    lua_pushcfunction(L, protected_setup);
    lua_pushlightuserdata(L, (void *)load_exec);
    lua_pushlightuserdata(L, o);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, "smop exec: %s\n", lua_tostring(L, -1));
        return 1;
    }
    for (i = 2; i < o->argc; i++)
        lua_pushstring(L, o->argv[i]);
    return run_main_task(vm, o->argc - 2, o->argv[1]);
}

/* `smop <command>` for commands written in Lua: cli.main(sys, args). */
static int load_cli(lua_State *L)
{
    struct options *o = lua_touserdata(L, 1);

    lvm_require(L, "cli");
    lua_getfield(L, -1, "main");
    lsys_push(L);
    if (o->argc == 0)
        push_args(L, 1, (char *[]){"help"}, 0);
    else if (strcmp(o->argv[0], "--help") == 0 || strcmp(o->argv[0], "-h") == 0)
        push_args(L, 1, (char *[]){"help"}, 0);
    else
        push_args(L, o->argc, o->argv, 0);
    return 3;
}

static int cmd_cli(lvm *vm, struct options *o)
{
    lua_State *L = lvm_state(vm);

    lua_pushcfunction(L, protected_setup);
    lua_pushlightuserdata(L, (void *)load_cli);
    lua_pushlightuserdata(L, o);
    if (lua_pcall(L, 2, 3, 0) != LUA_OK) {
        fprintf(stderr, "smop: %s\n", lua_tostring(L, -1));
        return 1;
    }
    return run_main_task(vm, 2, o->argc ? o->argv[0] : "help");
}

/* `smop test`: busted inside the host. busted ends with os.exit, which we
 * turn into an error carrying the code so the VM is closed properly. */
static char test_exit_key;

static int test_exit(lua_State *L)
{
    lua_Integer code = lua_isboolean(L, 1) ? (lua_toboolean(L, 1) ? 0 : 1)
                                           : luaL_optinteger(L, 1, 0);

    lua_pushinteger(L, code);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &test_exit_key);
    lua_pushlightuserdata(L, &test_exit_key);
    return lua_error(L);
}

static int load_busted(lua_State *L)
{
    struct options *o = lua_touserdata(L, 1);

    lua_getglobal(L, "os");
    lua_pushcfunction(L, test_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
    push_args(L, o->argc, o->argv, 1);
    lua_pushliteral(L, "busted");
    lua_rawseti(L, -2, 0);
    lua_setglobal(L, "arg");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "busted.runner");
    lua_call(L, 1, 1);
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "standalone");
    lua_call(L, 1, 0);
    return 0;
}

static int cmd_test(lvm *vm, struct options *o)
{
    lua_State *L = lvm_state(vm);
    int code = 0;

    lua_pushcfunction(L, protected_setup);
    lua_pushlightuserdata(L, (void *)load_busted);
    lua_pushlightuserdata(L, o);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        if (lua_touserdata(L, -1) != &test_exit_key) {
            fprintf(stderr, "smop test: %s\n", luaL_tolstring(L, -1, NULL));
            return 1;
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &test_exit_key);
        code = (int)lua_tointeger(L, -1);
    }
    return code;
}

static int is_fake_server(const struct options *o)
{
    return o->argc > 0 && (strcmp(o->argv[0], "fake-aws") == 0 ||
                           strcmp(o->argv[0], "fake-kube") == 0 ||
                           strcmp(o->argv[0], "dev") == 0);
}

/* Called as kubectl-smlogs (kubectl runs plugins as kubectl-<name>): the
 * same binary by another name. */
static int is_kubectl_plugin(const char *argv0)
{
    const char *base = strrchr(argv0, '/');

    return strcmp(base ? base + 1 : argv0, "kubectl-smlogs") == 0;
}

/* The plugin's arguments are `smop logs ARGS`: kubectl passes the user's
 * flags as they are, so no global options are parsed. Returns -1 to go on,
 * else an exit code, as parse_options. The array is static: main's argv
 * lives as long. */
static int plugin_options(int argc, char **argv, struct options *o)
{
    static char logs[] = "logs";
    static char *args[256];
    int i;

    if (argc >= (int)(sizeof args / sizeof args[0]))
        return usage_error("kubectl-smlogs: too many arguments (%d)", argc - 1);
    args[0] = logs;
    for (i = 1; i < argc; i++)
        args[i] = argv[i];
    o->argc = argc;
    o->argv = args;
    return -1;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    char err[512];
    scripts_set *scripts = NULL;
    lvm_config cfg = {0};
    lvm *vm = NULL;
    int code;

    if (is_kubectl_plugin(argv[0]))
        code = plugin_options(argc, argv, &o);
    else
        code = parse_options(argc, argv, &o);
    if (code >= 0)
        return code;
    code = 1;
    if (http_init(err, sizeof err) != SMOP_OK) {
        fprintf(stderr, "smop: %s\n", err);
        return 1;
    }
    scripts = scripts_new();
    if (!scripts || scripts_add_builtin(scripts) != SMOP_OK) {
        fprintf(stderr, "smop: out of memory\n");
        goto done;
    }
    if (o.scripts_dir && scripts_load_dir(scripts, o.scripts_dir, err, sizeof err) != SMOP_OK) {
        fprintf(stderr, "smop: %s\n", err);
        goto done;
    }
    cfg.scripts = scripts;
    cfg.mem_limit = o.mem_limit;
    cfg.cpu_budget = o.cpu_budget;
    cfg.sandbox = !(o.argc > 0 && strcmp(o.argv[0], "test") == 0);
    if (!cfg.sandbox) {
        /* busted and its specs run unsandboxed and may hold a lot at once */
        if (!cfg.mem_limit)
            cfg.mem_limit = (size_t)4 << 30;
        if (!cfg.cpu_budget)
            cfg.cpu_budget = 1L << 40;
    } else if (is_fake_server(&o)) {
        /* The fakes are our own code; one request after a big clock jump
         * may settle thousands of jobs. The cap still stops a bug. */
        if (!cfg.mem_limit)
            cfg.mem_limit = (size_t)2 << 30;
        if (!cfg.cpu_budget)
            cfg.cpu_budget = 2000000000L;
    }
    vm = lvm_new(&cfg, err, sizeof err);
    if (!vm) {
        fprintf(stderr, "smop: %s\n", err);
        goto done;
    }
    if (!cfg.sandbox)
        code = cmd_test(vm, &o);
    else if (o.argc > 0 && strcmp(o.argv[0], "exec") == 0)
        code = cmd_exec(vm, &o);
    else
        code = cmd_cli(vm, &o);
done:
    lvm_free(vm);
    http_shutdown();
    scripts_free(scripts);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    uv_loop_close(uv_default_loop());
    return code;
}
