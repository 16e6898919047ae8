#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: monitoring_files
short_description: Write a set of monitoring configuration files, checked as a whole by the real tools first
version_added: 0.1.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Lays the wanted files out in a private temporary directory exactly as they will be under O(root) and runs each
    file's check there, once per kind, with the real tool (C(promtool check config) sees the new rule and file_sd files
    it loads; C(promtool check rules); C(amtool check-config); blackbox C(--config.check); Loki C(-verify-config);
    C(alloy fmt)).
  - Only when every check passes are the changed files renamed into place (atomically, owner/group/mode set) and the
    files of O(prune) directories that are no longer listed removed. A refused set changes nothing, so the running
    services keep the previous configuration.
  - Unchanged files are not rewritten (same inode and mtime); a run that changes nothing runs no check.
  - The role C(squaremcp.infra.monitoring) uses it for Prometheus, Alertmanager, blackbox, Grafana, Loki and Alloy files
    and for the services' C(/etc/default) flags.
  - File contents never appear in the result; O(files[].secret_content) files are left out of the diff and the tools'
    messages about them are stripped of URLs and of the values of secret-looking keys.
options:
  root:
    description: Directory the relative paths of O(files), O(directories) and O(prune) are under.
    type: path
    required: true
  files:
    description: Every file wanted under O(root).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Path relative to O(root), inside it.
        type: str
        required: true
      content:
        description: The file's content (text). Exactly one of O(files[].content) and O(files[].secret_content).
        type: str
      secret_content:
        description:
          - The content of a file that holds secrets (receiver URLs, passwords), never shown (C(no_log)); the file is
            left out of the diff and the tools' messages about it are stripped of URLs and secret-looking values.
        type: str
      mode:
        description: Octal mode.
        type: str
        default: "0644"
      owner:
        description: Owner (name or number); unchanged when not set.
        type: str
      group:
        description: Group (name or number); unchanged when not set.
        type: str
      check:
        description:
          - How the file is checked. V(prometheus) is a C(prometheus.yml) whose relative C(rule_files) and
            C(file_sd_configs) point at other files of this set; V(file_sd) files are checked as the targets of a
            blackbox job.
        type: str
        choices: [none, prometheus, rules, file_sd, alertmanager, blackbox, loki, alloy]
        default: none
  directories:
    description: Directories to create or fix before writing (relative to O(root); V(.) is O(root) itself), in order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path relative to O(root).
        type: str
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0755"
      group:
        description: Group (name or number); unchanged when not set.
        type: str
  prune:
    description: Directories (relative to O(root)) whose files that O(files) does not list are removed.
    type: list
    elements: str
    default: []
  tools:
    description:
      - Tool name (C(promtool), C(amtool), C(blackbox_exporter), C(loki), C(alloy)) -> the command (argv list) that runs
        it; the module adds the arguments. C({dir}) in it is replaced by the private directory the files are staged in
        (for C(docker run --volume={dir}:{dir}:ro <image>)).
      - A kind whose tool is missing or empty is not checked, and the result says so in RV(skipped_checks).
    type: dict
    default: {}
  lock_timeout:
    description:
      - Seconds to wait for another run on the same O(root) (a timer and a person) to finish; the whole
        read-check-write runs under an exclusive lock on O(root) (nothing is created for it).
    type: int
    default: 600
extends_documentation_fragment:
  - squaremcp.infra._attributes
notes:
  - Refused before anything changes, with a message that says what to do, are a symbolic link below O(root) (a file,
    a directory of O(directories) or O(prune), or one on the way to them), an unknown owner or group, a mode that is
    not valid, a tool name no check uses, and a directory that neither exists nor is in O(directories).
attributes:
  check_mode:
    support: full
    description: Runs the checks (except C(docker run) ones and tools not installed yet) and reports the changes and diff without writing.
  diff_mode:
    support: full
    description: One diff per changed or removed file; secret files show only that they changed, removed files are shown redacted.
  idempotent:
    support: full
  platform:
    support: full
    platforms: posix
    description: Runs on the monitoring host; the tools run there (Debian's binaries or C(docker run)).
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Put Prometheus' configuration in place, checked with its rules
  squaremcp.infra.monitoring_files:
    root: /opt/monitoring
    directories:
      - path: prometheus
      - path: prometheus/rules
    files:
      - path: prometheus/prometheus.yml
        content: "{{ lookup('ansible.builtin.template', 'prometheus.yml.j2') }}"
        check: prometheus
      - path: prometheus/rules/targets.rules.yml
        content: "{{ lookup('ansible.builtin.file', 'targets.rules.yml') }}"
        check: rules
    prune: [prometheus/rules]
    tools:
      promtool: [/usr/bin/promtool]
"""

RETURN = r"""
written:
  description: Relative paths written.
  returned: always
  type: list
  elements: str
removed:
  description: Relative paths removed (O(prune)).
  returned: always
  type: list
  elements: str
directories:
  description: Relative paths of directories created or fixed.
  returned: always
  type: list
  elements: str
checked:
  description: Relative paths a tool checked (only when something changed).
  returned: always
  type: list
  elements: str
skipped_checks:
  description: Checks that did not run, and why.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils._monitoring_files import (
    CHECKS, CheckError, WantedFile, apply)
from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            files=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="str", required=True),
                content=dict(type="str"),
                secret_content=dict(type="str", no_log=True),
                mode=dict(type="str", default="0644"),
                owner=dict(type="str"),
                group=dict(type="str"),
                check=dict(type="str", default="none", choices=["none"] + sorted(CHECKS)),
            ), mutually_exclusive=[("content", "secret_content")], required_one_of=[("content", "secret_content")]),
            directories=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="str", required=True),
                mode=dict(type="str", default="0755"),
                group=dict(type="str"),
            )),
            prune=dict(type="list", elements="str", default=[]),
            tools=dict(type="dict", default={}),
            lock_timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    params = module.params
    files = [WantedFile(path=f["path"], content=(f["content"] if f["secret_content"] is None else f["secret_content"]).encode("utf-8"),
                        mode=f["mode"], owner=f["owner"], group=f["group"], check=f["check"], secret=f["secret_content"] is not None)
             for f in params["files"]]
    try:
        outcome = apply(module, params["root"], files, params["directories"], params["prune"], params["tools"],
                        lock_timeout=params["lock_timeout"])
    except CheckError as exc:
        module.fail_json(msg="%s. Nothing was written: the running services keep their configuration." % exc)
    except FileError as exc:
        module.fail_json(msg=str(exc), changed=exc.changed)
    result = dict(changed=outcome.changed, written=outcome.written, removed=outcome.removed,
                  directories=outcome.directories, checked=outcome.checked, skipped_checks=outcome.skipped_checks)
    if module._diff and outcome.diff:
        result["diff"] = outcome.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
