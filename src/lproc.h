/*
 * lproc.h - sys.run: run a program to completion without blocking the loop.
 *
 * For the CLI's sys table only (lsys_push puts it there): kind scripts and
 * ConfigMap scripts never see it. Its user is kube.config, which runs
 * kubeconfig exec credential plugins (`aws eks get-token`, ...) with it, the
 * way client-go's exec plugin runner does.
 *
 *   sys.run(command [, args [, env [, opts]]])
 *     -> stdout | nil, err, reason
 *
 *   command  found through PATH unless it contains a slash (execvp)
 *   args     { "arg1", ... } (strings; argv[0] is command)
 *   env      { NAME = "value" }: added to (and overriding) this process's
 *            environment
 *   opts     { timeout = seconds }  (default 60)
 *
 * The calling task yields until the program has exited and both of its
 * output pipes are closed (or the timeout passes); other tasks run meanwhile.
 * stdin is /dev/null, and no other descriptor of ours is inherited (all are
 * marked close-on-exec first). stdout is returned, at most 1 MiB. stderr is not
 * passed through (it would break one-JSON-object-per-line logs): its last
 * 1 KiB is kept and, on failure, appended to err on one line.
 *
 * The program runs in a session of its own (setsid); when it times out,
 * prints too much, or its task is abandoned, the whole process group gets
 * SIGKILL, so a plugin's children cannot keep the call waiting.
 *
 * err never names the command (the caller does); reason is one of
 *   "notfound"  no such program (err: "not found in PATH" | "no such file")
 *   "spawn"     it could not be started (err: e.g. "permission denied")
 *   "timeout"   err: "timed out after N s"
 *   "output"    err: "printed more than 1 MiB on stdout" (or no memory for it)
 *   "exit"      err: "exit status N[: stderr]"
 *   "signal"    err: "killed by signal N[: stderr]"
 * Wrong argument types, a string with a NUL byte, an env name that is empty
 * or has "=", and a call outside a task or where it cannot yield (through a
 * C function) are Lua errors (bugs of the caller), raised before anything
 * starts.
 */
#ifndef LPROC_H
#define LPROC_H

#include <lua.h>

/* Pushes the sys.run function (and registers the metatable it needs). */
void lproc_push_run(lua_State *L);

#endif
