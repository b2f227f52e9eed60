#!/usr/bin/env python3
"""A TCP echo server (standard library only), to try connman against:

    python3 echo_server.py --port 7000

It prints ``listening on 127.0.0.1:PORT`` once it accepts connections, echoes
every byte back, and runs until interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import socketserver


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


def main() -> None:
    ap = argparse.ArgumentParser(description="A TCP echo server.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7000, help="0: any free port")
    args = ap.parse_args()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer((args.host, args.port), Echo) as server:
        host, port = server.socket.getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
