# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the monitoring role's integration tests: an inventory on localhost, ansible-playbook
runs with the JSON callback, and Debian's Prometheus, Alertmanager and blackbox exporter running as
plain processes on 127.0.0.1 (unpacked from their packages, nothing installed)."""

from __future__ import annotations

import grp
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from tests.certs_factory import snapshot

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROUTERS = {
    "site": {"rule": "Host(`shop.example.test`) || Host(`www.shop.example.test`)", "entryPoints": ["websecure"],
             "service": "site", "tls": {"certResolver": "letsencrypt"}},
    "hermes": {"rule": "Host(`mcp.example.test`)", "entryPoints": ["websecure"], "service": "hermes", "tls": {}},
}
WEBHOOK_SECRET = "https://hooks.example.test/services/T0KEN-s3cr3t"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree(root):
    """{relative path: (bytes, mode, inode, mtime_ns)} of every file under ``root``."""
    return snapshot(root, identity=True)


def host_vars(tools, config_dir, ports, **extra):
    """Role variables of a package-method monitoring host on localhost with the unpacked tools."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "monitoring_config_dir": str(config_dir),
        "monitoring_check_commands": {"promtool": [str(tools / "usr/bin/promtool")],
                                      "amtool": [str(tools / "usr/bin/amtool")],
                                      "blackbox_exporter": [str(tools / "usr/bin/prometheus-blackbox-exporter")]},
        "monitoring_prometheus_port": ports["prometheus"],
        "monitoring_alertmanager_port": ports["alertmanager"],
        "monitoring_blackbox_port": ports["blackbox"],
        "monitoring_wait_timeout": 10,
        "monitoring_alertmanager_global": {"smtp_smarthost": "smtp.example.test:587", "smtp_from": "alerts@example.test"},
        "monitoring_alertmanager_receivers": [{"name": "oncall", "email_configs": [{"to": "ops@example.test"}],
                                               "webhook_configs": [{"url": WEBHOOK_SECRET}]}],
        "monitoring_alertmanager_receiver": "oncall",
        "monitoring_alertmanager_heartbeat_url": "https://hc.example.test/ping/heartbeat-uuid",
        "traefik_internal_bind_address": "127.0.0.1",
        "traefik_routes_routers": ROUTERS,
    }
    variables.update(extra)
    return variables


def write_inventory(path, hosts):
    """``hosts``: {name: variables}. Each host is a monitoring host that is its own edge and Docker host
    (groups edge_<name>, docker_<name>), so hosts with different inventories do not see each other."""
    children = {"monitoring": {"hosts": {name: None for name in hosts}}}
    for name in hosts:
        children["edge_" + name.replace("-", "_")] = {"hosts": {name: None}}
        children["docker_" + name.replace("-", "_")] = {"hosts": {name: None}}
    path.mkdir(parents=True, exist_ok=True)
    (path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}))
    (path / "host_vars").mkdir(exist_ok=True)
    for name, variables in hosts.items():
        variables = dict(variables, monitoring_edge_group="edge_" + name.replace("-", "_"),
                         monitoring_docker_hosts_group="docker_" + name.replace("-", "_"))
        (path / "host_vars" / (name + ".yml")).write_text(yaml.safe_dump(variables, sort_keys=False))
    return path


def playbook(path, tasks_from="config", extra_tasks=()):
    role = {"name": "squaremcp.infra.monitoring"}
    if tasks_from:
        role["tasks_from"] = tasks_from
    plays = [{"name": "monitoring", "hosts": "monitoring", "gather_facts": False,
              "tasks": [{"name": "The role", "ansible.builtin.include_role": dict(role, public=True)}] + list(extra_tasks)}]
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def run_playbook(inventory, play, *args):
    """ansible-playbook with the JSON callback: (returncode, report, stderr)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0")
    # Debian's packages create the prometheus group alertmanager.yml belongs to; here it is the test user's
    # (an extra var: the role sets the internal __monitoring_group in its vars).
    group = ["-e", "__monitoring_group=%s" % grp.getgrgid(os.getgid()).gr_name]
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(play)] + group + list(args),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    start = result.stdout.find("{")
    report = json.loads(result.stdout[start:]) if start >= 0 else {}
    return result.returncode, report, result.stderr + result.stdout[:start if start >= 0 else None]


def failures(report):
    """{host: failure message} of every failed task."""
    found = {}
    for play in report.get("plays", []):
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                if outcome.get("failed") and not outcome.get("ignore_errors"):
                    found[host] = str(outcome.get("msg")) + json.dumps(outcome.get("argument_errors", []))
    return found


def results(report, host, name_fragment):
    return [task["hosts"][host] for play in report.get("plays", []) for task in play["tasks"]
            if name_fragment in task["task"]["name"] and host in task["hosts"]]


def changed_tasks(report):
    return [task["task"]["name"] for play in report.get("plays", []) for task in play["tasks"]
            if any(outcome.get("changed") for outcome in task["hosts"].values())]


class Daemons(object):
    """Prometheus, Alertmanager and the blackbox exporter from Debian's packages on 127.0.0.1, reading
    ``config_dir`` as the role lays it out. Alertmanager runs in a private mount namespace where the
    package's /usr/share is mounted: Debian built it to read its templates from there."""

    def __init__(self, tools, config_dir, data_dir, ports):
        self.tools, self.config, self.data, self.ports = Path(tools), Path(config_dir), Path(data_dir), ports
        self.processes = {}

    def start(self):
        bin_dir = self.tools / "usr/bin"
        self.data.mkdir(parents=True, exist_ok=True)
        commands = {
            "prometheus": [str(bin_dir / "prometheus"), "--config.file=%s/prometheus/prometheus.yml" % self.config,
                           "--storage.tsdb.path=%s/tsdb" % self.data, "--web.enable-lifecycle",
                           "--web.listen-address=127.0.0.1:%d" % self.ports["prometheus"]],
            "blackbox": [str(bin_dir / "prometheus-blackbox-exporter"), "--config.file=%s/blackbox/blackbox.yml" % self.config,
                         "--web.listen-address=127.0.0.1:%d" % self.ports["blackbox"]],
            "alertmanager": ["unshare", "--mount", "--kill-child=SIGTERM", "sh", "-c",
                             'mount --bind "$0/usr/share" /usr/share && exec "$@"', str(self.tools),
                             str(bin_dir / "prometheus-alertmanager"),
                             "--config.file=%s/alertmanager/alertmanager.yml" % self.config,
                             "--storage.path=%s/alertmanager" % self.data, "--cluster.listen-address=",
                             "--web.listen-address=127.0.0.1:%d" % self.ports["alertmanager"]],
        }
        for name, argv in commands.items():
            log = open(self.data / ("%s.log" % name), "wb")
            # own session: stop() signals the process group (unshare waits for its child instead of forwarding signals)
            self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for name, path in (("prometheus", "/-/ready"), ("alertmanager", "/-/ready"), ("blackbox", "/-/healthy")):
            self.wait(name, path)
        return self

    def url(self, name, path):
        return "http://127.0.0.1:%d%s" % (self.ports[name], path)

    def get(self, name, path):
        with urllib.request.urlopen(self.url(name, path), timeout=5) as response:
            return response.read().decode()

    def wait(self, name, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if self.processes[name].poll() is not None:
                raise RuntimeError("%s exited: %s" % (name, (self.data / ("%s.log" % name)).read_text()[-2000:]))
            try:
                self.get(name, path)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def served(self):
        """What each daemon serves now: (its configuration, its process start)."""
        prometheus = json.loads(self.get("prometheus", "/api/v1/status/config"))["data"]["yaml"]
        alertmanager = json.loads(self.get("alertmanager", "/api/v2/status"))
        return {"prometheus": prometheus, "alertmanager": alertmanager["config"]["original"],
                "alertmanager_uptime": alertmanager["uptime"], "blackbox": self.get("blackbox", "/config"),
                "pids": {name: process.pid for name, process in self.processes.items()},
                "alive": all(process.poll() is None for process in self.processes.values())}

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
