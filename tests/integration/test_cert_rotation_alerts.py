# -*- coding: utf-8 -*-
"""roles/monitoring/files/rules/squaremcp_certificates.rules.yml (the certificate rotation's alerts,
deployed by the monitoring role) under promtool (Debian's prometheus package, unpacked into .cache):
`check rules`, then `test rules` on synthetic series for every rule,
then on the metrics the sync itself writes (healthy-but-expiring, source typo, run that cannot start)
so "no certificate can expire silently" is shown end to end, not assumed.

promtool evaluates from t=0 (time() is the evaluation time), so the end-to-end cases run the sync
with certificates and a clock placed at EPOCH + 30 days.
"""

from __future__ import annotations

import datetime
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import certs
from tests.certs_factory import CertFactory, EdgeTree

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "roles" / "monitoring" / "files" / "rules" / "squaremcp_certificates.rules.yml"
ALERTS = ["SquaremcpCertificateExpiresSoon", "SquaremcpCertificateExpiresVerySoon", "SquaremcpCertificateSyncFailed",
          "CertificateRotationStale", "SquaremcpCertificateSyncNotRunning", "SquaremcpCertificateSyncExpiring",
          "SquaremcpCertificateSyncRefused", "SquaremcpCertificateCountDropped"]
TARGET = {"instance": "edge-1:9100", "job": "node"}
DAY, HOUR = 86400, 3600
SHOP = {"domain": "shop.example.com", "name": "shop-tls", "namespace": "edge"}


def run_promtool(promtool, *args):
    return subprocess.run([promtool] + list(args), capture_output=True, text=True, check=False)


def series(name, labels, values):
    labels = dict(TARGET, **labels)
    return {"series": "%s{%s}" % (name, ",".join('%s="%s"' % item for item in sorted(labels.items()))), "values": values}


def metric(short, values, **labels):
    return series("squaremcp_certificate_" + short, labels, values)


def expect(eval_time, alerts):
    """One alert_rule_test per rule at ``eval_time``: ``alerts`` maps alert name -> list of (labels, summary)."""
    tests = []
    for name in ALERTS:
        fired = alerts.get(name, [])
        tests.append({"eval_time": eval_time, "alertname": name, "exp_alerts": [
            {"exp_labels": dict(TARGET, **labels), "exp_annotations": {"summary": summary}} for labels, summary in fired]})
    return tests


def promtool_test(promtool, tmp_path, cases):
    """Run ``promtool test rules`` with ``cases`` (list of (interval, input_series, alert_rule_tests))."""
    spec = {"rule_files": [str(RULES)], "evaluation_interval": "1h",
            "tests": [{"interval": interval, "input_series": inputs, "alert_rule_test": checks} for interval, inputs, checks in cases]}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    return run_promtool(promtool, "test", "rules", str(path))


def test_rules_file_is_valid_and_has_every_alert(promtool, tmp_path):
    checked = run_promtool(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: %d rules found" % len(ALERTS) in checked.stdout
    names = [rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert names == ALERTS
    broken = tmp_path / "broken.rules.yml"  # the check can fail
    broken.write_text(RULES.read_text().replace("squaremcp_certificate_sync_failed == 1", "squaremcp_certificate_sync_failed == == 1"))
    assert run_promtool(promtool, "check", "rules", str(broken)).returncode != 0


def _summary(kind, **fields):
    return {
        "expires": "TLS certificate {name} for {domain} on edge-1:9100 expires in {left}",
        "failed": "The certificate sync on edge-1:9100 failed: see /var/lib/squaremcp/cert-rotation/report.txt and journalctl "
                  "-u squaremcp-cert-rotation",
        "no_success": "No successful certificate sync on edge-1:9100 for {left}",
        "not_running": "The certificate sync on edge-1:9100 last ran {left} ago: check systemctl list-timers "
                       "squaremcp-cert-rotation.timer",
        "expiring": "{value} certificate(s) on edge-1:9100 expire within min_days_valid and the source has no renewal: check "
                    "cert-manager's Certificates",
        "refused": "The certificate sync on edge-1:9100 refused {value} certificate(s) (expired, wrong key, bad chain, missing): "
                   "the previous files stay in place; see the report",
        "dropped": "Traefik on edge-1:9100 now serves {value} certificate(s), fewer than during the last day: confirm the removal "
                   "was intended",
    }[kind].format(**fields)


def test_rules_on_synthetic_series(promtool, tmp_path):
    healthy = [  # three days, hourly: far expiry, every run succeeds
        metric("expiry_timestamp_seconds", "%d+0x72" % (90 * DAY), **SHOP),
        metric("sync_min_valid_seconds", "%d+0x72" % (14 * DAY)),
        metric("sync_failed", "0+0x72"), metric("sync_expiring", "0+0x72"), metric("sync_refused", "0+0x72"),
        metric("sync_certificates", "1+0x72"),
        metric("sync_last_run_timestamp_seconds", "0+3600x72"), metric("sync_last_success_timestamp_seconds", "0+3600x72"),
    ]
    expiry = [  # a certificate expiring at day 20 that is never renewed; sync healthy otherwise
        metric("expiry_timestamp_seconds", "%d+0x500" % (20 * DAY), **SHOP),
        metric("sync_min_valid_seconds", "%d+0x500" % (14 * DAY)),
        metric("sync_failed", "0+0x500"), metric("sync_expiring", "0+0x500"), metric("sync_refused", "0+0x500"),
        metric("sync_certificates", "1+0x500"),
        metric("sync_last_run_timestamp_seconds", "0+3600x500"), metric("sync_last_success_timestamp_seconds", "0+3600x500"),
    ]
    broken = [  # from hour 24 on every run fails, refuses one, has two expiring, and the count fell from 5 to 0
        metric("expiry_timestamp_seconds", "%d+0x96" % (90 * DAY), **SHOP),
        metric("sync_min_valid_seconds", "%d+0x96" % (14 * DAY)),
        metric("sync_failed", "0+0x23 1+0x72"), metric("sync_expiring", "0+0x23 2+0x72"), metric("sync_refused", "0+0x23 1+0x72"),
        metric("sync_certificates", "5+0x23 0+0x72"),
        metric("sync_last_run_timestamp_seconds", "0+3600x96"), metric("sync_last_success_timestamp_seconds", "0+3600x22 79200+0x73"),
    ]
    stopped = [  # the timer stopped after hour 10: nothing new is written
        metric("expiry_timestamp_seconds", "%d+0x72" % (90 * DAY), **SHOP),
        metric("sync_min_valid_seconds", "%d+0x72" % (14 * DAY)),
        metric("sync_failed", "0+0x72"), metric("sync_expiring", "0+0x72"), metric("sync_refused", "0+0x72"),
        metric("sync_certificates", "1+0x72"),
        metric("sync_last_run_timestamp_seconds", "0+3600x10 36000+0x62"),
        metric("sync_last_success_timestamp_seconds", "0+3600x10 36000+0x62"),
    ]
    shop = {"name": "edge/shop-tls", "domain": "shop.example.com"}
    cases = [
        ("1h", healthy, expect("2d", {})),
        ("1h", expiry, expect("5d", {})  # 15 days left: above min_days_valid
         + expect("7d", {"SquaremcpCertificateExpiresSoon": [(dict(SHOP, severity="warning"), _summary("expires", left="13d 0h 0m 0s", **shop))]})
         + expect("17d", {"SquaremcpCertificateExpiresSoon": [  # exactly 3 days left: not yet critical
             (dict(SHOP, severity="warning"), _summary("expires", left="3d 0h 0m 0s", **shop))]})
         + expect("17d2h", {
             "SquaremcpCertificateExpiresSoon": [(dict(SHOP, severity="warning"), _summary("expires", left="2d 22h 0m 0s", **shop))],
             "SquaremcpCertificateExpiresVerySoon": [(dict(SHOP, severity="critical"), _summary("expires", left="2d 22h 0m 0s", **shop))]})),
        ("1h", broken, expect("23h", {})
         + expect("25h", {
             "SquaremcpCertificateSyncFailed": [({"severity": "warning"}, _summary("failed"))],
             "SquaremcpCertificateSyncExpiring": [({"severity": "warning"}, _summary("expiring", value=2))],
             "SquaremcpCertificateSyncRefused": [({"severity": "warning"}, _summary("refused", value=1))],
             "SquaremcpCertificateCountDropped": [({"severity": "warning"}, _summary("dropped", value=0))]})
         + expect("3d", {  # 49 hours without success; the drop is more than a day old: no longer reported
             "SquaremcpCertificateSyncFailed": [({"severity": "warning"}, _summary("failed"))],
             "CertificateRotationStale": [({"severity": "warning"}, _summary("no_success", left="2d 2h 0m 0s"))],
             "SquaremcpCertificateSyncExpiring": [({"severity": "warning"}, _summary("expiring", value=2))],
             "SquaremcpCertificateSyncRefused": [({"severity": "warning"}, _summary("refused", value=1))]})),
        ("1h", stopped, expect("2d11h", {})  # over two days since hour 10, but not yet for 10 minutes (hourly evaluation)
         + expect("2d12h", {
             "CertificateRotationStale": [({"severity": "warning"}, _summary("no_success", left="2d 2h 0m 0s"))],
             "SquaremcpCertificateSyncNotRunning": [({"severity": "warning"}, _summary("not_running", left="2d 2h 0m 0s"))]})),
    ]
    tested = promtool_test(promtool, tmp_path, cases)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_test_rules_can_fail(promtool, tmp_path):
    inputs = [metric("sync_failed", "1+0x10")]
    tested = promtool_test(promtool, tmp_path, [("1h", inputs, expect("5h", {}))])  # failed == 1 must alert
    assert tested.returncode != 0 and "SquaremcpCertificateSyncFailed" in tested.stdout + tested.stderr


# ------------------------------------------------------------------------------------------------
# End to end: the metrics the sync writes, fed to the rules

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def as_input_series(metrics_text, hours):
    """Each sample of a textfile as a constant series over ``hours`` hours, with the scrape target's labels."""
    inputs = []
    for line in metrics_text.splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = dict(LABEL.findall(match.group("labels") or ""))
            inputs.append(series(match.group("name"), {k: v for k, v in labels.items() if v}, "%s+0x%d" % (match.group("value"), hours)))
    return inputs


def module():
    with patch_module_args({}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_rules_on_the_metrics_the_sync_writes(promtool, tmp_path):
    now = EPOCH + datetime.timedelta(days=30)
    factory = CertFactory(now=now)
    edge = EdgeTree(tmp_path / "edge")
    factory.valid("shop.example.com").write(str(edge.src), "shop")
    factory.expiring("soon.example.com", days=5).write(str(edge.src), "soon")

    def sync(when, **extra):
        params = edge.options(on_expiring="warn", **extra)
        return certs.run(module(), params, lambda: certs.directory_source(params["source_dir"]), now=when)

    # 1. healthy run, one certificate with 5 days left: only the expiry alerts speak
    assert not sync(now)["failed"]
    healthy = edge.metrics.read_text()
    soon = {"domain": "soon.example.com", "name": "soon"}
    soon_alert = [(dict(soon, severity="warning"), _summary("expires", left="4d 22h 0m 0s", **soon))]
    expiring = [({"severity": "warning"}, _summary("expiring", value=1))]
    # 2. next day the source looks empty (typo, empty mount): refused, nothing removed, failed 1, expiry kept
    day2 = now + datetime.timedelta(days=1)
    for path in edge.src.iterdir():
        path.rename(tmp_path / path.name)
    emptied = sync(day2)
    assert emptied["failed"] and "returned no certificate" in emptied["msg"]
    typo = edge.metrics.read_text()
    # 3. then certificates.yml is corrupted: the run cannot start, failed 1, expiry kept
    day3 = now + datetime.timedelta(days=2)
    edge.config.write_text("tls: [\n")
    with pytest.raises(certs.SyncError):
        sync(day3)
    unstartable = edge.metrics.read_text()

    failed = [({"severity": "warning"}, _summary("failed"))]
    cases = [
        ("1h", as_input_series(healthy, 30 * 24 + 4), expect("30d2h", {
            "SquaremcpCertificateExpiresSoon": soon_alert, "SquaremcpCertificateSyncExpiring": expiring})),
        ("1h", as_input_series(typo, 31 * 24 + 4), expect("31d2h", {
            "SquaremcpCertificateExpiresSoon": [(dict(soon, severity="warning"), _summary("expires", left="3d 22h 0m 0s", **soon))],
            "SquaremcpCertificateSyncExpiring": expiring, "SquaremcpCertificateSyncFailed": failed})),
        ("1h", as_input_series(unstartable, 32 * 24 + 4), expect("32d2h", {
            "SquaremcpCertificateExpiresSoon": [(dict(soon, severity="warning"), _summary("expires", left="2d 22h 0m 0s", **soon))],
            "SquaremcpCertificateExpiresVerySoon": [(dict(soon, severity="critical"), _summary("expires", left="2d 22h 0m 0s", **soon))],
            "SquaremcpCertificateSyncExpiring": expiring, "SquaremcpCertificateSyncFailed": failed,
            "CertificateRotationStale": [({"severity": "warning"}, _summary("no_success", left="2d 2h 0m 0s"))]})),
    ]
    tested = promtool_test(promtool, tmp_path, cases)
    assert tested.returncode == 0, tested.stdout + tested.stderr
