# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring role's compose method on localhost (monitoring_compose_up: false: the pinned images
are never pulled here), next to the package method:

* Prometheus', Alertmanager's and the blackbox exporter's files are byte-identical for both methods,
  and the flags differ only in paths;
* the rendered project passes `docker compose config`; every path a service's flags name exists
  through its read-only mounts; every service uses the host's network and a pinned image;
* Grafana, Loki and Alloy (which cannot run here) are checked against each other: datasource uids
  the dashboards use exist with the right type, ports and paths agree, the labels the dashboards'
  log queries select are the ones Alloy attaches, and every PromQL expression of every dashboard
  passes `promtool check rules` (wrapped as recording rules).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.monitoring_lab import failures, free_port, host_vars, playbook, results, run_playbook, tree, write_inventory

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "roles/monitoring/files/dashboards").glob("*.json"))
SHARED = ("prometheus/", "alertmanager/", "blackbox/")
GRAFANA_BUILTINS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "${__rate_interval}": "5m"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, monitoring_tools):
    tmp = tmp_path_factory.mktemp("compose")
    ports = {"prometheus": free_port(), "alertmanager": free_port(), "blackbox": free_port()}
    common = {"monitoring_grafana_admin_password": "grafana-s3cr3t", "monitoring_traefik_access_log_dir": str(tmp / "traefik-logs")}
    compose = host_vars(monitoring_tools, tmp / "compose-config", ports, monitoring_install_method="compose",
                        monitoring_compose_up=False, monitoring_compose_dir=str(tmp / "compose"), **common)
    compose["monitoring_check_commands"].update(loki=[], alloy=[])  # neither can run here
    package = host_vars(monitoring_tools, tmp / "package-config", ports, **common)
    (tmp / "traefik-logs").mkdir()
    flags = {"name": "Flags", "ansible.builtin.debug": {"var": "__monitoring_flags"}}
    # The same host (mon-1) in two inventories that differ only in the method. compose: the whole role;
    # package: the configuration (installing needs Debian's packages and systemd: Molecule does that), and no
    # service runs here to reload (test_monitoring_role.py runs them).
    rc, report, stderr = run_playbook(write_inventory(tmp / "compose-inventory", {"mon-1": compose}),
                                      playbook(tmp / "compose.yml", tasks_from=None, extra_tasks=[flags]))
    assert rc == 0, failures(report) or stderr
    compose_flags = results(report, "mon-1", "Flags")[0]["__monitoring_flags"]
    rc, report, stderr = run_playbook(write_inventory(tmp / "package-inventory", {"mon-1": package}),
                                      playbook(tmp / "package.yml", extra_tasks=[flags]), "-e", json.dumps({"__monitoring_running": False}))
    assert rc == 0, failures(report) or stderr
    package_flags = results(report, "mon-1", "Flags")[0]["__monitoring_flags"]
    project = subprocess.run(["docker", "compose", "--file", str(tmp / "compose/compose.yml"), "config", "--format", "json"],
                             capture_output=True, text=True, check=False)
    return {"tmp": tmp, "compose": tree(tmp / "compose-config"), "package": tree(tmp / "package-config"),
            "compose_flags": compose_flags, "package_flags": package_flags, "project": project,
            "config": tmp / "compose-config", "ports": ports}


def test_prometheus_alertmanager_and_blackbox_files_are_byte_identical(rendered):
    shared = {path: entry[0] for path, entry in rendered["compose"].items() if path.startswith(SHARED)}
    package = {path: entry[0] for path, entry in rendered["package"].items() if path.startswith(SHARED)}
    assert shared and shared == package
    assert sorted(set(rendered["compose"]) - set(rendered["package"])) == sorted(
        ["alloy/config.alloy", "loki/loki.yml", "grafana/provisioning/datasources/squaremcp.yml",
         "grafana/provisioning/dashboards/squaremcp.yml"] + ["grafana/dashboards/" + p.name for p in DASHBOARDS])


def test_the_flags_differ_only_in_paths(rendered):
    compose, package = rendered["compose_flags"], rendered["package_flags"]
    assert sorted(compose) == sorted(package)
    for service in compose:
        def split(flags):
            return [(flag.split("=", 1)[0], flag.split("=", 1)[1] if "=" in flag else None) for flag in flags
                    if flag != "--path.rootfs=/host"]
        c, p = split(compose[service]), split(package[service])
        assert [name for name, _v in c] == [name for name, _v in p], service
        for (name, cv), (_name, pv) in zip(c, p):
            if cv != pv:
                assert cv.startswith("/") and pv.startswith("/"), (service, name, cv, pv)


def test_docker_compose_accepts_the_project(rendered):
    assert rendered["project"].returncode == 0, rendered["project"].stderr


def mounts(service):
    return [(v["source"], v["target"], v.get("read_only", False)) for v in service.get("volumes", [])]


def host_path(service, path):
    """The host file a path inside the container is, through the service's bind mounts (None if not mounted)."""
    for source, target, _ro in mounts(service):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return Path(source + path[len(target):]) if source.startswith("/") else None
    return None


def test_every_service_runs_on_the_host_network_from_a_pinned_image_with_read_only_configuration(rendered):
    project = json.loads(rendered["project"].stdout)
    services = project["services"]
    assert sorted(services) == ["alertmanager", "alloy", "blackbox-exporter", "grafana", "loki", "node-exporter", "prometheus"]
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert "ports" not in service, name
        image = service["image"]
        assert re.search(r":v?\d+\.\d+\.\d+$", image), (name, image)
        for source, target, read_only in mounts(service):
            if source.startswith(str(rendered["config"])):
                assert read_only, (name, target)
    config = rendered["config"]
    for name, flag in (("prometheus", "--config.file="), ("alertmanager", "--config.file="), ("blackbox-exporter", "--config.file="),
                       ("loki", "-config.file=")):
        path = next(arg.split("=", 1)[1] for arg in services[name]["command"] if arg.startswith(flag))
        assert host_path(services[name], path) is not None and host_path(services[name], path).is_file(), (name, path)
    alloy_config = services["alloy"]["command"][-1]
    assert host_path(services["alloy"], alloy_config) == config / "alloy/config.alloy"
    textfile = next(a.split("=", 1)[1] for a in services["node-exporter"]["command"] if a.startswith("--collector.textfile.directory="))
    assert host_path(services["node-exporter"], textfile) == Path("/var/lib/prometheus/node-exporter")
    assert services["node-exporter"]["pid"] == "host"


def test_grafana_loki_and_alloy_agree_with_each_other(rendered):
    project = json.loads(rendered["project"].stdout)["services"]
    config = rendered["config"]
    datasources = yaml.safe_load((config / "grafana/provisioning/datasources/squaremcp.yml").read_text())["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    assert {uid: d["type"] for uid, d in by_uid.items()} == {"prometheus": "prometheus", "alertmanager": "alertmanager", "loki": "loki"}
    assert by_uid["prometheus"]["url"] == "http://127.0.0.1:%d" % rendered["ports"]["prometheus"]
    assert by_uid["alertmanager"]["url"] == "http://127.0.0.1:%d" % rendered["ports"]["alertmanager"]
    loki = yaml.safe_load((config / "loki/loki.yml").read_text())
    assert by_uid["loki"]["url"] == "http://127.0.0.1:%d" % loki["server"]["http_listen_port"]
    alloy = (config / "alloy/config.alloy").read_text()
    assert 'url = "http://127.0.0.1:%d/loki/api/v1/push"' % loki["server"]["http_listen_port"] in alloy
    access_log = re.search(r'"__path__" = "([^"]+)"', alloy).group(1)
    assert host_path(project["alloy"], access_log) == rendered["tmp"] / "traefik-logs" / "access.log"
    assert host_path(project["alloy"], "/var/run/docker.sock") == Path("/var/run/docker.sock")
    provider = yaml.safe_load((config / "grafana/provisioning/dashboards/squaremcp.yml").read_text())["providers"][0]
    assert host_path(project["grafana"], provider["options"]["path"]) == config / "grafana/dashboards"
    assert host_path(project["grafana"], "/etc/grafana/provisioning/datasources/squaremcp.yml") == \
        config / "grafana/provisioning/datasources/squaremcp.yml"
    for volume in ("loki-data", "prometheus-data"):
        assert volume in json.loads(rendered["project"].stdout)["volumes"]


def panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries():
    """(dashboard file, panel title, datasource, expression) of every query of every dashboard."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield path.name, panel["title"], target.get("datasource", panel["datasource"]), target["expr"]
        for variable in dashboard["templating"]["list"]:
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.match(r"label_values\((.+),\s*\w+\)$", query)
            yield path.name, "variable " + variable["name"], variable["datasource"], match.group(1) if match else query


def test_dashboards_refer_only_to_provisioned_datasources(rendered):
    config = rendered["config"]
    provisioned = {d["uid"]: d["type"] for d in yaml.safe_load(
        (config / "grafana/provisioning/datasources/squaremcp.yml").read_text())["datasources"]}
    uids = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.append(dashboard["uid"])
        assert dashboard["title"] and dashboard["panels"], path.name
        for panel in panels(dashboard):
            assert provisioned.get(panel["datasource"]["uid"]) == panel["datasource"]["type"], (path.name, panel["title"])
            assert panel["gridPos"]["w"] > 0 and panel["targets"], (path.name, panel["title"])
    assert len(uids) == len(set(uids)) == 3
    assert {p.stem for p in DASHBOARDS} == {"edge-overview", "host", "stacks"}
    for dashboard, title, datasource, _expr in queries():
        assert provisioned.get(datasource["uid"]) == datasource["type"], (dashboard, title)


def as_promql(expr):
    for name, value in GRAFANA_BUILTINS.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def test_every_promql_expression_of_every_dashboard_passes_promtool(promtool, tmp_path):
    rules = [{"record": "dashboard:query:%d" % index, "expr": as_promql(expr)}
             for index, (_d, _t, datasource, expr) in enumerate(queries()) if datasource["type"] == "prometheus"]
    assert len(rules) >= 20
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, width=1000))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: %d rules found" % len(rules) in checked.stdout
    rules[0]["expr"] = "sum(rate(traefik_router_requests_total[5m])"  # the check can fail
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, width=1000))
    assert subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False).returncode != 0


def test_the_log_queries_select_labels_alloy_attaches(rendered):
    alloy = (rendered["config"] / "alloy/config.alloy").read_text()
    attached = set(re.findall(r'target_label\s*=\s*"(\w+)"', alloy)) | {"job"}
    jobs = set(re.findall(r'replacement\s*=\s*"([\w-]+)"', alloy)) | set(re.findall(r'"job" = "([\w-]+)"', alloy))
    loki = [(d, t, expr) for d, t, datasource, expr in queries() if datasource["type"] == "loki"]
    assert loki
    for dashboard, title, expr in loki:
        selector = re.match(r"\{([^}]*)\}", expr).group(1)
        for label, _op, value in re.findall(r'(\w+)\s*(=~|=|!=)\s*"([^"]*)"', selector):
            assert label in attached, (dashboard, title, label)
            if label == "job":
                assert value in jobs, (dashboard, title, value)
