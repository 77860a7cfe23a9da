/*
 * lsandbox.h - the environment scripts run in (DESIGN contract 4).
 *
 * Called once by lvm_new inside a protected call, with the standard libraries
 * open. sandbox = 1 builds the restricted environment described in lvm.h and
 * makes it the environment of every script loaded through require;
 * sandbox = 0 keeps the full standard library (tests) and adds a package
 * searcher for the script set and preloads for host modules. Both modes
 * install the host-aware coroutine.resume/wrap, which pass a host call's
 * yield (identified by `marker`) up to the task and its results back down.
 */
#ifndef LSANDBOX_H
#define LSANDBOX_H

#include <lua.h>

#include "scripts.h"

/* Largest string string.rep may build and largest subject the pattern
 * functions accept: C code is not interrupted by the CPU budget. */
#define LSANDBOX_MAX_REP ((size_t)64 << 20)
#define LSANDBOX_MAX_PATTERN_SUBJECT ((size_t)1 << 20)

void lsandbox_open(lua_State *L, int sandbox, const scripts_set *scripts,
                   void *marker);

/* Pushes the environment scripts see (the sandbox table, or _G). */
void lsandbox_push_env(lua_State *L);

/* The script set require reads from (borrowed; NULL when there is none). */
const scripts_set *lsandbox_scripts(lua_State *L);

#endif
