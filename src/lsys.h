/*
 * lsys.h - the capabilities the built-in commands need and kind scripts must
 * not have: process arguments, stdout/stderr, environment, files, processes.
 *
 * Not a require-able module: lsys_push builds the table that main hands to
 * the `cli` module's main(sys, args) only, so a script loaded from a
 * ConfigMap can never reach it.
 */
#ifndef LSYS_H
#define LSYS_H

#include <lua.h>

/* Pushes the sys table:
 *   sys.stdout(s), sys.stderr(s)        write without a newline
 *   sys.getenv(name)     -> string | nil
 *   sys.read_file(path)  -> string | nil, err      (capped at 64 MiB)
 *   sys.write_file(path, s [, mode [, private]]) -> true | nil, err
 *                        (mode "w" or "a"; private: created 0600)
 *   sys.rename(from, to) -> true | nil, err   (atomic replace: write FILE.tmp, rename)
 *   sys.list_dir(path)   -> { names, sorted } | nil, err   (no "." or "..")
 *   sys.wait_signal()    -> "SIGINT" | "SIGTERM"   (yields the task until one arrives;
 *                           while a task waits, those signals do not kill the process)
 *   sys.set_log{format=, level=} -> true | nil, err   (text|json; debug..error)
 *   sys.is_tty(fd)       -> boolean
 *   sys.run(command, args, env, opts) -> stdout | nil, err, reason
 *                        (yields; runs a program, see lproc.h)
 *   sys.version          the version string
 */
void lsys_push(lua_State *L);

#endif
