# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The edge outage runbook on localhost (an edge host and the cluster's first node at once) against the Kubernetes
double: the report (one JSON + one Markdown per run), its exit status, repair only of what a finding needs, and the
faults that must end with a clear message (reports directory missing or unset, a host unreachable from the start or
broken mid-run, a malformed previous report, the cluster API down, --check, secrets).

Docker is given through microk8s_docker_published and runbook_edge_container (the runbook takes them instead of
asking docker); Traefik's files are a tree in the test's directory; Kubernetes is the REST double.
"""

from __future__ import annotations

import json
import os
import shlex
import socketserver
import ssl
import subprocess
import sys
import threading

import pytest
import yaml

from tests.integration.test_ingress_edge import classes, host_ports, load_134

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNBOOK = os.path.join(ROOT, "playbooks", "runbooks", "edge_outage.yml")
TRAEFIK = [{"name": "traefik", "ports": [80, 443]}]
RUNNING = {"name": "traefik", "exists": True, "state": "running", "health": "healthy", "exit_code": 0}
CANARY = "canary-godaddy-secret-7f3a"


def edge_tree(tmp_path):
    traefik = tmp_path / "traefik"
    (traefik / "dynamic").mkdir(parents=True, exist_ok=True)
    (traefik / "traefik.yml").write_text("entryPoints:\n  web: {address: ':80'}\n  websecure: {address: ':443'}\n"
                                         "api: {dashboard: true, insecure: false}\n")
    (traefik / "dynamic" / "routes.yml").write_text(
        "http:\n  routers:\n    site:\n      rule: Host(`squaremcp.test`)\n      service: site\n"
        "  services:\n    site:\n      loadBalancer:\n        servers: [{url: 'http://site:80'}]\n")
    return traefik


def host_vars(kube, tmp_path, **extra):
    variables = dict(
        ansible_connection="local", ansible_python_interpreter=sys.executable, ansible_become=False,
        microk8s_kubeconfig_path=kube.kubeconfig_path, microk8s_edge_owner="docker",
        microk8s_ingress_host_ports={"http": 18080, "https": 18443}, microk8s_docker_published=TRAEFIK,
        runbook_edge_container=RUNNING, runbook_endpoint_port=0, traefik_config_dir=str(edge_tree(tmp_path)),
        traefik_routes_routers={"site": {"rule": "Host(`squaremcp.test`)"}}, traefik_dashboard_enabled=False,
        traefik_godaddy_api_secret=CANARY)
    variables.update(extra)
    return variables


def run(kube, tmp_path, variables, *args, hosts=None, reports=True):
    """ansible-playbook edge_outage.yml with localhost in edge and k8s_control_plane; returns the process."""
    return run_playbook(tmp_path, RUNBOOK, {"edge": {"hosts": dict({"localhost": variables}, **(hosts or {}))},
                                            "k8s_control_plane": {"hosts": {"localhost": None}}}, *args, reports=reports)


def runbook_env(tmp_path):
    """The environment the runbooks run in: the venv's ansible-playbook first on PATH (as after `make venv`), the
    collection from the checkout, Ansible's state in the test's directory, PWD the test's directory."""
    tmp = tmp_path / "ansible-tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp), ANSIBLE_REMOTE_TEMP=str(tmp), TMPDIR=str(tmp), ANSIBLE_NOCOLOR="1",
               no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost", PWD=str(tmp_path),
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    env.pop("ANSIBLE_CONFIG", None)
    return env


def run_playbook(tmp_path, playbook, children, *args, reports=True):
    """ansible-playbook PLAYBOOK with an inventory of these groups (runbook_reports_dir in the test's directory)."""
    reports_dir = tmp_path / "reports"
    if reports:
        reports_dir.mkdir(exist_ok=True)
    inventory = {"all": {"vars": {"runbook_reports_dir": str(reports_dir)} if reports else {}, "children": children}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(path), playbook, *args]
    return subprocess.run(command, env=runbook_env(tmp_path), capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path), check=False)


def run_fix(tmp_path, fix):
    """The command a finding suggests, run as printed (its text up to the description in brackets) from the
    directory the runbook ran in."""
    return subprocess.run(shlex.split(fix.split(" (")[0]), env=runbook_env(tmp_path), capture_output=True, text=True,
                          timeout=600, cwd=str(tmp_path), check=False)


def reports(tmp_path, runbook="edge_outage"):
    return sorted((tmp_path / "reports").glob("%s-*.json" % runbook))


def last_report(tmp_path, runbook="edge_outage"):
    return json.loads(reports(tmp_path, runbook)[-1].read_text())


def found(report):
    return sorted((f["kind"], f["subject"]) for f in report["findings"])


def test_split_edge_report_then_repair_then_clean(kube, tmp_path):
    load_134(kube)
    before = (host_ports(kube), classes(kube))
    variables = host_vars(kube, tmp_path)
    first = run(kube, tmp_path, variables)
    assert first.returncode != 0 and (host_ports(kube), classes(kube)) == before
    report = last_report(tmp_path)
    assert ("edge_ports", "80/443") in found(report) and len([k for k, _s in found(report) if k == "ingress_unserved"]) == 3
    split = next(f for f in report["findings"] if f["kind"] == "edge_ports")
    assert split["repair"] == "k8s" and "would still claim host ports Docker publishes" in split["summary"]
    assert split["fix"] == ("ansible-playbook -i inventory.yml %s -e repair=true (move the cluster ingress behind the edge "
                            "and reconcile the Ingress classes (microk8s role))" % RUNBOOK)
    assert "Edge outage: 4 problem(s) found" in first.stdout
    assert len(list((tmp_path / "reports").glob("*.md"))) == 1  # ONE report per run: one JSON + one Markdown

    repaired = run_fix(tmp_path, split["fix"])  # issue 15: the suggestion, run as printed
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    assert host_ports(kube) == {"http": 18080, "https": 18443, "health": 10254}
    assert classes(kube)["hermes-mcp/hermes-mcp"] == "public"
    report = last_report(tmp_path)
    assert report["ok"] is True and report["mode"] == "repair" and report["repair"]["steps"] == {"k8s": ["localhost"]}
    assert len(report["resolved"]) == 4 and report["still_wrong"] == [] and report["new"] == []
    assert "Edge outage after repair: 4 of 4 problem(s) resolved, 0 still wrong, 0 new" in repaired.stdout

    clean = run(kube, tmp_path, variables)
    assert clean.returncode == 0 and "Edge outage: all clear" in clean.stdout
    assert last_report(tmp_path)["previous"]["new_since"] == []
    assert len(reports(tmp_path)) == 3


def test_edge_down_suggests_only_the_edge_repair(kube, tmp_path):
    """Issue 15: with the Traefik container stopped, the fix is the edge, not the cluster's 30 tasks."""
    load_134(kube)
    variables = host_vars(kube, tmp_path, microk8s_ingress_host_ports={"http": 18080, "https": 18443},
                          microk8s_docker_published=[{"name": "postgres", "ports": [5432]}],
                          runbook_edge_container=dict(RUNNING, state="exited", exit_code=137, health="unhealthy"))
    result = run(kube, tmp_path, variables)
    assert result.returncode != 0
    edge = {f["kind"]: f for f in last_report(tmp_path)["findings"] if f["kind"].startswith("edge_")}
    assert edge["edge_ports"]["repair"] == "edge" and "the edge is down" in edge["edge_ports"]["summary"]
    assert edge["edge_container"]["summary"] == "the Traefik container traefik is exited (exit code 137)"
    assert "(re-sync the edge (traefik role" in edge["edge_ports"]["fix"]


def test_certificate_the_live_endpoint_serves(kube, tmp_path):
    """A TLS endpoint on 127.0.0.1 serving squaremcp.test (the inventory's router) a certificate that expires in 2
    days: the runbook names it from the live handshake (SNI), critical, with the days left."""
    from tests.certs_factory import CertFactory

    pair = CertFactory().issue(["squaremcp.test"], days=2.2)
    (tmp_path / "served.pem").write_bytes(pair.crt + pair.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "served.pem"))

    class Handshake(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                context.wrap_socket(self.request, server_side=True).close()
            except (OSError, ssl.SSLError):
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handshake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    variables = host_vars(kube, tmp_path, runbook_endpoint_port=server.server_address[1])
    routes = tmp_path / "traefik" / "dynamic" / "routes.yml"  # the probe asks for the names of TLS routers
    routes.write_text(routes.read_text().replace("      service: site\n", "      service: site\n      tls: {}\n", 1))
    try:
        result = run(kube, tmp_path, variables)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode != 0
    served = [f for f in last_report(tmp_path)["findings"] if f["kind"] == "certificate_served"]
    assert [(f["subject"], f["severity"]) for f in served] == [("squaremcp.test", "critical")], served
    assert "expires in 2 day(s)" in served[0]["summary"]


def test_check_mode_changes_nothing_and_writes_no_report(kube, tmp_path):
    load_134(kube)
    before = (host_ports(kube), classes(kube))
    result = run(kube, tmp_path, host_vars(kube, tmp_path), "-e", "repair=true", "--check")
    assert result.returncode != 0
    assert (host_ports(kube), classes(kube)) == before
    assert reports(tmp_path) == [] and "(not written: check mode)" in result.stdout
    assert "Edge outage after repair: 0 of 4 problem(s) resolved, 4 still wrong" in result.stdout
    assert [r.path for r in kube.requests_matching("PATCH") if r.query.get("dryRun") != "All"] == []


def test_missing_reports_directory_stops_before_anything_is_read(kube, tmp_path):
    load_134(kube)
    result = run(kube, tmp_path, host_vars(kube, tmp_path), "-e", "repair=true", reports=False)
    assert result.returncode != 0
    assert "set runbook_reports_dir in the inventory" in result.stdout
    missing = run(kube, tmp_path, host_vars(kube, tmp_path, runbook_reports_dir=str(tmp_path / "nowhere")), reports=False)
    assert missing.returncode != 0
    assert "runbook_reports_dir %s cannot take the report" % (tmp_path / "nowhere") in missing.stdout
    assert "nothing was collected or repaired" in missing.stdout
    assert not kube.requests_matching("GET")


def test_reports_directory_that_is_a_file(kube, tmp_path):
    (tmp_path / "reports").write_text("not a directory\n")
    variables = host_vars(kube, tmp_path, runbook_reports_dir=str(tmp_path / "reports"))
    result = run(kube, tmp_path, variables, reports=False)
    assert result.returncode != 0 and "cannot take the report" in result.stdout and "is not a directory" in result.stdout
    assert (tmp_path / "reports").read_text() == "not a directory\n"


def test_unreachable_host_is_reported_and_the_report_still_written(kube, tmp_path):
    load_134(kube)
    gone = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
            "ansible_ssh_common_args": "-o ConnectTimeout=2", "runbook_edge_container": RUNNING}
    result = run(kube, tmp_path, host_vars(kube, tmp_path, microk8s_ingress_host_ports={"http": 18080, "https": 18443}),
                 hosts={"edge-gone": gone})
    assert result.returncode != 0
    unreachable = [f for f in last_report(tmp_path)["findings"] if f["kind"] == "host_unreachable"]
    assert [f["host"] for f in unreachable] == ["edge-gone"] and "unreachable" in unreachable[0]["summary"]


def test_host_broken_mid_run_is_reported(kube, tmp_path):
    """The edge host works for the first collection, then its Python disappears (repair and second collection)."""
    load_134(kube)
    broken = "{{ '/nonexistent/python' if hostvars['localhost'].runbook_repairing | default(false) else '%s' }}" \
             % sys.executable
    result = run(kube, tmp_path, host_vars(kube, tmp_path, ansible_python_interpreter=broken), "-e", "repair=true")
    assert result.returncode != 0
    report = last_report(tmp_path)
    assert report["repair"]["ran"] is True and report["repair"]["errors"]
    assert any(f["kind"] in ("edge_unreadable", "cluster_api") for f in report["findings"]), report["findings"]


def test_malformed_previous_report_is_named_and_not_fatal(kube, tmp_path):
    load_134(kube)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "edge_outage-20000101T000000Z.json").write_text('{"findings": [')
    result = run(kube, tmp_path, host_vars(kube, tmp_path))
    assert "edge_outage-20000101T000000Z.json is not a readable report" in result.stdout
    assert last_report(tmp_path)["previous"]["error"].endswith("move it away if it keeps failing")


def test_cluster_api_down_and_unparsable_route_file(kube, tmp_path):
    variables = host_vars(kube, tmp_path, microk8s_kubeconfig_path=str(tmp_path / "no-kubeconfig"))
    (tmp_path / "traefik" / "dynamic" / "hand.yml").write_text("http:\n  routers: [\n")
    result = run(kube, tmp_path, variables)
    assert result.returncode != 0
    report = last_report(tmp_path)
    kinds = {f["kind"]: f for f in report["findings"]}
    assert "could not read the cluster on localhost" in kinds["cluster_api"]["summary"]
    assert kinds["cluster_api"]["repair"] == "" and "microk8s status" in kinds["cluster_api"]["fix"]
    assert "hand.yml does not parse" in kinds["route_file_unparsable"]["summary"]
    assert "line 3" in kinds["route_file_unparsable"]["summary"]


def test_no_secret_in_reports_or_output(kube, tmp_path):
    load_134(kube)
    variables = host_vars(kube, tmp_path)
    (tmp_path / "traefik" / "dynamic" / "hand.yml").write_text(
        "http:\n  routers:\n    admin:\n      rule: Host(`admin.test`)\n      service: api@internal\n"
        "      middlewares: [auth]\n  middlewares:\n    auth:\n      basicAuth:\n        users:\n"
        "          - 'admin:$2y$05$Ax8hyGP8D6ZuWkH4nA8Ize7YQ0Hk8Qz2i6q3lXh8v3aQ2qP6d5o1K'\n")
    result = run(kube, tmp_path, variables, "-v")
    text = "".join(p.read_text() for p in (tmp_path / "reports").iterdir())
    assert CANARY not in text + result.stdout + result.stderr
    assert "Ax8hyGP8D6ZuWkH4nA8Ize7YQ0Hk8Qz2i6q3lXh8v3aQ2qP6d5o1K" not in text
    assert "router admin in" in text and "reaches the Traefik API without TLS" in text


def test_cert_rotation_writes_the_same_report(kube, tmp_path):
    """playbooks/cert_rotation.yml with runbook_reports_dir: a hand-planted certificate that expires in 2 days is
    listed before the sync and resolved after it (the sync owns certificates.yml); exit 0."""
    from tests.certs_factory import CertFactory

    factory = CertFactory()
    kube.create(factory.valid("shop.example.com").secret("shop-tls", "edge"))
    traefik = edge_tree(tmp_path)
    (traefik / "certs").mkdir()
    factory.expiring("shop.example.com", days=2.2).write(str(traefik / "certs"), "manual")
    (traefik / "dynamic" / "certificates.yml").write_text(
        'tls:\n  certificates:\n    - certFile: "/etc/traefik/certs/manual.crt"\n      keyFile: "/etc/traefik/certs/manual.key"\n')
    (tmp_path / "reports").mkdir()
    (tmp_path / "textfile").mkdir()
    variables = host_vars(kube, tmp_path, cert_rotation_kubeconfig=kube.kubeconfig_path,
                          cert_rotation_namespaces=["edge"], cert_rotation_traefik_dir=str(traefik),
                          cert_rotation_textfile_dir=str(tmp_path / "textfile"),
                          cert_rotation_report_path=str(tmp_path / "textfile" / "report.txt"))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"runbook_reports_dir": str(tmp_path / "reports")},
                                                 "children": {"edge": {"hosts": {"localhost": variables}}}}}))
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", PWD=str(tmp_path))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
               os.path.join(ROOT, "playbooks", "cert_rotation.yml")]
    before = (traefik / "dynamic" / "certificates.yml").read_bytes()
    checked = subprocess.run(command + ["--check"], env=env, capture_output=True, text=True, timeout=600,
                             cwd=str(tmp_path), check=False)
    assert (traefik / "dynamic" / "certificates.yml").read_bytes() == before, checked.stdout[-3000:]
    assert sorted((traefik / "certs").iterdir()) == [traefik / "certs" / "manual.crt", traefik / "certs" / "manual.key"]
    assert list((tmp_path / "reports").iterdir()) == [] and "(not written: check mode)" in checked.stdout
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=str(tmp_path), check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    report = json.loads(sorted((tmp_path / "reports").glob("cert_rotation-*.json"))[-1].read_text())
    assert [f["subject"] for f in report["before"]] == ["/etc/traefik/certs/manual.crt"]
    assert [f["kind"] for f in report["resolved"]] == ["certificate_file"] and report["ok"] is True
    assert report["repair"]["steps"] == {"certs": ["localhost"]}
    assert "Certificate rotation after repair: 1 of 1 problem(s) resolved" in done.stdout
