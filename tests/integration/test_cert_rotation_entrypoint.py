# -*- coding: utf-8 -*-
"""The host entry point of roles/cert_rotation (what the systemd service runs), laid out as the role
installs it, under this venv's Python and under Debian's /usr/bin/python3 (cryptography 38, the
version the edge host gets); its textfile metrics checked by promtool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.certs_factory import CertFactory, snapshot

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "roles" / "cert_rotation" / "files" / "squaremcp_cert_sync.py"
PROMTOOL_CACHE = ROOT / ".cache" / "promtool"
FACTORY = CertFactory()


def _has_libraries(python):
    return subprocess.run([python, "-c", "import cryptography, yaml"], capture_output=True, check=False).returncode == 0


INTERPRETERS = [pytest.param(sys.executable, id="venv")]
if os.path.exists("/usr/bin/python3") and _has_libraries("/usr/bin/python3"):
    INTERPRETERS.append(pytest.param("/usr/bin/python3", id="debian-python3"))


@pytest.fixture(scope="session")
def promtool():
    """promtool from PATH, or from Debian's prometheus package unpacked into .cache (no daemon)."""
    found = shutil.which("promtool") or (PROMTOOL_CACHE / "usr" / "bin" / "promtool")
    if Path(found).exists():
        return str(found)
    download = PROMTOOL_CACHE / "download"
    download.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(["apt-get", "download", "prometheus"], cwd=download, capture_output=True, text=True, check=False)
    assert fetched.returncode == 0, "apt-get download prometheus failed: %s" % fetched.stderr
    deb = next(download.glob("prometheus_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(PROMTOOL_CACHE)], check=True)
    return str(PROMTOOL_CACHE / "usr" / "bin" / "promtool")


def check_metrics(promtool, text):
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)


@pytest.fixture
def host(tmp_path):
    """The role's layout: entry point + lib/ansible_collections/.../module_utils/{certs,io,k8s}.py."""
    install = tmp_path / "install"
    lib = install / "lib" / "ansible_collections" / "squaremcp" / "infra" / "plugins" / "module_utils"
    lib.mkdir(parents=True)
    for name in ("certs.py", "io.py", "k8s.py"):
        shutil.copy(ROOT / "plugins" / "module_utils" / name, lib / name)
    shutil.copy(ENTRY, install / ENTRY.name)
    for path in ("src", "traefik/dynamic", "textfile", "report"):
        (tmp_path / path).mkdir(parents=True)
    return tmp_path


def write_config(host, **options):
    config = {"source": "directory", "source_dir": str(host / "src"), "dest_dir": str(host / "traefik" / "certs"),
              "container_cert_dir": "/etc/traefik/certs",
              "metrics_path": str(host / "textfile" / "squaremcp_certificates.prom"),
              "report_path": str(host / "report" / "report.txt")}
    config.update(options)
    path = host / "cert-sync.json"
    path.write_text(json.dumps(config))
    return path


def run_entry(host, python, *args, env=None):
    # Never the checkout on sys.path: the entry point must find the code it was installed with.
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(env or {})
    return subprocess.run([python, str(host / "install" / ENTRY.name)] + list(args), capture_output=True, text=True,
                          env=environment, cwd=str(host), check=False)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_entry_point_syncs_reports_and_exits(host, python, promtool):
    FACTORY.valid("shop.example.com", kind="rsa").write(str(host / "src"), "shop")
    FACTORY.valid("api.example.com").write(str(host / "src"), "api")
    config = write_config(host)
    assert run_entry(host, python, "--validate", "--config", str(config)).returncode == 0
    first = run_entry(host, python, "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("traefik_cert_sync ") and ": ok; 2 certificate(s), 2 added" in first.stdout
    assert (host / "report" / "report.txt").read_text() == first.stdout
    state = {k: v for k, v in snapshot(str(host / "traefik")).items() if not k.endswith(".lock")}
    assert sorted(state) == sorted(["dynamic/certificates.yml"] + ["certs/" + name for name in os.listdir(host / "traefik" / "certs")
                                                                   if not name.startswith(".")])
    assert all(mode == 0o600 for path, (_data, mode) in state.items() if path.endswith(".key"))
    metrics = (host / "textfile" / "squaremcp_certificates.prom").read_text()
    assert "squaremcp_certificate_sync_failed 0" in metrics and "squaremcp_certificate_sync_certificates 2" in metrics
    checked = check_metrics(promtool, metrics)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    second = run_entry(host, python, "--config", str(config))
    assert second.returncode == 0 and "2 unchanged" in second.stdout
    assert {k: v for k, v in snapshot(str(host / "traefik")).items() if not k.endswith(".lock")} == state


@pytest.mark.parametrize("python", INTERPRETERS)
def test_entry_point_fails_on_refusal_and_keeps_state(host, python, promtool):
    FACTORY.valid("shop.example.com").write(str(host / "src"), "shop")
    config = write_config(host)
    assert run_entry(host, python, "--config", str(config)).returncode == 0
    good = {k: v for k, v in snapshot(str(host / "traefik")).items() if not k.endswith(".lock")}
    FACTORY.wrong_key("shop.example.com").write(str(host / "src"), "shop")
    FACTORY.expiring(days=3.5).write(str(host / "src"), "soon")
    failed = run_entry(host, python, "--config", str(config))
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "refused   shop" in failed.stdout and "the private key does not match" in failed.stdout
    assert "added     soon" in failed.stdout  # installed (valid beats none), then the run fails: on_expiring=fail
    now = {k: v for k, v in snapshot(str(host / "traefik")).items() if not k.endswith(".lock")}
    assert {k: v for k, v in now.items() if "shop" in k} == {k: v for k, v in good.items() if "shop" in k}
    metrics = (host / "textfile" / "squaremcp_certificates.prom").read_text()
    for line in ("squaremcp_certificate_sync_failed 1", "squaremcp_certificate_sync_refused 1",
                 "squaremcp_certificate_sync_expiring 1", "squaremcp_certificate_sync_certificates 2"):
        assert line in metrics
    assert check_metrics(promtool, metrics).returncode == 0


def test_entry_point_bad_configuration(host):
    missing = run_entry(host, sys.executable, "--config", str(host / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    config = write_config(host, on_expiring="ignore")
    wrong = run_entry(host, sys.executable, "--validate", "--config", str(config))
    assert wrong.returncode == 2 and "on_expiring must be one of fail, warn, skip" in wrong.stderr
    (host / "empty.json").write_text("{}")
    empty = run_entry(host, sys.executable, "--config", str(host / "empty.json"))
    assert empty.returncode == 2 and "at least dest_dir" in empty.stderr


def test_entry_point_against_the_kubernetes_double(kube, host, promtool):
    kube.create(FACTORY.valid("shop.example.com").secret("shop-tls", "edge"))
    config = write_config(host, source="kubernetes", kubeconfig=kube.kubeconfig_path, namespaces=["edge"])
    run = run_entry(host, sys.executable, "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert "added     edge/shop-tls [shop.example.com www.shop.example.com]" in run.stdout
    kube.fail("GET", r"/secrets", status=500, times=None)
    broken = run_entry(host, sys.executable, "--config", str(config))
    assert broken.returncode == 1 and "HTTP 500" in broken.stdout
    metrics = (host / "textfile" / "squaremcp_certificates.prom").read_text()
    assert 'squaremcp_certificate_expiry_timestamp_seconds{domain="shop.example.com",name="shop-tls",namespace="edge"}' in metrics
    assert check_metrics(promtool, metrics).returncode == 0


def test_module_and_entry_point_write_the_same_files(host, tmp_path):
    """Same code, same content-addressed names: the timer and a manual run never fight."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.squaremcp.infra.plugins.module_utils import certs

    FACTORY.valid("shop.example.com").write(str(host / "src"), "shop")
    config = write_config(host)
    assert run_entry(host, sys.executable, "--config", str(config)).returncode == 0
    params = json.loads(config.read_text())
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    outcome = certs.run(module, params, certs.source_reader(params))
    assert not outcome["changed"] and [c["action"] for c in outcome["certificates"]] == ["unchanged"]


def test_promtool_rejects_broken_exposition(promtool):
    """The metrics check can fail: promtool refuses a sample without HELP/TYPE consistency."""
    broken = "# TYPE squaremcp_x gauge\nsquaremcp_x{a=\"1\"} not-a-number\n"
    assert check_metrics(promtool, broken).returncode != 0
