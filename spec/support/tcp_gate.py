"""A loopback port that refuses connections until opened, then forwards them.

    python3 spec/support/tcp_gate.py TARGET_PORT

Binds 127.0.0.1 on a free port without listening, so a connection is refused
as by a closed port, and prints "<port> <pid>" (stubkit). After SIGUSR1 it
listens and forwards every connection, bytes unchanged (TLS included), to
127.0.0.1:TARGET_PORT: an API server that "comes up" on an address a
kubeconfig already names, with the CA it already trusts.
"""
import signal
import socket
import socketserver
import sys
import threading

import stubkit

TARGET = int(sys.argv[1])


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Forward(socketserver.BaseRequestHandler):
    def handle(self):
        with socket.create_connection(("127.0.0.1", TARGET)) as up:
            back = threading.Thread(target=pipe, args=(up, self.request), daemon=True)
            back.start()
            pipe(self.request, up)
            back.join()


server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Forward, bind_and_activate=False)
server.server_bind()
signal.signal(signal.SIGUSR1, lambda *_: server.server_activate())
stubkit.serve(server)
