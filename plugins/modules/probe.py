#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: probe
short_description: Run several read-only commands in one module run
version_added: 0.3.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Runs a set of named commands on the host at the same time (no shell) and returns, for each, its exit code and
    output in the shape of a registered M(ansible.builtin.command) result (C(rc), C(stdout), C(stdout_lines),
    C(stderr), C(stderr_lines); trailing newlines stripped).
  - One task instead of one C(command) task per read (C(dpkg-query), C(systemctl show), C(stat) ...) saves a module
    run each; with pipelining that is 0.2-0.4 s per read on every converge.
  - For commands that only read. The module cannot tell, so it always reports no change and runs in check mode too;
    never give it a command that changes something.
  - An exit code is a result, not a failure, unless the command lists its O(commands) C(ok_rcs); then any other exit
    code fails the task after every command ran, naming the command and its last line of error output.
options:
  commands:
    description:
      - Name -> the command's arguments (a list; the first is the program, looked up on C(PATH)), or name -> a
        dictionary with C(argv), optionally C(stdin) (a text given as the command's standard input) and C(ok_rcs)
        (the exit codes that are not a failure).
      - The commands run with C(LC_ALL=C), at most eight at a time; without C(stdin) their standard input is empty.
    type: dict
    required: true
  timeout:
    description: Seconds each command may take; one that takes longer is stopped and reports exit code 124.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    description: Runs the commands in check mode as well (they only read), so the tasks after it see the real state.
  diff_mode:
    support: N/A
    description: It changes nothing.
  platform:
    support: full
    platforms: posix
    description: Runs the commands on the target host.
seealso:
  - module: ansible.builtin.command
"""

EXAMPLES = r"""
- name: Read what the role needs to know (one module run)
  squaremcp.infra.probe:
    commands:
      dpkg: "{{ ['restic', 'git'] | squaremcp.infra.dpkg_query_argv }}"
      units: "{{ ['backup.timer'] | squaremcp.infra.systemd_units_argv }}"
      container: {argv: [systemd-detect-virt, --container], ok_rcs: [0, 1]}
  register: probe

- name: Install what is missing
  ansible.builtin.apt:
    name: [restic, git]
  when: probe.commands.dpkg.stdout | squaremcp.infra.packages_missing(['restic', 'git']) | length > 0
"""

RETURN = r"""
commands:
  description: Name -> C(rc), C(stdout), C(stdout_lines), C(stderr), C(stderr_lines) of that command (C(rc) 127 when
    the program does not exist, 124 when it timed out).
  returned: always
  type: dict
  sample: {container: {rc: 0, stdout: docker, stdout_lines: [docker], stderr: "", stderr_lines: []}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            commands=dict(type="dict", required=True),
            timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    try:
        commands = _probe.parse(module.params["commands"])
    except _probe.ProbeError as error:
        module.fail_json(msg=str(error))
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout must be more than 0 seconds, got %s" % module.params["timeout"])
    results, failures = _probe.run_all(commands, module.params["timeout"])
    output = {name: result.as_dict() for name, result in results.items()}
    if failures:
        module.fail_json(msg="; ".join(failures), commands=output)
    module.exit_json(changed=False, commands=output)


if __name__ == "__main__":
    main()
