"""Traefik stand-in for the traefik Molecule scenario and the lab (the real image cannot be pulled here).

`traefik` (no arguments) reads /etc/traefik/traefik.yml like Traefik does, refuses to start when the
mounted configuration is not what Traefik needs (static file, dynamic DIRECTORY), serves /ping on the
entry point named by `ping.entryPoint`, and answers 404 on every other entry point.
`traefik healthcheck --ping` asks /ping on that entry point and exits 0 on `200 OK`, as Traefik does.
On the entry point of port 443 it terminates TLS with the certificates the dynamic directory lists
(tls.certificates certFile/keyFile, chosen by SNI against their DNS names, re-read when a file changes) and a
self-signed default certificate otherwise, as Traefik does; so certificate probes see what is configured.
It does not route, talk to Docker or ACME: it only proves the Compose wiring and what certificate is served.
"""
import glob
import http.server
import os
import re
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import urllib.request

CONFIG = "/etc/traefik/traefik.yml"
DYNAMIC = "/etc/traefik/dynamic"
DEFAULT_CERT = "/tmp/traefik-default"
PAIR = re.compile(r'certFile:\s*"?([^"\n]+?)"?\s*\n\s*keyFile:\s*"?([^"\n]+?)"?\s*$', re.M)


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


class Certificates(object):
    """SSL contexts per DNS name from the dynamic directory's tls.certificates, re-read when a file changes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stamp = None
        self.by_name = {}
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "365", "-subj", "/CN=TRAEFIK DEFAULT CERT", "-keyout", DEFAULT_CERT + ".key",
                        "-out", DEFAULT_CERT + ".crt"], check=True, capture_output=True)
        self.default = self.context(DEFAULT_CERT + ".crt", DEFAULT_CERT + ".key")
        self.default.sni_callback = self.choose

    @staticmethod
    def context(cert, key):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    def files(self):
        return sorted(glob.glob(os.path.join(DYNAMIC, "**", "*.y*ml"), recursive=True))

    def refresh(self):
        stamp = []
        for path in self.files():
            try:
                stamp.append((path, os.stat(path).st_mtime_ns))
            except OSError:  # replaced while listing
                continue
        with self.lock:
            if stamp == self.stamp:
                return
            by_name = {}
            for path, _mtime in stamp:
                try:
                    with open(path, errors="replace") as handle:
                        pairs = PAIR.findall(handle.read())
                except OSError:
                    continue
                for cert, key in pairs:
                    try:
                        context = self.context(cert, key)
                        names = [v for k, v in ssl._ssl._test_decode_cert(cert).get("subjectAltName", ()) if k == "DNS"]
                    except (OSError, ssl.SSLError, ValueError) as exc:
                        print("stand-in: cannot load %s: %s" % (cert, exc), flush=True)
                        continue
                    for name in names:
                        by_name.setdefault(name.lower(), context)
            self.by_name, self.stamp = by_name, stamp

    def choose(self, sock, server_name, _context):
        self.refresh()
        name = (server_name or "").lower()
        context = self.by_name.get(name) or self.by_name.get("*." + name.split(".", 1)[-1])
        if context is not None:
            sock.context = context


class TLSServer(socketserver.ThreadingTCPServer):
    certificates = None

    def get_request(self):
        sock, address = super().get_request()
        return self.certificates.default.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)


def serve():
    if not os.path.isfile(CONFIG):
        sys.exit("stand-in: %s is missing" % CONFIG)
    if not os.path.isdir("/etc/traefik/dynamic"):
        sys.exit("stand-in: /etc/traefik/dynamic is not a directory (mount the config directory)")
    ports, ping = entry_points()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    servers = []
    certificates = Certificates()
    for name, port in ports.items():
        handler = type("H", (Handler,), {"ping": name == ping})
        server_class = type("S", (TLSServer,), {"certificates": certificates}) if port == 443 else socketserver.ThreadingTCPServer
        server = server_class(("", port), handler)
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
