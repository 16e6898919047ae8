# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module of the collection works under the Mitogen strategy (mitogen_linear), idempotently.

Mitogen runs modules in-process in a forked interpreter instead of shipping AnsiballZ files, which
breaks modules that rely on __file__, sys.argv, stdin or global state. One play calls every module
(stack_health only reads: a stack that stack_files wrote and nothing started; compose_pending, which only reads,
runs under Mitogen in the platform scenario); the second run must
change nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import venv

import ansible_mitogen
import pytest
import yaml

from tests.certs_factory import CertFactory
from tests.fixtures.sealed_secrets import controller
from tests.kube.playbook import ROOT, run_playbook

pytestmark = pytest.mark.slow

STACK = "sqstk-mitogen-%d" % os.getpid()  # never started: stack_health reports its service missing
MITOGEN_ENV = {
    "ANSIBLE_STRATEGY_PLUGINS": os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"),
    "ANSIBLE_STRATEGY": "mitogen_linear",
}


@pytest.fixture
def platform(kube, tmp_path):
    """The double with a TLS secret and a Sealed Secrets controller, plus a manifest to fix."""
    kube.create(CertFactory().valid("shop.example.com").secret("shop-tls", namespace="edge"))
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hermes-mcp"}})
    kube.service_proxy("kube-system", "sealed-secrets-controller", "v1/cert.pem",
                       body=controller.key_pair(2048)[1], content_type="application/x-pem-file")
    manifests = tmp_path / "manifests"
    shutil.copytree(ROOT / "tests" / "fixtures" / "manifests" / "hermes-mcp", manifests)
    for name in ("dynamic", "certs"):
        (tmp_path / name).mkdir()
    return kube, manifests


def tasks(tmp_path, kube, manifests):
    kube_args = {"kubeconfig": kube.kubeconfig_path}
    return [
        {"name": "interpreter", "ansible.builtin.shell": "tr '\\0' ' ' < /proc/$PPID/cmdline", "changed_when": False},
        {"name": "routes", "squaremcp.infra.traefik_routes": {
            "path": str(tmp_path / "dynamic" / "routes.yml"),
            "routers": {"shop": {"rule": "Host(`shop.example.com`)", "service": "shop", "entryPoints": ["websecure"]}},
            "services": {"shop": {"loadBalancer": {"servers": [{"url": "http://shop:8080"}]}}},
        }},
        {"name": "certificates", "squaremcp.infra.traefik_cert_sync": dict(kube_args, **{
            "namespaces": ["edge"], "dest_dir": str(tmp_path / "certs"),
            "config_path": str(tmp_path / "dynamic" / "certificates.yml"), "container_cert_dir": "/etc/traefik/certs",
        })},
        {"name": "ingress manifests", "squaremcp.infra.ingress_class": {
            "paths": [str(path) for path in sorted(manifests.rglob("*.yaml"))],
            "mode": "reconcile", "target_class": "public",
        }},
        {"name": "sealed secret", "no_log": True, "squaremcp.infra.sealed_secret": dict(kube_args, **{
            "name": "hermes-secrets", "namespace": "hermes-mcp", "string_data": {"SMTP_PASSWORD": "mitogen-only"},
            "digest_key": "mitogen-digest-key-0123", "dest": str(tmp_path / "sealed.yaml"), "apply": True,
        })},
        {"name": "install files", "squaremcp.infra.install_files": {
            "directories": [{"path": str(tmp_path / "etc"), "mode": "0750"}],
            "files": [{"dest": str(tmp_path / "etc" / "unit.conf"), "content": "[Unit]\n", "validate": "test -s %s"},
                      {"dest": str(tmp_path / "etc" / "token"), "secret_content": "mitogen-only", "mode": "0600"}]}},
        {"name": "stack files", "squaremcp.infra.stack_files": {"root": str(tmp_path / "stacks"), "stacks": [{
            "name": STACK, "compose": "name: %s\nservices:\n  web: {image: 'squaremcp/stack-app:current'}\n" % STACK,
            "secret_files": [{"name": "token", "content": "mitogen-only", "services": ["web"]}]}]}},
        {"name": "stack health", "squaremcp.infra.stack_health": {
            "projects": [STACK], "stacks_dir": str(tmp_path / "stacks"), "lock_file": str(tmp_path / "lock")}},
        # only reads: its commands run in threads of the Mitogen context
        {"name": "probe", "squaremcp.infra.probe": {"commands": {
            "files": ["find", str(tmp_path / "etc"), "-type", "f", "-printf", "%f\n"],
            "stdin": {"argv": ["sort"], "stdin": "b\na\n"}}}},
    ]


def test_all_modules_converge_and_stay_unchanged_under_mitogen(platform, tmp_path):
    kube, manifests = platform
    play = tasks(tmp_path, kube, manifests)
    # Mitogen puts its UNIX socket under TMPDIR: tmp_path (longer under pytest -n) overflows the 107-byte limit.
    short = tempfile.mkdtemp(prefix="sqm-", dir="/tmp")
    try:
        _converge_twice(kube, tmp_path, play, dict(MITOGEN_ENV, TMPDIR=short))
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _converge_twice(kube, tmp_path, play, env):
    first = run_playbook(kube, tmp_path, play, env=env)
    assert first.rc == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "(mitogen:" in first.task("interpreter")["stdout"], "modules did not run in a Mitogen context"
    assert [name for name, result in first.tasks[1:] if not result.get("changed")] == ["stack health", "probe"]
    assert sorted(first.task("probe")["commands"]["files"]["stdout_lines"]) == ["token", "unit.conf"]
    assert first.task("probe")["commands"]["stdin"]["stdout"] == "a\nb"
    assert [(p["service"], p["state"]) for p in first.task("stack health")["problems"]] == [("web", "missing")]

    second = run_playbook(kube, tmp_path, play, env=env)
    assert second.rc == 0, second.stdout[-3000:]
    assert [name for name, result in second.tasks if result.get("changed")] == []
    assert kube.get("bitnami.com/v1alpha1", "SealedSecret", "hermes-secrets", "hermes-mcp") is not None
    assert (tmp_path / "dynamic" / "certificates.yml").read_text().count("certFile") == 1


def test_a_library_installed_earlier_in_the_run_is_found_under_mitogen(tmp_path):
    """The first converge of a fresh host installs python3-yaml & co. and uses them later in the same run: under
    Mitogen the module_utils that missed the library stay imported, and must import again (module_utils/_imports)."""
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a Python without PyYAML: the host before its packages are installed
    site_packages = next(bare.glob("lib/python3*/site-packages"))
    routes = {"path": str(tmp_path / "routes.yml"),
              "routers": {"shop": {"rule": "Host(`shop.example.com`)", "service": "shop"}},
              "services": {"shop": {"loadBalancer": {"servers": [{"url": "http://shop:8080"}]}}}}
    play = [
        {"name": "before", "squaremcp.infra.traefik_routes": routes, "ignore_errors": True},
        {"name": "install PyYAML", "ansible.builtin.file": {
            "src": os.path.dirname(yaml.__file__), "dest": str(site_packages / "yaml"), "state": "link"}},
        {"name": "after", "squaremcp.infra.traefik_routes": routes},
    ]
    short = tempfile.mkdtemp(prefix="sqm-", dir="/tmp")
    try:
        result = run_playbook(None, tmp_path, play, play_vars={"ansible_python_interpreter": str(bare / "bin" / "python")},
                              env=dict(MITOGEN_ENV, TMPDIR=short))
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert "PyYAML" in result.task("before")["msg"], result.task("before")
    assert result.rc == 0, result.stdout[-3000:]
    assert result.task("after")["changed"]
    assert "shop.example.com" in (tmp_path / "routes.yml").read_text()
