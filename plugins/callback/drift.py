# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: drift
type: aggregate
short_description: Turn a check-mode run into a drift report (JSON) and node-exporter textfile metrics
version_added: 0.1.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Records, per host, every task that reported a change (in a C(--check --diff) run, every task that WOULD
    change something), with its role and diff, plus the failed tasks and whether the host was unreachable.
  - At the end of the run it writes O(report_path) (JSON) and O(textfile_path) (Prometheus text format for
    node-exporter's textfile collector); both are replaced atomically.
  - An aggregate callback, so it runs beside whatever stdout callback is configured; enable it with
    C(callbacks_enabled). The collection's drift-check command (C(tools/drift-check) in a checkout, installed by
    the role C(squaremcp.infra.drift_check)) enables it and turns the report into an exit status
    (0 no drift, 2 drift, 1 error).
  - 'Report shape: C({"hosts": {HOST: {"drifted": [{"task": NAME, "role": ROLE, "diff": [...], "action": ...,
    "items": [...]}], "failed": [{"task", "role", "msg"}], "unreachable": BOOL, "ok": N, "skipped": N}},
    "drifted_tasks": N, "drifted_hosts": [...], "failed_hosts": [...], "unreachable_hosts": [...],
    "check_mode": BOOL, "complete": true, "started", "finished", "playbooks", "version": 1}).'
  - Secrets. A task or loop item with C(no_log) is listed as changed with C(diff) null and C(no_log) true, its item
    label hidden. Every other diff and failure message is redacted (PEM private keys, values of keys that name a
    secret such as password, secret, token, api_key, private_key, credential or authorization, htpasswd and crypt
    hashes, passwords in URLs, and the data of Kubernetes Secrets). Roles must still set C(no_log) or C(diff) false
    on tasks that write secret files whose lines do not name the secret.
  - 'Metrics (names fixed in the collection README''s table): C(squaremcp_drift_tasks{host}),
    C(squaremcp_drift_host_failed{host}), C(squaremcp_drift_last_run_timestamp_seconds),
    C(squaremcp_drift_last_success_timestamp_seconds) (a run that reached every host, drift or not; carried over
    from the previous file otherwise).'
requirements:
  - prometheus_client on the controller when O(textfile_path) is set (Debian C(python3-prometheus-client),
    pip C(prometheus-client)).
options:
  report_path:
    description:
      - JSON drift report to write at the end of the run. Not written when unset.
      - The directory must exist; an unwritable path is reported as a warning at the end of the run (the
        drift-check command then exits 1 because the report is missing).
    type: path
    env:
      - name: SQUAREMCP_DRIFT_REPORT
    ini:
      - section: callback_drift
        key: report_path
  textfile_path:
    description:
      - Node-exporter textfile (must end in C(.prom)), for example
        C(/var/lib/prometheus/node-exporter/squaremcp_drift.prom). Not written when unset.
    type: path
    env:
      - name: SQUAREMCP_DRIFT_TEXTFILE
    ini:
      - section: callback_drift
        key: textfile_path
notes:
  - Without C(--check), the report lists what the run changed.
  - Handlers that would run are listed with C(handler) true.
seealso:
  - name: Drift check command
    description: README section "Drift detection" of the collection.
    link: https://github.com/squaremcp/squaremcp.infra#drift-detection
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = squaremcp.infra.drift
# [callback_drift]
# report_path = /var/lib/squaremcp-drift/drift.json
# textfile_path = /var/lib/prometheus/node-exporter/squaremcp_drift.prom

# Or for one run:
# ANSIBLE_CALLBACKS_ENABLED=squaremcp.infra.drift SQUAREMCP_DRIFT_REPORT=/tmp/drift.json \
#   ansible-playbook -i inventory/production site.yml --check --diff
"""

from ansible import context
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

from ansible_collections.squaremcp.infra.plugins.plugin_utils import _drift


def _task_info(task):
    role = getattr(task, "_role", None)
    return _drift.TaskInfo(
        name=task.name or task.action or "",
        role=role.get_name() if role else None,
        action=task.action or "",
        handler=isinstance(task, Handler),
        no_log=bool(task.no_log) if isinstance(task.no_log, bool) else False,
        path=task.get_path() or "",
    )


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "squaremcp.infra.drift"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.recorder = None

    def _recorder(self):
        if self.recorder is None:
            args = context.CLIARGS
            self.recorder = _drift.DriftRecorder(check_mode=bool(args.get("check", False)),
                                                 playbooks=list(args.get("args", ()) or ()))
        return self.recorder

    def v2_playbook_on_start(self, playbook):
        self._recorder()

    def v2_runner_on_ok(self, result):
        self._recorder().ok(result.host.get_name(), _task_info(result.task), result.result)

    def v2_runner_on_skipped(self, result):
        self._recorder().skipped(result.host.get_name(), _task_info(result.task), result.result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._recorder().failed(result.host.get_name(), _task_info(result.task), result.result, ignore_errors)

    def v2_runner_on_async_failed(self, result):
        self._recorder().failed(result.host.get_name(), _task_info(result.task), result.result)

    def v2_runner_on_unreachable(self, result):
        self._recorder().unreachable(result.host.get_name(), _task_info(result.task), result.result)

    def v2_playbook_on_stats(self, stats):
        recorder = self._recorder()
        for host in stats.processed:
            recorder.host(host)
        report = recorder.report(complete=True)
        report_path = self.get_option("report_path")
        textfile_path = self.get_option("textfile_path")
        if report_path:
            try:
                _drift.write_report(report_path, report)
            except _drift.DriftError as exc:
                self._display.warning("squaremcp.infra.drift: no report written: %s (report_path, "
                                      "SQUAREMCP_DRIFT_REPORT)" % exc)
        if textfile_path:
            try:
                _drift.write_metrics(textfile_path, _drift.drift_metrics(report, _drift.read_text(textfile_path)))
            except _drift.DriftError as exc:
                self._display.warning("squaremcp.infra.drift: no metrics written: %s (textfile_path, "
                                      "SQUAREMCP_DRIFT_TEXTFILE)" % exc)
        self._display.display("DRIFT: %d task(s) would change on %d host(s); failed: %s; unreachable: %s"
                              % (report["drifted_tasks"], len(report["drifted_hosts"]),
                                 ", ".join(report["failed_hosts"]) or "none",
                                 ", ".join(report["unreachable_hosts"]) or "none"))
