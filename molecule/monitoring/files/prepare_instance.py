"""Prepare the monitoring scenario's instance in one step (each Ansible task costs seconds on a busy
machine): nginx's certificate files and site for the three host names, the test root CA in the trust
store the blackbox exporter reads, and the webhook recorder as a transient systemd unit.
Input: /root/tls.json, {"items": [kubernetes.io/tls Secret, ...], "root_ca": PEM} from tests/certs_factory.py."""
import base64
import json
import os
import subprocess

SITE = """server {
    listen 443 ssl;
    server_name %(name)s.monitoring.test;
    ssl_certificate /etc/nginx/tls/%(name)s.pem;
    ssl_certificate_key /etc/nginx/tls/%(name)s.pem;
    location = /health {
        default_type application/json;
        return 200 '{"status":"ok","service":"hermes-mcp","toolCount":42}';
    }
    location / {
        return 200 "%(name)s\\n";
    }
}
"""

with open("/root/tls.json") as handle:
    bundle = json.load(handle)
os.makedirs("/etc/nginx/tls", mode=0o750, exist_ok=True)
sites = []
for secret in bundle["items"]:
    name = secret["metadata"]["name"]
    pem = base64.b64decode(secret["data"]["tls.crt"]) + base64.b64decode(secret["data"]["tls.key"])
    fd = os.open("/etc/nginx/tls/%s.pem" % name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    sites.append(SITE % {"name": name})
with open("/etc/nginx/sites-enabled/default", "w") as handle:
    handle.write("\n".join(sites))
# Go (the blackbox exporter) reads this bundle; appending is what update-ca-certificates would do, minus the rehash.
with open("/etc/ssl/certs/ca-certificates.crt", "a") as handle:
    handle.write("\n" + bundle["root_ca"].strip() + "\n")
subprocess.run(["systemctl", "restart", "nginx"], check=True)
subprocess.run(["systemd-run", "--unit=webhook-recorder", "/usr/bin/python3", "/root/webhook_recorder.py", "127.0.0.1", "9999"],
               check=True)
