"""The double as a stand-alone process (how Molecule instances and demos run it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import kubernetes
from kubernetes import client

DOUBLE = Path(__file__).resolve().parents[2] / "kube" / "double.py"


def test_cli_serves_loaded_objects_with_stdlib_only_and_stops_on_sigterm(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    fixture = tmp_path / "objects.json"
    fixture.write_text(json.dumps([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "web"},
         "type": "kubernetes.io/tls", "stringData": {"tls.crt": "C", "tls.key": "K"}},
        {"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "public"}}]},
    ]))
    kubeconfig, pidfile = tmp_path / "kc" / "config", tmp_path / "double.pid"
    pem = tmp_path / "cert.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    # -I -S: no site-packages, so only the standard library is importable (as in a bare container)
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", str(DOUBLE), "--port", "0", "--kubeconfig", str(kubeconfig),
         "--load", str(fixture), "--pidfile", str(pidfile),
         "--proxy", "kube-system", "sealed-secrets-controller", "/v1/cert.pem", str(pem), "application/x-pem-file"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        assert int(pidfile.read_text()) == process.pid
        assert oct(os.stat(kubeconfig).st_mode & 0o777) == "0o600"
        api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        assert api.configuration.host == url
        secret = client.CoreV1Api(api).read_namespaced_secret("tls", "web")
        assert secret.type == "kubernetes.io/tls" and secret.data == {"tls.crt": "Qw==", "tls.key": "Sw=="}
        assert client.NetworkingV1Api(api).read_ingress_class("public").metadata.uid
        answer = client.CoreV1Api(api).connect_get_namespaced_service_proxy_with_path(
            "http:sealed-secrets-controller:http", "kube-system", "v1/cert.pem", _preload_content=False)
        assert (answer.data, answer.headers["Content-Type"]) == (pem.read_bytes(), "application/x-pem-file")
        api.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert not pidfile.exists()


def test_cli_rejects_a_fixture_it_cannot_load(tmp_path):
    fixture = tmp_path / "bad.json"
    fixture.write_text(json.dumps([{"apiVersion": "v9", "kind": "Nothing", "metadata": {"name": "x"}}]))
    result = subprocess.run([sys.executable, "-I", "-S", str(DOUBLE), "--load", str(fixture)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0 and "v9 Nothing is not served" in result.stderr
