# -*- coding: utf-8 -*-
"""playbooks/sealed_secrets.yml and the microk8s kubeconfig export with the REAL production inventory.

inventory/production is used as it is (group_vars/all, group_vars/managed_hosts, the sealed_secrets
settings, the CHANGE_ME checksum). A second inventory source only says how squaremcp-prod-1 is reached
here: on this machine (local connection, 127.0.0.1, this Python) with a stand-in sudo that logs and runs
the command. Its group variables, ansible_become included, still come from production. The cluster is the
Kubernetes double on 127.0.0.1; the controller's manifest is "downloaded" from a file:// URL.

Control-host become: tests run as root, and Ansible skips become when it would not change the user
(root to root). ANSIBLE_BECOME_ALLOW_SAME_USER makes it behave as it does for an operator's account,
and the control host's sudo (ANSIBLE_BECOME_EXE, which only the control host uses) is a stand-in that
logs and refuses: a control-host task that becomes fails the run and leaves a line in the log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from tests.fixtures.sealed_secrets import controller

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRODUCTION = os.path.join(ROOT, "inventory", "production")
PLAYBOOK = os.path.join(ROOT, "playbooks", "sealed_secrets.yml")
FAKE_MICROK8S = os.path.join(ROOT, "tests", "fixtures", "microk8s", "fake_microk8s.py")
HOST = "squaremcp-prod-1"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
# Two Secrets whose old file names (<namespace>-<name>.yaml) were both "a-b-c.yaml".
COLLIDING = [{"name": "c", "namespace": "a-b", "string_data": {"WHO": "{{ vault_hermes_smtp_user }}-in-a-b"}},
             {"name": "b-c", "namespace": "a", "string_data": {"WHO": "{{ vault_hermes_smtp_user }}-in-a"}}]

CONTROLLER_MANIFEST = """---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sealed-secrets-controller, namespace: kube-system}
---
apiVersion: v1
kind: Service
metadata: {name: sealed-secrets-controller, namespace: kube-system, labels: {name: sealed-secrets-controller}}
spec:
  ports: [{name: http, port: 8080, targetPort: 8080}]
  selector: {name: sealed-secrets-controller}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sealed-secrets-controller, namespace: kube-system}
spec:
  selector: {matchLabels: {name: sealed-secrets-controller}}
  template:
    metadata: {labels: {name: sealed-secrets-controller}}
    spec:
      serviceAccountName: sealed-secrets-controller
      containers: [{name: sealed-secrets-controller, image: docker.io/bitnami/sealed-secrets-controller:0.36.6}]
"""


def production_vault_values():
    """A fake value for every key vault.example.yml documents (the real vault is not in the repository)."""
    with open(os.path.join(PRODUCTION, "vault.example.yml")) as handle:
        keys = yaml.safe_load(handle)
    return {key: ["fake-%s" % key] if isinstance(value, list) else "fake-%s-0123456789" % key
            for key, value in keys.items()}


def production_secrets():
    with open(os.path.join(PRODUCTION, "group_vars", "k8s_control_plane", "sealed_secrets.yml")) as handle:
        return yaml.safe_load(handle)["sealed_secrets_secrets"]


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


class Setup(object):
    """Files and environment shared by every run of one test."""

    def __init__(self, tmp_path, kube=None):
        self.tmp = tmp_path
        self.control_log = tmp_path / "control-sudo.log"
        self.target_log = tmp_path / "target-sudo.log"
        control_sudo = executable(tmp_path / "control-sudo", (
            "#!/bin/sh\necho \"$*\" >> '%s'\n"
            "echo 'stand-in sudo: a control-host task tried to become' >&2\nexit 1\n") % self.control_log)
        target_sudo = executable(tmp_path / "target-sudo", (
            "#!/bin/sh\necho \"$*\" >> '%s'\n"
            "while [ $# -gt 0 ]; do case \"$1\" in -u|-p) shift 2 ;; -*) shift ;; *) break ;; esac; done\n"
            "exec \"$@\"\n") % self.target_log)
        # Only how the host is reached; everything else about it comes from inventory/production.
        reach = {"all": {"hosts": {HOST: {
            "ansible_connection": "local", "ansible_host": "127.0.0.1",
            "ansible_python_interpreter": sys.executable, "ansible_become_exe": target_sudo}}}}
        self.reach = tmp_path / "reach.yml"
        self.reach.write_text(yaml.safe_dump(reach))
        self.env = dict(os.environ)
        for name in ("ANSIBLE_CONFIG", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_BECOME", "ANSIBLE_BECOME_USER"):
            self.env.pop(name, None)
        (tmp_path / "ansible-tmp").mkdir()
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_BECOME_ALLOW_SAME_USER": "true",
            "ANSIBLE_BECOME_EXE": control_sudo,
            "HOME": str(tmp_path / "home"),
            "TMPDIR": str(tmp_path / "ansible-tmp"),
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
        })
        if kube is not None:
            self.env["KUBECONFIG"] = kube.kubeconfig_path

    def run(self, playbook, extra_vars, *args):
        extra = self.tmp / "extra-vars.json"
        extra.write_text(json.dumps(extra_vars))
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", PRODUCTION,
                   "-i", str(self.reach), "-e", "@%s" % extra, str(playbook)] + list(args)
        proc = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=str(self.tmp),
                              timeout=400, check=False)
        try:
            report = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError as exc:
            raise AssertionError("no JSON from ansible-playbook (rc %s):\n%s\n%s"
                                 % (proc.returncode, proc.stdout, proc.stderr)) from exc
        return proc.returncode, report

    def sudo_calls(self):
        """(control-host sudo calls, managed-host sudo calls)."""
        logs = (self.control_log, self.target_log)
        return tuple(path.read_text().splitlines() if path.exists() else [] for path in logs)


def failures(report):
    return [(task["task"]["name"], result.get("msg")) for play in report["plays"] for task in play["tasks"]
            for result in task["hosts"].values() if result.get("failed") and not result.get("ignore_errors")]


def changed(report):
    return sorted({task["task"]["name"] for play in report["plays"] for task in play["tasks"]
                   if any(result.get("changed") for result in task["hosts"].values())})


@pytest.fixture(scope="module")
def key_pair():
    return controller.key_pair(2048)


@pytest.fixture
def cluster(kube, key_pair):
    """The double as a cluster whose controller runs: its Service answers v1/cert.pem, its Deployment is
    available and its sealing key Secret exists (what the real controller does when it starts)."""
    private_key, cert = key_pair
    kube.service_proxy("kube-system", "sealed-secrets-controller", "v1/cert.pem", body=cert,
                       content_type="application/x-pem-file")
    for namespace in ("hermes-mcp", "a", "a-b"):
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    deployment = yaml.safe_load(CONTROLLER_MANIFEST.rsplit("---", maxsplit=1)[-1])
    deployment["status"] = {"conditions": [{"type": "Available", "status": "True"}], "replicas": 1,
                            "availableReplicas": 1, "readyReplicas": 1}
    kube.create(deployment)
    kube.create({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                 "metadata": {"name": "sealed-secrets-key7x2lq", "namespace": "kube-system",
                              "labels": {KEY_LABEL: "active"}},
                 "data": {"tls.crt": base64.b64encode(cert.encode()).decode(),
                          "tls.key": base64.b64encode(controller.private_pem(private_key).encode()).decode()}})
    return kube


def role_vars(tmp_path, kube, manifest, **overrides):
    """Extra vars: the fake vault, and control/target paths inside tmp_path. No connection variable."""
    values = production_vault_values()
    values.update({
        "sealed_secrets_manifest_url": "file://%s" % manifest,
        "sealed_secrets_manifest_checksum": "sha256:%s" % hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "sealed_secrets_kubeconfig": kube.kubeconfig_path,
        "sealed_secrets_install_python_packages": False,
        "sealed_secrets_api_python": sys.executable,  # production names the microk8s venv; here the test's venv
        "sealed_secrets_wait_timeout": 20,
        "sealed_secrets_staging_dir": str(tmp_path / "target" / "staging"),
        "sealed_secrets_manifest_dir": str(tmp_path / "control" / "sealed"),
        "sealed_secrets_certificate_file": str(tmp_path / "control" / "files" / "sealed-secrets-cert.pem"),
        "sealed_secrets_backup_file": str(tmp_path / "control" / "backup" / "keys.vault.yml"),
    })
    values.update(overrides)
    return values


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "release" / "controller.yaml"
    path.parent.mkdir()
    path.write_text(CONTROLLER_MANIFEST)
    return path


def test_production_inventory_gives_the_control_host_no_connection_settings(tmp_path):
    """group_vars/all reaches the implicit localhost: sudo, user and interpreter must not be there."""
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    env.pop("ANSIBLE_CONFIG", None)
    inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")

    def host_vars(host):
        proc = subprocess.run([inventory, "-i", PRODUCTION, "--host", host], capture_output=True, text=True,
                              env=env, timeout=120, check=True)
        return json.loads(proc.stdout)

    control = host_vars("localhost")
    assert not {"ansible_become", "ansible_user"} & set(control), control
    # the implicit localhost's own interpreter (Ansible's), not the managed hosts' /usr/bin/python3
    assert os.path.realpath(control["ansible_python_interpreter"]) == os.path.realpath(sys.executable)
    managed = host_vars(HOST)
    assert managed["ansible_become"] is True and managed["ansible_user"] == "garfield"

    graph = json.loads(subprocess.run([inventory, "-i", PRODUCTION, "--list"], capture_output=True, text=True,
                                      env=env, timeout=120, check=True).stdout)
    below = set()
    pending = ["managed_hosts"]
    while pending:
        group = pending.pop()
        below.add(group)
        pending += graph.get(group, {}).get("children", [])
    holding_hosts = {group for group, body in graph.items() if group != "_meta" and body.get("hosts")}
    assert holding_hosts <= below, "groups outside managed_hosts get no SSH user and no sudo"


def test_role_with_production_inventory_never_becomes_on_the_control_host(cluster, key_pair, tmp_path, manifest):
    kube = cluster
    setup = Setup(tmp_path, kube)
    secrets = production_secrets() + COLLIDING
    extra = role_vars(tmp_path, kube, manifest, sealed_secrets_secrets=secrets)

    rc, report = setup.run(PLAYBOOK, extra)
    assert rc == 0, failures(report)
    control_calls, target_calls = setup.sudo_calls()
    assert control_calls == []
    assert target_calls, "the managed host no longer becomes: production's ansible_become was lost"

    # every Secret in its own file, <namespace>/<name>.yaml, opening to its own values (a-b/c vs a/b-c)
    sealed = tmp_path / "control" / "sealed"
    files = sorted(str(path.relative_to(sealed)) for path in sealed.rglob("*.yaml"))
    assert files == ["a-b/c.yaml", "a/b-c.yaml", "hermes-mcp/hermes-db.yaml", "hermes-mcp/hermes-secrets.yaml"]
    user = extra["vault_hermes_smtp_user"]
    for namespace, name, who in (("a-b", "c", "-in-a-b"), ("a", "b-c", "-in-a")):
        opened = controller.unseal(key_pair[0], yaml.safe_load((sealed / namespace / ("%s.yaml" % name)).read_text()))
        assert opened == {"WHO": (user + who).encode()}
    in_cluster = kube.get("bitnami.com/v1alpha1", "SealedSecret", "hermes-db", "hermes-mcp")
    assert yaml.safe_load((sealed / "hermes-mcp" / "hermes-db.yaml").read_text())["spec"] == in_cluster["spec"]
    assert (tmp_path / "control" / "files" / "sealed-secrets-cert.pem").read_text() == key_pair[1]
    assert (tmp_path / "control" / "backup" / "keys.vault.yml").read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;")
    assert (tmp_path / "home" / ".cache" / "squaremcp" / "sealed-secrets" / "controller-0.36.6.yaml").read_text() \
        == CONTROLLER_MANIFEST

    rc, report = setup.run(PLAYBOOK, extra)
    assert rc == 0 and changed(report) == [], (failures(report), changed(report))

    # restore (a rebuilt cluster lost its key): the backup is read on the control host, again without sudo
    kube.delete("v1", "Secret", "sealed-secrets-key7x2lq", "kube-system")
    rc, report = setup.run(PLAYBOOK, extra, "-e", "sealed_secrets_restore=true")
    assert rc == 0, failures(report)
    assert kube.get("v1", "Secret", "sealed-secrets-key7x2lq", "kube-system")["metadata"]["labels"][KEY_LABEL] == "active"
    assert setup.sudo_calls()[0] == []


def test_certificate_is_fetched_with_no_secrets_listed(cluster, key_pair, tmp_path, manifest):
    setup = Setup(tmp_path, cluster)
    extra = role_vars(tmp_path, cluster, manifest, sealed_secrets_secrets=[], sealed_secrets_install=False,
                      sealed_secrets_backup=False)
    rc, report = setup.run(PLAYBOOK, extra)
    assert rc == 0, failures(report)
    assert (tmp_path / "control" / "files" / "sealed-secrets-cert.pem").read_text() == key_pair[1]
    assert not (tmp_path / "control" / "sealed").exists()
    assert cluster.list("bitnami.com/v1alpha1", "SealedSecret") == []
    assert setup.sudo_calls()[0] == []


@pytest.mark.parametrize("checksum,message", [
    (None, 'sealed_secrets_manifest_checksum is "sha256:CHANGE_ME", not "sha256:" and 64 hex digits'),
    ("", 'sealed_secrets_manifest_checksum is "", not "sha256:" and 64 hex digits'),
    ("md5:0123456789abcdef0123456789abcdef", "not \"sha256:\" and 64 hex digits"),
    ("sha256:" + "0" * 64, "did not match"),
], ids=["production CHANGE_ME", "empty", "not sha256", "wrong digest"])
def test_unpinned_or_mismatching_manifest_is_never_applied(cluster, tmp_path, manifest, checksum, message):
    setup = Setup(tmp_path, cluster)
    extra = role_vars(tmp_path, cluster, manifest)
    if checksum is None:  # the production inventory's own value
        del extra["sealed_secrets_manifest_checksum"]
    else:
        extra["sealed_secrets_manifest_checksum"] = checksum
    cluster.clear_requests()
    rc, report = setup.run(PLAYBOOK, extra)
    assert rc != 0
    (task, msg), = failures(report)
    assert message in msg, msg
    if "hex digits" in message:
        assert task.endswith(" : Check that the downloaded controller manifest is pinned by its checksum")
        assert "sha256sum controller.yaml" in msg and "sealed_secrets_manifest_file" in msg
        assert not (tmp_path / "home" / ".cache").exists()  # nothing downloaded
    assert [r.method for r in cluster.requests_matching() if r.method in ("POST", "PUT", "PATCH", "DELETE")] == []
    assert cluster.get("v1", "ServiceAccount", "sealed-secrets-controller", "kube-system") is None


def test_microk8s_kubeconfig_export_with_production_inventory_never_becomes_on_the_control_host(tmp_path):
    """roles/microk8s/tasks/kubeconfig.yml as playbooks/k8s.yml runs it (play-level become: true)."""
    setup = Setup(tmp_path)
    state = tmp_path / "microk8s-state.json"
    state.write_text(json.dumps({"primary": HOST, "addresses": {HOST: "127.0.0.1"}, "clusters": {},
                                 "member_of": {}, "tokens": {}, "log": []}))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    executable(bindir / "microk8s", '#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, FAKE_MICROK8S))
    play = [{"name": "Export the kubeconfig", "hosts": "k8s_control_plane", "become": True, "gather_facts": False,
             "environment": {"PATH": "%s:%s" % (bindir, os.environ["PATH"]), "FAKE_MICROK8S_STATE": str(state),
                             "FAKE_MICROK8S_NODE": "{{ inventory_hostname }}"},
             "tasks": [{"name": "Kubeconfig", "ansible.builtin.include_role": {
                 "name": "squaremcp.infra.microk8s", "tasks_from": "kubeconfig.yml"}}]}]
    playbook = tmp_path / "kubeconfig.yml"
    playbook.write_text(yaml.safe_dump(play))
    exported = tmp_path / "control" / "kube" / "config"
    rc, report = setup.run(playbook, {"microk8s_kubeconfig_export_path": str(exported)})
    assert rc == 0, failures(report)
    assert setup.sudo_calls()[0] == [] and setup.sudo_calls()[1], setup.sudo_calls()
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert yaml.safe_load(exported.read_text())["current-context"] == "microk8s"
