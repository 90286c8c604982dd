"""A loopback HTTP server for download tests: bytes by path, Range requests, and an optional
response that hangs up halfway (to test resuming)."""

import hashlib
import http.server
import re
import threading


class Server:
    """Loopback HTTP server for bytes by path, with Range support and an optional dropped response."""

    def __init__(self):
        self.files, self.log, self.drop_once = {}, [], set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.log.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, asked = 0, self.headers.get("Range")
                if asked:
                    start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.send_header("Content-Type", "application/x-gzip")
                self.end_headers()
                if self.path in server.drop_once:  # half the promised bytes, then hang up
                    server.drop_once.discard(self.path)
                    rest = rest[: len(rest) // 2]
                self.wfile.write(rest)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
