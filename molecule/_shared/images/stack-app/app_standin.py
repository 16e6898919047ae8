"""Stand-in for the stacks' application images (FetcherPay API, Hermes MCP, Gitea, Obsidian), which cannot be
pulled here. It proves the Compose wiring, never the applications.

`app-standin` serves HTTP on STANDIN_PORT (default 3000):
  GET <STANDIN_HEALTH_PATH> (default /health)  200 {"status": "ok", "service": STANDIN_NAME} while
      - every variable in STANDIN_REQUIRE_ENV (comma-separated) is set and not empty (env-file secrets), and
      - every file in STANDIN_REQUIRE_FILES (comma-separated) is readable and not empty (file secrets), and
      - every host:port in STANDIN_DEPENDS accepts a TCP connection, and
      - the fault file /tmp/standin-unhealthy does not exist (`docker exec <c> touch /tmp/standin-unhealthy`
        makes the service unhealthy on demand; removing it, or restarting the container, heals it);
    503 {"status": "failing", "reason": ...} otherwise.
  anything else  200 {"service": STANDIN_NAME, "path": ...}
`app-standin probe URL` is the health check command: exit 0 on HTTP 200, else print the answer and exit 1.
"""

import http.server
import json
import os
import signal
import socket
import socketserver
import sys
import urllib.error
import urllib.request

FAULT = "/tmp/standin-unhealthy"
NAME = os.environ.get("STANDIN_NAME", "app")
HEALTH = os.environ.get("STANDIN_HEALTH_PATH", "/health")


def _listed(variable):
    return [item.strip() for item in os.environ.get(variable, "").split(",") if item.strip()]


def failing():
    """Why /health fails, or None."""
    if os.path.exists(FAULT):
        return "fault injected (%s exists)" % FAULT
    for variable in _listed("STANDIN_REQUIRE_ENV"):
        if not os.environ.get(variable):
            return "environment variable %s is not set" % variable
    for path in _listed("STANDIN_REQUIRE_FILES"):
        try:
            with open(path) as handle:
                if handle.read().strip():
                    continue
        except OSError:
            pass
        return "secret file %s is missing or empty" % path
    for target in _listed("STANDIN_DEPENDS"):
        host, _sep, port = target.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError as exc:
            return "dependency %s unreachable: %s" % (target, exc)
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] == HEALTH:
            reason = failing()
            status, body = (503, {"status": "failing", "service": NAME, "reason": reason}) if reason \
                else (200, {"status": "ok", "service": NAME})
        else:
            status, body = 200, {"service": NAME, "path": self.path}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve():
    if os.path.exists(FAULT):  # like a hung process, the fault does not survive a restart
        os.unlink(FAULT)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    port = int(os.environ.get("STANDIN_PORT", "3000"))
    server = Server(("", port), Handler)
    print("%s stand-in listening on :%d (health: %s)" % (NAME, port, HEALTH), flush=True)
    server.serve_forever()


def probe(url):
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(response.status)
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print("HTTP %d: %s" % (exc.code, exc.read().decode(errors="replace")[:300]))
    except OSError as exc:
        print("no answer from %s: %s" % (url, exc))
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        sys.exit(probe(sys.argv[2]))
    serve()
