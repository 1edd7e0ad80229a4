"""`python -m tests.controlplane.git_http --repo DIR/NAME --port P --token-file F`: the team's
Git server, for the control plane. Serves the bare repository at /NAME with Git's own smart
HTTP (`git http-backend`, fetch and push) on 127.0.0.1, to clients that send HTTP basic
authentication with the token in F as the password, the way a forge checks an access
token; anything else gets 401. Each request is logged with its user and status.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class GitHandler(BaseHTTPRequestHandler):
    root: Path
    repository: str
    token: str
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _user(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return user if hmac.compare_digest(password, self.token) else None

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        user = self._user()
        body = self._body() if self.command == "POST" else b""
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="gitops"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.log_message('"%s" 401 (no valid token)', self.requestline)
            return
        path, _, query = self.path.partition("?")
        if not path.startswith(f"/{self.repository}/"):
            self.send_error(404, "no such repository")
            return
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,  # http-backend lets an authenticated user push
            "REMOTE_ADDR": self.client_address[0],
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        result = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        head, blank, payload = result.stdout.partition(b"\r\n\r\n")
        if not blank:
            head, blank, payload = result.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.log_message(
            '"%s" %d user=%s %s', self.requestline, status, user, result.stderr.decode().strip()
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Logged once, with the user, by _serve."""

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")
        sys.stderr.flush()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.controlplane.git_http", description=__doc__)
    p.add_argument("--repo", type=Path, required=True, help="a bare repository")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token-file", type=Path, required=True)
    args = p.parse_args()
    GitHandler.root = args.repo.resolve().parent
    GitHandler.repository = args.repo.resolve().name
    GitHandler.token = args.token_file.read_text().strip()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), GitHandler)
    url = f"http://127.0.0.1:{args.port}/{GitHandler.repository}"
    sys.stderr.write(f"serving {args.repo} as {url}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
