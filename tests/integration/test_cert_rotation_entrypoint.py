# -*- coding: utf-8 -*-
"""The host entry point of roles/cert_rotation (what the systemd service runs), laid out as the role
installs it, under this venv's Python and under Debian's /usr/bin/python3 with only the Debian
packages the role installs (cryptography 38 on bookworm, unpacked into .cache: never skipped, a
machine that cannot provide them fails the test); its textfile metrics checked by promtool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import certs_factory
from tests.certs_factory import CertFactory, snapshot

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "roles" / "cert_rotation" / "files" / "squaremcp_cert_sync.py"
FACTORY = CertFactory()


@pytest.fixture(scope="session", params=["venv", "debian-python3"])
def python(request):
    """``(argv, env)`` of the interpreter running the entry point."""
    if request.param == "venv":
        return [sys.executable], {}
    try:
        return certs_factory.debian_python3()
    except RuntimeError as exc:
        pytest.fail(str(exc))


def check_metrics(promtool, text):
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)


@pytest.fixture
def host(tmp_path):
    """The role's layout: entry point + lib/ansible_collections/.../module_utils/{certs,io,k8s,_host_files}.py."""
    install = tmp_path / "install"
    lib = install / "lib" / "ansible_collections" / "squaremcp" / "infra" / "plugins" / "module_utils"
    lib.mkdir(parents=True)
    for name in ("certs.py", "io.py", "k8s.py", "_host_files.py"):
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


VENV = ([sys.executable], {})


def run_entry(host, python, *args, env=None):
    # Never the checkout on sys.path: the entry point must find the code it was installed with.
    argv, extra = python
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(extra)
    environment.update(env or {})
    return subprocess.run(argv + [str(host / "install" / ENTRY.name)] + list(args), capture_output=True, text=True,
                          env=environment, cwd=str(host), check=False)


def test_debian_interpreter_uses_only_the_packages_the_role_installs(host, python):
    argv, env = python
    probe = subprocess.run(argv + ["-c", "import cryptography, yaml, sys; print(cryptography.__version__, yaml.__file__)"],
                           env=dict(os.environ, **env), capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    if argv[0] == "/usr/bin/python3":
        assert probe.stdout.startswith("38.") and str(certs_factory.CACHE) in probe.stdout


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
    missing = run_entry(host, VENV, "--config", str(host / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    config = write_config(host, on_expiring="ignore")
    wrong = run_entry(host, VENV, "--validate", "--config", str(config))
    assert wrong.returncode == 2 and "on_expiring must be one of fail, warn, skip" in wrong.stderr
    (host / "empty.json").write_text("{}")
    empty = run_entry(host, VENV, "--config", str(host / "empty.json"))
    assert empty.returncode == 2 and "at least dest_dir" in empty.stderr
    unscoped = write_config(host, source="kubernetes", kubeconfig=str(host / "kubeconfig"))
    scope = run_entry(host, VENV, "--validate", "--config", str(unscoped))
    assert scope.returncode == 2 and "no selection: set namespaces" in scope.stderr
    assert not (host / "textfile" / "squaremcp_certificates.prom").exists()  # --validate never writes metrics


def _failed_sample(metrics):
    return [line for line in metrics.splitlines() if line.startswith("squaremcp_certificate_sync_failed ")]


@pytest.mark.parametrize("case", ["unreadable-config", "invalid-option", "corrupt-certificates-yml", "lock-timeout"])
def test_run_that_cannot_start_exits_2_and_writes_failed_metrics(host, python, promtool, case):
    """The timer's service: every way a run can fail to start leaves failed 1 (expiry series kept) for the alert."""
    FACTORY.valid("shop.example.com").write(str(host / "src"), "shop")
    config = write_config(host)
    metrics_path = host / "textfile" / "squaremcp_certificates.prom"
    assert run_entry(host, python, "--config", str(config), "--metrics-path", str(metrics_path)).returncode == 0
    good = metrics_path.read_text()
    assert _failed_sample(good) == ["squaremcp_certificate_sync_failed 0"]
    holder = None
    if case == "unreadable-config":
        config.write_text("{not json")
    elif case == "invalid-option":
        config = write_config(host, min_days_valid=-1)
    elif case == "corrupt-certificates-yml":
        (host / "traefik" / "dynamic" / "certificates.yml").write_text("tls: [\n")
    else:
        config = write_config(host, lock_timeout=1)
        holder = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)\n"),
            str(host / "traefik" / "certs" / ".traefik_cert_sync.lock")], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
    try:
        failed = run_entry(host, python, "--config", str(config), "--metrics-path", str(metrics_path))
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert failed.returncode == 2 and failed.stderr.startswith("squaremcp-cert-sync: "), failed.stderr
    metrics = metrics_path.read_text()
    assert _failed_sample(metrics) == ["squaremcp_certificate_sync_failed 1"]
    for kept in ("squaremcp_certificate_expiry_timestamp_seconds{", "squaremcp_certificate_sync_certificates 1\n",
                 "squaremcp_certificate_sync_last_success_timestamp_seconds "):
        assert kept in metrics
    assert [line for line in metrics.splitlines() if "last_success" in line] == [
        line for line in good.splitlines() if "last_success" in line]
    checked = check_metrics(promtool, metrics)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_entry_point_against_the_kubernetes_double(kube, host, promtool):
    kube.create(FACTORY.valid("shop.example.com").secret("shop-tls", "edge"))
    config = write_config(host, source="kubernetes", kubeconfig=kube.kubeconfig_path, namespaces=["edge"])
    run = run_entry(host, VENV, "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert "added     edge/shop-tls [shop.example.com www.shop.example.com]" in run.stdout
    kube.fail("GET", r"/secrets", status=500, times=None)
    broken = run_entry(host, VENV, "--config", str(config))
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
    assert run_entry(host, VENV, "--config", str(config)).returncode == 0
    params = json.loads(config.read_text())
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    outcome = certs.run(module, params, certs.source_reader(params))
    assert not outcome["changed"] and [c["action"] for c in outcome["certificates"]] == ["unchanged"]


def test_promtool_rejects_broken_exposition(promtool):
    """The metrics check can fail: promtool refuses a sample without HELP/TYPE consistency."""
    broken = "# TYPE squaremcp_x gauge\nsquaremcp_x{a=\"1\"} not-a-number\n"
    assert check_metrics(promtool, broken).returncode != 0
