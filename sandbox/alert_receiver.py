"""The alert receiver Alertmanager posts to in the sandbox: every delivery appended as one JSON line.

Standalone (no project imports) so it runs as the service user from any directory:
    python alert_receiver.py --port N --out deliveries.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(out_path: str):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                payload = json.loads(body or b"null")
            except ValueError:
                payload = {"unparsed": body.decode(errors="replace")}
            with open(out_path, "a") as out:
                out.write(json.dumps({"received_at": time.time(), "path": self.path, "payload": payload}) + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            # Readiness probe for the supervisor.
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, fmt: str, *args) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), make_handler(args.out)).serve_forever()


if __name__ == "__main__":
    main()
