"""Traefik stand-in for the traefik Molecule scenario and the lab (the real image cannot be pulled here).

`traefik` (no arguments) reads /etc/traefik/traefik.yml like Traefik does, refuses to start when the
mounted configuration is not what Traefik needs (static file, dynamic DIRECTORY), serves /ping on the
entry point named by `ping.entryPoint`, and answers 404 on every other entry point.
`traefik healthcheck --ping` asks /ping on that entry point and exits 0 on `200 OK`, as Traefik does.
It does not route, terminate TLS, talk to Docker or ACME: it only proves the Compose wiring.
"""
import http.server
import os
import re
import signal
import socketserver
import sys
import threading
import urllib.request

CONFIG = "/etc/traefik/traefik.yml"


def entry_points():
    """{name: port} and the ping entry point, read from our template's block layout (no PyYAML here)."""
    with open(CONFIG) as handle:
        text = handle.read()
    block = re.search(r"^entryPoints:\n((?:  .*\n)+)", text, re.M).group(1)
    ports = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\w+):\n    address: \"?[^:\n]*:(\d+)", block, re.M)}
    ping = re.search(r"^ping:\n  entryPoint: (\w+)", text, re.M).group(1)
    return ports, ping


class Handler(http.server.BaseHTTPRequestHandler):
    ping = False

    def do_GET(self):
        ok = self.ping and self.path == "/ping"
        body = b"OK" if ok else b"404 page not found (traefik stand-in)\n"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve():
    if not os.path.isfile(CONFIG):
        sys.exit("stand-in: %s is missing" % CONFIG)
    if not os.path.isdir("/etc/traefik/dynamic"):
        sys.exit("stand-in: /etc/traefik/dynamic is not a directory (mount the config directory)")
    ports, ping = entry_points()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    servers = []
    for name, port in ports.items():
        handler = type("H", (Handler,), {"ping": name == ping})
        server = socketserver.ThreadingTCPServer(("", port), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("stand-in: listening on %s, ping on %s" % (ports, ping), flush=True)
    signal.pause()


def healthcheck():
    ports, ping = entry_points()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ping" % ports[ping], timeout=4) as response:
            ok = response.status == 200 and response.read() == b"OK"
    except OSError as exc:
        print("Error calling healthcheck: %s" % exc)
        return 1
    print("OK: http://:%d/ping" % ports[ping] if ok else "Bad healthcheck status")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["healthcheck"]:
        sys.exit(healthcheck())
    serve()
