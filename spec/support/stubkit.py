"""Shared start-up of the specs' Python test servers.

serve(server) prints "<port> <pid>" as the first line (spec/support/server.lua
reads it), exits when the parent process goes away (so a crashed spec run
leaves nothing behind), and serves forever.
"""
import os
import threading
import time


def _watch_parent(ppid):
    while os.getppid() == ppid:
        time.sleep(0.2)
    os._exit(0)


def serve(server):
    server.daemon_threads = True
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    print(server.server_address[1], os.getpid(), flush=True)
    server.serve_forever()
