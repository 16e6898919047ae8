#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: runbook_report
short_description: Write one runbook run as one report (JSON for tools, Markdown for people)
version_added: 0.1.0
description:
  - Turns what a runbook collected (before and, after a repair, again) and what the inventory expects into findings
    (module_utils/_runbook.py), compares them (resolved, still wrong, new; and with the previous report of the same
    runbook) and writes C(<dir>/<runbook>-<UTC time>.json) and C(.md) together, atomically.
  - Every value is redacted before it is written or returned (PEM keys, values of keys that name a secret, hashes,
    passwords in URLs); the runbooks never collect secret values in the first place.
  - With O(preflight=true) it only checks that O(dir) can take the report and reads the previous report, so a runbook
    stops before it collects or repairs anything when its report could not be written.
  - Runs on the control host (the runbooks call it in plays on C(localhost)).
author:
  - SquareMCP platform team (@squaremcp)
options:
  dir:
    description: Reports directory (inventory C(runbook_reports_dir)). It must exist and be writable.
    type: path
    required: true
  runbook:
    description: Name of the runbook (file names start with it), lower case, digits and C(_).
    type: str
    required: true
  title:
    description: Title for people.
    type: str
  data:
    description: What the runbook collected (see module_utils/_runbook.py for the shape).
    type: dict
    default: {}
  data_after:
    description: What it collected again after a repair; omit when no repair ran.
    type: dict
  expected:
    description: What the inventory says (edge owner, routers per managed file, managed files, certificate days ...).
    type: dict
    default: {}
  repair:
    description: C(requested) (bool), C(steps) ({step -> hosts} that ran), C(errors) ({host -> message}).
    type: dict
    default: {}
  mode:
    description: How the runbook ran, for the report's header.
    type: str
    choices: [read-only, repair, check]
    default: read-only
  inventory:
    description: Inventory sources, for the header and the fix commands.
    type: list
    elements: str
    default: []
  preflight:
    description: Only check O(dir) and read the previous report; write nothing.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for another run writing a report into O(dir) (a timer and a person). Each run reads the
        previous report and writes a new pair of files under an exclusive lock on O(dir) (nothing is created for it);
        a second run within the same second gets C(-2) in its names, and no existing file is ever replaced.
    type: int
    default: 120
extends_documentation_fragment:
  - squaremcp.infra._attributes
attributes:
  check_mode:
    support: full
    description: Builds the report and returns it; writes nothing.
  diff_mode:
    support: full
    description: Shows the Markdown report as a new file (every run writes a new pair of files).
  idempotent:
    support: none
    details: Every run writes a new pair of report files (O(preflight=true) writes nothing).
  platform:
    support: full
    description: Runs where Python runs; the runbooks run it on the control host.
    platforms: posix
"""

EXAMPLES = r"""
- name: Check that the report can be written before anything else
  squaremcp.infra.runbook_report:
    dir: "{{ runbook_reports_dir }}"
    runbook: edge_outage
    preflight: true
  delegate_to: localhost

- name: Write the report
  squaremcp.infra.runbook_report:
    dir: "{{ runbook_reports_dir }}"
    runbook: edge_outage
    title: Edge outage
    data: "{{ collected_before }}"
    expected: "{{ expected }}"
  delegate_to: localhost
  register: report
"""

RETURN = r"""
ok:
  description: True when no critical or warning finding is left after the run.
  returned: always
  type: bool
findings:
  description: The findings after the run (kind, host, subject, summary, severity, repair, fix, id, repairable).
  returned: always
  type: list
  elements: dict
resolved:
  description: Findings the repair cleared.
  returned: when a repair ran
  type: list
  elements: dict
still_wrong:
  description: Findings the repair did not clear.
  returned: when a repair ran
  type: list
  elements: dict
summary:
  description: A few lines for the screen.
  returned: always
  type: list
  elements: str
json_path:
  description: The JSON report written (or that would be, in check mode).
  returned: unless preflight
  type: str
markdown_path:
  description: The Markdown report written (or that would be).
  returned: unless preflight
  type: str
previous:
  description: The previous report of the runbook (C(path), C(finished)) or why it could not be read (C(error)).
  returned: always
  type: dict
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _runbook_report as report_lib
from ansible_collections.squaremcp.infra.plugins.module_utils import _files as io
from ansible_collections.squaremcp.infra.plugins.module_utils._redact import redact_text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path", required=True),
            runbook=dict(type="str", required=True),
            title=dict(type="str"),
            data=dict(type="dict", default={}),
            data_after=dict(type="dict"),
            expected=dict(type="dict", default={}),
            repair=dict(type="dict", default={}),
            mode=dict(type="str", default="read-only", choices=["read-only", "repair", "check"]),
            inventory=dict(type="list", elements="str", default=[]),
            preflight=dict(type="bool", default=False),
            lock_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    params = module.params
    directory, runbook = params["dir"], params["runbook"]
    if not re.match(r"^[a-z0-9_]+$", runbook):
        module.fail_json(msg="runbook %r: use lower case letters, digits and _ only" % runbook)
    try:
        io.check_writable_dir(directory.rstrip("/") + "/report")
    except io.FileError as exc:
        module.fail_json(msg="runbook_reports_dir %s cannot take the report (%s): create the directory on the control "
                             "host or set runbook_reports_dir in the inventory; nothing was collected or repaired"
                         % (directory, exc))
    if params["preflight"]:
        previous = report_lib.previous_report(directory, runbook)
        if previous.get("error"):
            module.warn(previous["error"])
        module.exit_json(changed=False, ok=True, findings=[], summary=[], previous={
            k: v for k, v in previous.items() if k != "report"})
    # Two runs of one runbook (a timer and a person) take turns: each compares with the report written before it
    # and writes a pair of new files, never one the other run wrote.
    try:
        with io.lock_directory(os.path.join(directory, "report"), timeout=params["lock_timeout"]):
            report, json_path, markdown_path, markdown, written = _write_report(module, params)
    except io.FileError as exc:
        module.fail_json(msg="the report was not written to %s: %s" % (directory, exc))
    module.exit_json(changed=written["changed"], ok=report["ok"], findings=report["findings"],
                     resolved=report.get("resolved"), still_wrong=report.get("still_wrong"), new=report.get("new"),
                     summary=report["summary"], previous=report["previous"], json_path=json_path,
                     markdown_path=markdown_path,
                     **({"diff": {"before": "", "after": markdown, "before_header": markdown_path,
                                  "after_header": markdown_path}} if module._diff else {}))


def _write_report(module, params):
    directory, runbook = params["dir"], params["runbook"]
    previous = report_lib.previous_report(directory, runbook)
    if previous.get("error"):
        module.warn(previous["error"])
    moment = report_lib.utcnow()
    try:
        report = report_lib.build(runbook, params["title"] or runbook.replace("_", " ").capitalize(), params["data"],
                                  params["expected"], params["data_after"], params["repair"], previous,
                                  params["mode"], params["inventory"], finished=moment)
        markdown = report_lib.render_markdown(report)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg="runbook %s: data, data_after, expected or repair does not have the shape the report "
                             "needs (%s: %s): nothing was written; see module_utils/_runbook.py for the shape"
                             % (runbook, type(exc).__name__, redact_text(str(exc))))
    json_path, markdown_path = report_lib.paths(directory, runbook, moment)
    try:
        written = io.write_files(module, [
            {"path": json_path, "content": report_lib.render_json(report).encode("utf-8"), "mode": "0640",
             "expect": None},
            {"path": markdown_path, "content": markdown.encode("utf-8"), "mode": "0640", "expect": None}])
    except io.FileError as exc:
        module.fail_json(msg="the report was not written to %s: %s" % (directory, exc), summary=report["summary"])
    return report, json_path, markdown_path, markdown, written


if __name__ == "__main__":
    main()
