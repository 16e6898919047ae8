# -*- coding: utf-8 -*-
"""playbooks/cert_rotation.yml on localhost (as an edge host) against the Kubernetes double:
exit 0 and a report when all is well, non-zero when a certificate is expiring and could not be
replaced; the same role variables the timer's service uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.certs_factory import CertFactory
from tests.metrics import value as metric

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FACTORY = CertFactory()


def rotate(kube, tmp_path, **extra_vars):
    traefik = tmp_path / "traefik"
    (traefik / "dynamic").mkdir(parents=True, exist_ok=True)
    host_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "cert_rotation_kubeconfig": kube.kubeconfig_path,
        "cert_rotation_namespaces": ["edge"],
        "cert_rotation_traefik_dir": str(traefik),
        "cert_rotation_textfile_dir": str(tmp_path / "textfile"),
        "cert_rotation_report_path": str(tmp_path / "report" / "report.txt"),
    }
    host_vars.update(extra_vars)
    for directory in ("textfile", "report"):
        (tmp_path / directory).mkdir(exist_ok=True)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"edge": {"hosts": {"edge-1": host_vars}}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           str(ROOT / "playbooks" / "cert_rotation.yml")], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=300, check=False)


def test_rotation_playbook_reports_and_fails_on_expiring(kube, tmp_path):
    kube.create(FACTORY.valid("shop.example.com").secret("shop-tls", "edge"))
    ok = rotate(kube, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = (tmp_path / "report" / "report.txt").read_text()
    assert ": ok; 1 certificate(s), 1 added" in report and "added     edge/shop-tls" in ok.stdout
    assert metric((tmp_path / "textfile" / "squaremcp_certificates.prom").read_text(), "squaremcp_certificate_sync_failed") == 0
    config = yaml.safe_load((tmp_path / "traefik" / "dynamic" / "certificates.yml").read_text())
    assert config["tls"]["certificates"][0]["certFile"].startswith("/etc/traefik/certs/edge_shop-tls_")

    kube.create(FACTORY.expiring("soon.example.com", days=3.5).secret("soon-tls", "edge"))
    expiring = rotate(kube, tmp_path)
    assert expiring.returncode != 0
    assert "1 certificate(s) expire within 14 days and could not be replaced: edge/soon-tls" in expiring.stdout
    report = (tmp_path / "report" / "report.txt").read_text()
    assert "FAILED" in report and "expires in 3 days" in report

    relaxed = rotate(kube, tmp_path, cert_rotation_on_expiring="warn")
    assert relaxed.returncode == 0 and "edge/soon-tls expires in 3 days" in relaxed.stdout + relaxed.stderr


def test_role_rejects_bad_variables(kube, tmp_path):
    """meta/argument_specs.yml guards the playbook's entry point too."""
    bad = rotate(kube, tmp_path, cert_rotation_on_expiring="ignore")
    assert bad.returncode != 0 and "cert_rotation_on_expiring" in bad.stdout and "ignore" in bad.stdout
    assert not (tmp_path / "report" / "report.txt").exists()
