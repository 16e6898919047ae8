# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`promtool test rules` for every alert of roles/monitoring/files/rules: each fires when it should and
stays silent when it should not, on series shaped like what really produces them:

* blackbox metrics are the REAL output of Debian's blackbox exporter, run with the role's generated
  blackbox.yml against local TLS servers (certificates from tests/certs_factory.py expiring in 5, 2 and
  90 days; a 500; Hermes' /health with status ok and degraded), relabelled as the role's blackbox job
  does; only the expiry is moved to promtool's clock (which starts at 1970);
* the stacks watchdog's textfile is what its real writer produces: the watchdog entry point's Recorder
  (roles/stacks/files/squaremcp_stack_watchdog.py), fed with ServiceStatus entries that _stacks builds
  from `docker inspect` documents, with the maintenance flag as a real file, written through
  ProcessFileOps and read back from disk;
* the drift check's and the ingress audit's textfiles are what the real writers produce, generated here:
  tools/drift-check (the callback squaremcp.infra.drift's metrics) on the drift fixture playbook for host
  squaremcp-prod-1, drifted and then converged, and tools/drift-check ingress-audit (ingress_class,
  audit) against the Kubernetes double with the seed's Ingresses, unserved and then all on class public;
  the certificate rotation's rules are tested on its real output in test_cert_rotation_alerts.py, the
  backup's in test_backup_alerts.py;
* node exporter, Traefik and `up` series carry the labels those targets really expose.

A coverage check makes sure no alert of the rule files goes untested either way. Alertmanager's
routing of the same alerts is checked with `amtool config routes test`.
"""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import os
import re
import ssl
import subprocess
import tempfile
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import _monitoring as mon
from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks
from tests.certs_factory import CertFactory, cert_pem
from tests.integration.monitoring_lab import free_port
from tests.integration.test_drift_check import common, converge, drift_check, local_inventory
from tests.integration.test_ingress_edge import load_134
from tests.unit.test_monitoring_config import options

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "roles" / "monitoring" / "files" / "rules").glob("*.rules.yml"))
TEXTFILE = ROOT / "tests" / "fixtures" / "monitoring" / "textfile"
WATCHDOG = ROOT / "roles" / "stacks" / "files" / "squaremcp_stack_watchdog.py"
CERT_RULES = "squaremcp_certificates.rules.yml"  # tested in test_cert_rotation_alerts.py
OWN_TESTS = {CERT_RULES, "backup.rules.yml"}  # the backup rules: test_backup_alerts.py
NODE = {"instance": "squaremcp-prod-1:9100", "job": "node"}
DAY = 86400
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
ALWAYS = {"Watchdog"}  # fires by design: no silent case
pytestmark = pytest.mark.slow


def alerts_in(paths):
    return [rule["alert"] for path in paths for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def series(name, labels, values):
    return {"series": "%s{%s}" % (name, ",".join('%s="%s"' % item for item in sorted(labels.items()))), "values": values}


def exposition(text, labels, minutes, rebase=None):
    """Every sample of a Prometheus text exposition as a constant series over ``minutes`` with ``labels``
    (the scrape target's); ``rebase`` maps a metric name to a function of its value."""
    inputs = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        own = {k: v for k, v in LABEL.findall(match.group("labels") or "") if v}
        value = float(match.group("value"))
        if rebase and match.group("name") in rebase:
            value = rebase[match.group("name")](value)
        inputs.append(series(match.group("name"), dict(own, **labels), "%s+0x%d" % (repr(value), minutes)))
    return inputs


class Expectations(object):
    """alert_rule_test entries; remembers which alerts were expected to fire and to stay silent."""

    def __init__(self):
        self.fired, self.silent = set(), set()

    def __call__(self, eval_time, alertname, *alerts):
        """``alerts``: (labels, summary) pairs; none means the alert must be silent at ``eval_time``."""
        (self.fired if alerts else self.silent).add(alertname)
        return {"eval_time": eval_time, "alertname": alertname,
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": {"summary": summary}} for labels, summary in alerts]}


def promtool_test(promtool, tmp_path, tests):
    spec = {"rule_files": [str(p) for p in RULES], "evaluation_interval": "1m", "tests": tests}
    path = tmp_path / "monitoring-tests.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    return subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)


# --- the stacks watchdog's real output -----------------------------------------------------------

def container(service, state="running", health="healthy", exit_code=0, restarts=0):
    """A `docker inspect` document of a Compose container (the fields _stacks reads)."""
    attrs = {"Id": service.encode().hex().ljust(12, "0")[:12], "Name": "/%s-1" % service, "RestartCount": restarts,
             "State": {"Status": state, "ExitCode": exit_code, "StartedAt": "2026-12-01T00:00:00Z"},
             "Config": {"Env": [], "Healthcheck": {"Test": ["CMD", "probe"]}}}
    if state == "running":
        attrs["State"]["Health"] = {"Status": health, "FailingStreak": 0 if health == "healthy" else 5,
                                    "Log": [{"ExitCode": 0 if health == "healthy" else 1, "Output": "probe"}]}
    return attrs


STACK_SCENARIOS = {  # scenario: ({(stack, service): inspect document}, stacks with the maintenance flag set)
    "healthy": ({}, ()),
    # the watchdog's restore failed: hermes-mcp stays exited (and Docker restarted it twice before)
    "stopped": ({("hermes", "hermes-mcp"): container("hermes-mcp", "exited", exit_code=137, restarts=2)}, ()),
    "unhealthy": ({("fetcherpay", "postgres"): container("postgres", health="unhealthy")}, ()),
    "maintenance": ({("hermes", "hermes-mcp"): container("hermes-mcp", "exited", exit_code=0)}, ("hermes",)),
}


def watchdog_textfile(tmp_path, scenario):
    """The textfile the watchdog writes for ``scenario``, as its Recorder writes it (the last write of a run)."""
    spec = importlib.util.spec_from_file_location("squaremcp_stack_watchdog_%s" % scenario, WATCHDOG)
    watchdog = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(watchdog)
    faults, flagged = STACK_SCENARIOS[scenario]
    directory = Path(tempfile.mkdtemp(prefix="watchdog-%s-" % scenario, dir=tmp_path))
    (directory / "maintenance").mkdir()
    for stack in flagged:
        (directory / "maintenance" / stack).touch()
    redact = stacks.Redactor([])
    statuses = [stacks.status_from_inspect(stack, service, faults.get((stack, service)) or container(service), redact)
                for stack, service in (("fetcherpay", "api"), ("fetcherpay", "postgres"), ("hermes", "hermes-mcp"))]
    recorder = watchdog.Recorder(str(directory / "squaremcp_stacks.prom"), str(directory / "state.json"),
                                 ["fetcherpay", "hermes"], str(directory / "maintenance"))
    recorder.write(statuses, success=all(s.ok for s in statuses))
    return (directory / "squaremcp_stacks.prom").read_text()


def test_the_watchdog_textfile_carries_the_scenarios(tmp_path):
    """The generated snapshots hold what the scenarios say (so the rule test below cannot pass on empty input)."""
    def samples(scenario):
        return {(m.group("name"), m.group("labels") or ""): float(m.group("value"))
                for m in map(SAMPLE.match, watchdog_textfile(tmp_path, scenario).splitlines()) if m}

    hermes = 'service="hermes-mcp",stack="hermes"'
    postgres = 'service="postgres",stack="fetcherpay"'
    assert samples("healthy")[("squaremcp_stack_service_up", hermes)] == 1
    assert samples("stopped")[("squaremcp_stack_service_up", hermes)] == 0
    assert samples("stopped")[("squaremcp_stack_service_restarts_total", hermes)] == 2
    assert samples("unhealthy")[("squaremcp_stack_service_up", postgres)] == 1
    assert samples("unhealthy")[("squaremcp_stack_service_healthy", postgres)] == 0
    assert samples("maintenance")[("squaremcp_stack_maintenance", 'stack="hermes"')] == 1


# --- the blackbox exporter's real output ---------------------------------------------------------

class Site(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = {"/": (200, b"ok\n"), "/broken": (500, b"boom\n"),
                        "/health": (200, b'{"status":"ok","service":"hermes-mcp","toolCount":42}'),
                        "/health-degraded": (200, b'{"status":"degraded","service":"hermes-mcp"}')}[self.path]
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if self.path.startswith("/health") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def probes(tmp_path_factory, monitoring_tools):
    """{case: (probe output, capture time)}: the blackbox exporter's /probe answers for each case."""
    tmp = tmp_path_factory.mktemp("blackbox")
    factory = CertFactory()
    servers, ports = [], {}
    for name, days in (("soon", 5), ("critical", 2), ("fine", 90)):
        pair = factory.issue(["localhost"], days=days)
        (tmp / (name + ".pem")).write_bytes(pair.crt + pair.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tmp / (name + ".pem")))
        server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        ports[name] = server.server_address[1]
    (tmp / "root.pem").write_bytes(cert_pem(factory.root))
    (tmp / "blackbox.yml").write_text(mon.build(options()).files[mon.BLACKBOX])  # the role's modules
    port = free_port()
    env = dict(os.environ, SSL_CERT_FILE=str(tmp / "root.pem"))  # Go trusts the test root only
    exporter = subprocess.Popen([str(monitoring_tools / "usr/bin/prometheus-blackbox-exporter"),
                                 "--config.file=%s" % (tmp / "blackbox.yml"), "--web.listen-address=127.0.0.1:%d" % port],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    cases = {"tls_soon": ("tls", "localhost:%d" % ports["soon"]), "tls_critical": ("tls", "localhost:%d" % ports["critical"]),
             "tls_fine": ("tls", "localhost:%d" % ports["fine"]), "http_ok": ("http_2xx", "https://localhost:%d/" % ports["fine"]),
             "http_500": ("http_2xx", "https://localhost:%d/broken" % ports["fine"]),
             "hermes_ok": ("hermes_health", "https://localhost:%d/health" % ports["fine"]),
             "hermes_degraded": ("hermes_health", "https://localhost:%d/health-degraded" % ports["fine"]),
             # an edge by address (its certificate names no address: edge_tls does not verify it), and one that is down
             "edge_up": ("edge_tls", "127.0.0.1:%d" % ports["fine"]), "edge_down": ("edge_tls", "127.0.0.1:%d" % free_port())}
    outputs = {}
    try:
        for case, (module, target) in cases.items():
            url = "http://127.0.0.1:%d/probe?module=%s&target=%s" % (port, module, urllib.request.quote(target, safe=""))
            for _attempt in range(100):
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        outputs[case] = (module, response.read().decode(), datetime.datetime.now().timestamp())
                    break
                except OSError:
                    threading.Event().wait(0.1)
            assert case in outputs, "the blackbox exporter did not answer"
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)
        for server in servers:
            server.shutdown()
    return outputs


def blackbox_series(probes, case, instance, minutes):
    """A probe's real output as Prometheus stores it (job blackbox, instance = the public target, module),
    with probe_ssl_earliest_cert_expiry moved so that the time left is the same at promtool's t=0."""
    module, text, captured = probes[case]

    def left_at_zero(expiry):
        return float(round((expiry - captured) / 60) * 60)  # whole minutes: the summaries are exact

    return exposition(text, {"instance": instance, "job": "blackbox", "module": module}, minutes,
                      rebase={"probe_ssl_earliest_cert_expiry": left_at_zero})


def test_the_probes_answer_like_a_visitor_would_see_them(probes):
    values = {case: dict((m.group("name"), m.group("value")) for m in map(SAMPLE.match, text.splitlines()) if m)
              for case, (_module, text, _t) in probes.items()}
    assert {case: v["probe_success"] for case, v in values.items()} == {
        "tls_soon": "1", "tls_critical": "1", "tls_fine": "1", "http_ok": "1", "http_500": "0", "hermes_ok": "1",
        "hermes_degraded": "0", "edge_up": "1", "edge_down": "0"}
    assert values["http_500"]["probe_http_status_code"] == "500"
    assert values["hermes_degraded"]["probe_failed_due_to_regex"] == "1"
    left = {case: float(values[case]["probe_ssl_earliest_cert_expiry"]) - probes[case][2] for case in ("tls_soon", "tls_critical")}
    assert 4.9 * DAY < left["tls_soon"] <= 5 * DAY and 1.9 * DAY < left["tls_critical"] <= 2 * DAY


def drift_textfiles(tmp_path):
    """{scenario: squaremcp_drift.prom} as tools/drift-check writes it for host squaremcp-prod-1 (the drift
    fixture playbook on an empty directory: drifted; after converging it: clean), and the drifted task count."""
    work = tmp_path / "drift"
    work.mkdir()
    args = common(work, local_inventory(work, **{"squaremcp-prod-1": {"ansible_connection": "local"}}))
    drifted = drift_check(work, *args)
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    texts = {"drifted": (work / "squaremcp_drift.prom").read_text()}
    count = json.loads((work / "drift.json").read_text())["drifted_tasks"]
    converge(work)
    clean = drift_check(work, *args)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    texts["clean"] = (work / "squaremcp_drift.prom").read_text()
    return texts, count


def ingress_textfiles(kube, tmp_path):
    """{scenario: squaremcp_ingress.prom} as tools/drift-check ingress-audit writes it: the seed's Ingresses
    (some on classes no controller serves: unserved), then all of them on class public (served); and the count."""
    work = tmp_path / "ingress"
    work.mkdir()
    inventory = work / "inventory.yml"
    inventory.write_text(json.dumps({"k8s_control_plane": {"hosts": {"squaremcp-prod-1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False,
        "microk8s_kubeconfig_path": kube.kubeconfig_path}}}}))
    args = ["ingress-audit", "-i", str(inventory), "--report", str(work / "ingress.json"),
            "--textfile", str(work / "squaremcp_ingress.prom")]
    load_134(kube)
    unserved = drift_check(work, *args)
    assert unserved.returncode == 2, unserved.stdout + unserved.stderr
    texts = {"unserved": (work / "squaremcp_ingress.prom").read_text()}
    count = json.loads((work / "ingress.json").read_text())["unserved"]
    for ingress in kube.list("networking.k8s.io/v1", "Ingress"):
        public = copy.deepcopy(ingress)
        public["spec"]["ingressClassName"] = "public"
        public["metadata"].get("annotations", {}).pop("kubernetes.io/ingress.class", None)
        kube.apply(public)
    served = drift_check(work, *args)
    assert served.returncode == 0, served.stdout + served.stderr
    texts["served"] = (work / "squaremcp_ingress.prom").read_text()
    return texts, count


def test_every_alert_fires_when_it_should_and_only_then(promtool, tmp_path, probes, kube):
    expect = Expectations()
    tests = []

    # Watchdog, TargetDown
    tests.append({"interval": "1m", "input_series": [series("up", NODE, "1x10 0x10")], "alert_rule_test": [
        expect("5m", "Watchdog", ({"severity": "warning"},
                                  "Heartbeat of the monitoring pipeline (Prometheus -> Alertmanager -> heartbeat URL); it always fires")),
        expect("5m", "TargetDown"), expect("12m", "TargetDown"),  # down since 11m, `for: 2m`
        expect("14m", "TargetDown", (dict(NODE, severity="critical"), "Prometheus cannot scrape the node target "
                                     "squaremcp-prod-1:9100: the service or its host is down or unreachable"))]})

    # Probes: EndpointProbeFailed, CertificateExpiringSoon / Critical, on the exporter's real output
    inputs = (blackbox_series(probes, "tls_soon", "soon.example.test:443", 30)
              + blackbox_series(probes, "tls_critical", "critical.example.test:443", 30)
              + blackbox_series(probes, "tls_fine", "shop.example.test:443", 30)
              + blackbox_series(probes, "http_ok", "https://shop.example.test/", 30)
              + blackbox_series(probes, "http_500", "https://broken.example.test/", 30)
              + blackbox_series(probes, "hermes_ok", "https://mcp.example.test/health", 30)
              + blackbox_series(probes, "hermes_degraded", "https://mcp2.example.test/health", 30))

    def target(instance, module, severity):
        return {"instance": instance, "job": "blackbox", "module": module, "severity": severity}

    failed = "{} fails its {} probe from the monitoring host: the site is down for visitors (see probe_http_status_code and the " \
             "blackbox exporter's /logs)"
    soon = "The certificate served for {} expires in {}: check the certificate rotation (playbooks/cert_rotation.yml) and cert-manager"
    critical = "The certificate served for {} expires in {}: rotate it now (playbooks/cert_rotation.yml)"
    tests.append({"interval": "1m", "input_series": inputs, "alert_rule_test": [
        expect("1m", "EndpointProbeFailed"),  # failing, but not yet for 2 minutes
        expect("3m", "EndpointProbeFailed",
               (target("https://broken.example.test/", "http_2xx", "critical"), failed.format("https://broken.example.test/", "http_2xx")),
               (target("https://mcp2.example.test/health", "hermes_health", "critical"),
                failed.format("https://mcp2.example.test/health", "hermes_health"))),
        expect("6m", "CertificateExpiringCritical",  # `for: 5m`: 2 days left, critical only (the warning needs 10m)
               (target("critical.example.test:443", "tls", "critical"), critical.format("critical.example.test:443", "1d 23h 54m 0s"))),
        expect("6m", "CertificateExpiringSoon"),
        expect("11m", "CertificateExpiringSoon",
               (target("critical.example.test:443", "tls", "warning"), soon.format("critical.example.test:443", "1d 23h 49m 0s")),
               (target("soon.example.test:443", "tls", "warning"), soon.format("soon.example.test:443", "4d 23h 49m 0s"))),
    ]})
    # ... and 90 days left: silent however long
    tests.append({"interval": "1m", "input_series": blackbox_series(probes, "tls_fine", "shop.example.test:443", 30)
                  + blackbox_series(probes, "http_ok", "https://shop.example.test/", 30), "alert_rule_test": [
        expect("25m", "CertificateExpiringCritical"), expect("25m", "CertificateExpiringSoon"), expect("25m", "EndpointProbeFailed")]})

    # Edges: EdgeUnreachable (one edge, directly), EdgeFloatingIPUnreachable (the floating IP), on the exporter's real output
    def edge(case, instance, name, path, minutes=10):
        labels = {"instance": instance, "job": "blackbox", "module": "edge_tls", "edge": name, "path": path}
        return exposition(probes[case][1], labels, minutes), labels

    edge_1, edge_1_labels = edge("edge_down", "10.0.0.11:443", "edge-1", "direct")
    edge_2, _labels = edge("edge_up", "10.0.0.12:443", "edge-2", "direct")
    vip_up, _labels = edge("edge_up", "10.0.0.100:443", "10.0.0.100", "floating_ip")
    vip_down, vip_labels = edge("edge_down", "10.0.0.100:443", "10.0.0.100", "floating_ip")
    tests.append({"interval": "1m", "input_series": edge_1 + edge_2 + vip_up, "alert_rule_test": [
        expect("0m", "EdgeUnreachable"),  # `for: 1m`
        expect("2m", "EdgeUnreachable", (dict(edge_1_labels, severity="warning"),
                                         "Edge host edge-1 (10.0.0.11:443) does not answer TLS from the monitoring host: check its "
                                         "Traefik (docker ps -a, docker logs traefik) and keepalived (journalctl -u keepalived)")),
        expect("5m", "EdgeFloatingIPUnreachable"), expect("5m", "EndpointProbeFailed")]})
    tests.append({"interval": "1m", "input_series": vip_down, "alert_rule_test": [
        expect("2m", "EdgeFloatingIPUnreachable", (
            dict(vip_labels, severity="critical"),
            "The floating IP 10.0.0.100:443 does not answer TLS from the monitoring host: the sites are down for visitors; "
            "check which edge holds it (ip -4 addr on the edges) and their Traefik and keepalived"))]})

    # Traefik
    traefik = {"instance": "squaremcp-prod-1:8082", "job": "traefik"}
    tests.append({"interval": "1m", "input_series": [series("traefik_config_last_reload_success", traefik, "1x10 0x10")],
                  "alert_rule_test": [
        expect("10m", "TraefikConfigReloadFailed"), expect("15m", "TraefikConfigReloadFailed"),
        expect("16m", "TraefikConfigReloadFailed", (
            dict(traefik, severity="warning"),
            "Traefik on squaremcp-prod-1:8082 failed to load its latest configuration and still serves the previous one: "
            "read its log (docker logs traefik) and the files in dynamic/"))]})

    # Node exporter: a full real disk, a full tmpfs and a full read-only mount (ignored), memory
    root = dict(NODE, device="/dev/sda1", fstype="ext4", mountpoint="/")
    tmpfs = dict(NODE, device="tmpfs", fstype="tmpfs", mountpoint="/run")
    cdrom = dict(NODE, device="/dev/sr0", fstype="ext4", mountpoint="/media/cdrom")
    disk = [series("node_filesystem_size_bytes", labels, "1000x40") for labels in (root, tmpfs, cdrom)]
    disk += [series("node_filesystem_avail_bytes", root, "500x10 50x30"), series("node_filesystem_avail_bytes", tmpfs, "1x40"),
             series("node_filesystem_avail_bytes", cdrom, "0x40"), series("node_filesystem_readonly", root, "0x40"),
             series("node_filesystem_readonly", tmpfs, "0x40"), series("node_filesystem_readonly", cdrom, "1x40")]
    memory = [series("node_memory_MemTotal_bytes", NODE, "1000x40"), series("node_memory_MemAvailable_bytes", NODE, "500x10 50x30")]
    tests.append({"interval": "1m", "input_series": disk + memory, "alert_rule_test": [
        expect("10m", "HostDiskSpaceLow"), expect("20m", "HostDiskSpaceLow"),
        expect("26m", "HostDiskSpaceLow", (dict(root, severity="warning"), "/ on squaremcp-prod-1:9100 has 5% space left")),
        expect("10m", "HostMemoryPressure"), expect("15m", "HostMemoryPressure"),
        expect("21m", "HostMemoryPressure", (dict(NODE, severity="warning"), "squaremcp-prod-1:9100 has only 5% of its memory available"))]})

    # Textfile writers: one test per scenario (every writer's real output)
    def textfile(writer, scenario, minutes=30):
        if writer == "stacks":
            return exposition(watchdog_textfile(tmp_path, scenario), NODE, minutes)
        return exposition((TEXTFILE / writer / (scenario + ".prom")).read_text(), NODE, minutes)

    drift, drifted_tasks = drift_textfiles(tmp_path)
    ingress, unserved = ingress_textfiles(kube, tmp_path)
    assert drifted_tasks > 0 and unserved > 0

    stopped = "Service hermes-mcp of stack hermes on squaremcp-prod-1:9100 is not running and the watchdog could not bring it back " \
              "(playbooks/runbooks/restore_services.yml)"
    hermes = dict(NODE, service="hermes-mcp", stack="hermes")
    postgres = dict(NODE, service="postgres", stack="fetcherpay")
    unhealthy = "Service {} of stack {} on squaremcp-prod-1:9100 fails its health check"
    for scenario, checks in (
            ("healthy", [expect("20m", "DockerContainersStopped"), expect("20m", "DockerContainersUnhealthy")]),
            ("stopped", [expect("4m", "DockerContainersStopped"),
                         expect("6m", "DockerContainersStopped", (dict(hermes, severity="critical"), stopped)),
                         expect("6m", "DockerContainersUnhealthy",
                                (dict(hermes, severity="warning"), unhealthy.format("hermes-mcp", "hermes")))]),
            ("unhealthy", [expect("6m", "DockerContainersStopped"),
                           expect("6m", "DockerContainersUnhealthy",
                                  (dict(postgres, severity="warning"), unhealthy.format("postgres", "fetcherpay")))]),
            ("maintenance", [expect("20m", "DockerContainersStopped"), expect("20m", "DockerContainersUnhealthy")])):
        tests.append({"interval": "1m", "input_series": textfile("stacks", scenario), "alert_rule_test": checks})
    tests.append({"interval": "1m", "input_series": exposition(drift["clean"], NODE, 30),
                  "alert_rule_test": [expect("20m", "ConfigurationDrift")]})
    tests.append({"interval": "1m", "input_series": exposition(drift["drifted"], NODE, 30), "alert_rule_test": [
        expect("10m", "ConfigurationDrift"),
        expect("16m", "ConfigurationDrift", (
            dict(NODE, host="squaremcp-prod-1", severity="warning"),
            "%d task(s) would change on squaremcp-prod-1: it drifted from the inventory (see the drift report)" % drifted_tasks))]})
    tests.append({"interval": "1m", "input_series": exposition(ingress["served"], NODE, 30),
                  "alert_rule_test": [expect("20m", "IngressClassDrift")]})
    tests.append({"interval": "1m", "input_series": exposition(ingress["unserved"], NODE, 30), "alert_rule_test": [
        expect("10m", "IngressClassDrift"),
        expect("16m", "IngressClassDrift", (
            dict(NODE, severity="warning"),
            "%d Ingress(es) in the cluster of squaremcp-prod-1:9100 are served by no ingress controller: see "
            "playbooks/runbooks/edge_outage.yml" % unserved))]})

    tested = promtool_test(promtool, tmp_path, tests)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    own = set(alerts_in([p for p in RULES if p.name not in OWN_TESTS]))
    assert expect.fired == own, "alerts never expected to fire: %s" % sorted(own - expect.fired)
    assert expect.silent == own - ALWAYS, "alerts never expected to stay silent: %s" % sorted(own - ALWAYS - expect.silent)


def test_the_rules_test_can_fail(promtool, tmp_path):
    expect = Expectations()
    tested = promtool_test(promtool, tmp_path, [{"interval": "1m", "input_series": [series("up", NODE, "0x10")],
                                                 "alert_rule_test": [expect("5m", "TargetDown")]}])
    assert tested.returncode != 0 and "TargetDown" in tested.stdout + tested.stderr


def test_the_certificate_rules_are_covered_by_their_own_test():
    from tests.integration.test_cert_rotation_alerts import ALERTS, RULES as CERT_RULES_PATH
    assert CERT_RULES_PATH.name == CERT_RULES and CERT_RULES_PATH.parent == RULES[0].parent
    assert sorted(ALERTS) == sorted(alerts_in([CERT_RULES_PATH]))
    from tests.integration.test_backup_alerts import ALERTS as BACKUP_ALERTS, RULES as BACKUP_RULES
    assert sorted(BACKUP_ALERTS) == sorted(alerts_in([Path(BACKUP_RULES)]))
    assert {p.name for p in RULES} >= OWN_TESTS


@pytest.mark.parametrize("labels, receiver", [
    ({"alertname": "Watchdog", "severity": "warning"}, "heartbeat"),
    ({"alertname": "TargetDown", "severity": "critical", "instance": "x:9100"}, "oncall"),
    ({"alertname": "CertificateExpiringSoon", "severity": "warning"}, "oncall"),
])
def test_alertmanager_routes_the_heartbeat_apart_from_the_pages(monitoring_tools, tmp_path, labels, receiver):
    path = tmp_path / "alertmanager.yml"
    path.write_text(mon.build(options()).files[mon.ALERTMANAGER])
    routed = subprocess.run([str(monitoring_tools / "usr/bin/amtool"), "config", "routes", "test", "--config.file=%s" % path]
                            + ["%s=%s" % item for item in labels.items()], capture_output=True, text=True, check=False)
    assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


def test_every_squaremcp_metric_the_rules_and_dashboards_use_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `(squaremcp_[a-z_]+)` \|", readme, re.M))
    used = set()
    for path in RULES + sorted((ROOT / "roles/monitoring/files/dashboards").glob("*.json")):
        used |= set(re.findall(r"\b(squaremcp_[a-z_]+)\b(?![.\w])", path.read_text()))  # not the .prom file names
    assert table and used, (table, used)
    assert used - table == set(), "metric names the README table does not list"
