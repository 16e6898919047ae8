# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The edge outage runbook's monitoring part against a real Prometheus (Debian's package, unpacked into .cache and run
on 127.0.0.1 by the test, with alert rules that fire at once): it answers and its firing alerts are listed (info:
the run passes), Watchdog left out; Prometheus stopped and an Alertmanager that does not answer are findings that fail
the run. (Debian's alertmanager needs its template under /usr/share, which the test does not install: its probe is
checked against a closed port only; the monitoring role's scenario runs the real one.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tests.certs_factory import unpack_debian_packages

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNBOOK = os.path.join(ROOT, "playbooks", "runbooks", "edge_outage.yml")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("%s exited: %s" % (url, process.stdout.read() if process.stdout else ""))
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("%s not ready after %ss" % (url, timeout))


@pytest.fixture
def monitoring(tmp_path):
    try:
        unpacked = unpack_debian_packages("monitoring", ["prometheus"])
    except RuntimeError as exc:
        pytest.fail(str(exc))
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m, evaluation_interval: 1s}\n"
                                             "rule_files: [%s]\nscrape_configs: []\n" % (tmp_path / "rules.yml"))
    port = free_port()
    processes = {"prometheus": subprocess.Popen([
        str(unpacked / "usr" / "bin" / "prometheus"), "--config.file", str(tmp_path / "prometheus.yml"),
        "--storage.tsdb.path", str(tmp_path / "tsdb"), "--web.listen-address", "127.0.0.1:%d" % port],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)}
    urls = {"prometheus": "http://127.0.0.1:%d" % port, "alertmanager": ""}
    try:
        wait_ready(urls["prometheus"], processes["prometheus"])
        wait_firing(urls["prometheus"])
        yield urls, processes
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)


RULES = """groups:
  - name: runbook-test
    rules:
      - alert: Watchdog
        expr: vector(1)
        labels: {severity: none}
        annotations: {summary: always firing}
      - alert: EndpointProbeFailed
        expr: vector(1)
        labels: {severity: critical, instance: "https://squaremcp.com"}
        annotations: {summary: squaremcp.com does not answer}
"""


def wait_firing(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "/api/v1/alerts", timeout=5) as response:
            alerts = json.load(response)["data"]["alerts"]
        if len([a for a in alerts if a["state"] == "firing"]) == 2:
            return
        time.sleep(0.5)
    raise AssertionError("the test's alerts did not fire within %ss" % timeout)


def run(tmp_path, urls):
    (tmp_path / "reports").mkdir(exist_ok=True)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"runbook_reports_dir": str(tmp_path / "reports")},
        "children": {"monitoring": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "runbook_monitoring_enabled": True, "runbook_prometheus_url": urls["prometheus"],
            "runbook_alertmanager_url": urls["alertmanager"]}}}}}}))
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", no_proxy="127.0.0.1,localhost",
               NO_PROXY="127.0.0.1,localhost")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
                           RUNBOOK], env=env, capture_output=True, text=True, timeout=600, cwd=str(tmp_path), check=False)
    report = json.loads(sorted((tmp_path / "reports").glob("edge_outage-*.json"))[-1].read_text())
    return done, report


def test_monitoring_answers_and_firing_alerts_are_listed(tmp_path, monitoring):
    urls, processes = monitoring
    done, report = run(tmp_path, urls)
    assert done.returncode == 0, done.stdout[-3000:]
    assert [(f["kind"], f["severity"], f["subject"]) for f in report["findings"]] == [
        ("alert_firing", "info", "EndpointProbeFailed:https://squaremcp.com")]
    assert "squaremcp.com does not answer" in report["findings"][0]["summary"]
    facts = report["collected"]["before"]["monitoring"]["localhost"]
    assert facts["prometheus"]["ready"] is True and facts["alertmanager"] == {}

    closed = "http://127.0.0.1:%d" % free_port()
    done, report = run(tmp_path, dict(urls, alertmanager=closed))
    assert done.returncode != 0
    assert [f["subject"] for f in report["findings"] if f["kind"] == "monitoring_down"] == ["alertmanager"]

    processes["prometheus"].terminate()
    processes["prometheus"].wait(timeout=30)
    done, report = run(tmp_path, urls)
    assert done.returncode != 0
    down = [f for f in report["findings"] if f["kind"] == "monitoring_down"]
    assert [f["subject"] for f in down] == ["prometheus"] and down[0]["severity"] == "warning"
    assert urls["prometheus"] in down[0]["summary"]
