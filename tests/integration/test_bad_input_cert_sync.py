# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.traefik_cert_sync under abuse, through ansible-playbook: a failed run leaves no trace
(no dest_dir, no lock file, nothing created when the source cannot be read), an unchanged run does not
touch its lock file, symbolic links are never written, chmod-ed or chown-ed through (key files, lock
file, certificates.yml, metrics), and certificates.yml content the module did not write is never
dropped. Every refused case leaves every file byte for byte as it was (mode, owner, inode, mtime)."""

from __future__ import annotations

import os

import pytest

from tests.badinput import run_cases, state
from tests.certs_factory import CertFactory

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.traefik_cert_sync"
FACTORY = CertFactory()


def edge(tmp_path, case):
    """<case>/src (one valid pair), <case>/traefik/dynamic, <case>/outside/target (1234:4321, 0600)."""
    base = tmp_path / case
    (base / "traefik" / "dynamic").mkdir(parents=True)
    (base / "outside").mkdir()
    (base / "src").mkdir()
    FACTORY.valid("shop.example.com").write(str(base / "src"), "shop")
    target = base / "outside" / "target"
    target.write_text("outside the certificate directory\n")
    os.chown(target, 1234, 4321)
    os.chmod(target, 0o600)
    return base


def args(base, **extra):
    options = {"source": "directory", "source_dir": str(base / "src"), "dest_dir": str(base / "traefik" / "certs"),
               "container_cert_dir": "/etc/traefik/certs"}
    options.update(extra)
    return options


def test_failed_runs_leave_no_trace(tmp_path):
    bases = {name: edge(tmp_path, name) for name in ("missing-source-dir", "missing-kubeconfig", "unreachable-api")}
    kubeconfig = bases["unreachable-api"] / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: "
                          "'http://127.0.0.1:9'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
                          "users: [{name: u, user: {}}]\n")
    cases = {
        "missing-source-dir": args(bases["missing-source-dir"], source_dir=str(bases["missing-source-dir"] / "nope")),
        "missing-kubeconfig": args(bases["missing-kubeconfig"], source="kubernetes", namespaces=["edge"],
                                   kubeconfig=str(bases["missing-kubeconfig"] / "nope.config"), source_dir=None),
        "unreachable-api": args(bases["unreachable-api"], source="kubernetes", namespaces=["edge"],
                                kubeconfig=str(kubeconfig), request_timeout=2, source_dir=None),
    }
    before = {name: state(base) for name, base in bases.items()}
    run = run_cases(tmp_path, MODULE, cases, env={"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"})
    assert "nothing was created" in run["missing-source-dir"]["msg"]
    assert "kubeconfig" in run["missing-kubeconfig"]["msg"]
    for name, base in bases.items():
        assert run[name].get("failed"), (name, run[name])
        assert not (base / "traefik" / "certs").exists(), name  # no dest_dir, no lock file
        assert state(base) == before[name], name


def test_symbolic_links_and_foreign_content_are_refused(tmp_path):
    bases = {}
    for name in ("key-file-link", "lock-file-link", "config-link", "metrics-link", "foreign-certificates-yml",
                 "unchanged-run"):
        bases[name] = edge(tmp_path, name)
    (tmp_path / "install").mkdir()
    first = run_cases(tmp_path / "install", MODULE, {name: args(base) for name, base in bases.items()})
    assert all(not result.get("failed") for result in first.results.values()), first.output
    certs = {name: base / "traefik" / "certs" for name, base in bases.items()}
    key = [name for name in os.listdir(str(certs["key-file-link"])) if name.endswith(".key")][0]
    outside = {name: str(base / "outside" / "target") for name, base in bases.items()}
    # the installed key replaced by a link: the same content would once have been chmod-ed through it
    os.unlink(str(certs["key-file-link"] / key))
    os.symlink(outside["key-file-link"], str(certs["key-file-link"] / key))
    os.symlink(outside["lock-file-link"], str(certs["lock-file-link"] / "my.lock"))
    config = bases["config-link"] / "traefik" / "dynamic" / "certificates.yml"
    os.unlink(str(config))
    os.symlink(outside["config-link"], str(config))
    metrics = bases["metrics-link"] / "metrics.prom"
    os.symlink(outside["metrics-link"], str(metrics))
    foreign = bases["foreign-certificates-yml"] / "traefik" / "dynamic" / "certificates.yml"
    foreign.write_text(foreign.read_text() + "  options:\n    modern: {minVersion: VersionTLS13}\n")
    cases = {name: args(base) for name, base in bases.items()}
    cases["lock-file-link"]["lock_file"] = str(certs["lock-file-link"] / "my.lock")
    cases["metrics-link"]["metrics_path"] = str(metrics)
    before = {name: state(base) for name, base in bases.items()}
    run = run_cases(tmp_path, MODULE, cases)
    expected = {"key-file-link": "is a symbolic link", "lock-file-link": "is a symbolic link",
                "config-link": "is a symbolic link", "foreign-certificates-yml": "not written by this module"}
    for name, message in expected.items():
        result = run[name]
        assert result.get("failed") and message in result["msg"], (name, result.get("msg"))
        assert state(bases[name]) == before[name], name
    # metrics: the sync itself is fine, the link is not written through and the run says so
    assert not run["metrics-link"].get("failed") and state(bases["metrics-link"]) == before["metrics-link"]
    assert any("is a symbolic link" in warning for warning in run["metrics-link"]["warnings"])
    # an unchanged run changes nothing at all: not even the lock file's inode or mtime
    assert run["unchanged-run"]["changed"] is False
    assert state(bases["unchanged-run"]) == before["unchanged-run"]
