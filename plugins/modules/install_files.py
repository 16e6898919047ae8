#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: install_files
short_description: Put several whole files in place in one module run (content, owner, group, mode, validation)
version_added: 0.2.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Writes a set of files whose whole content the caller knows (rendered with the C(squaremcp.infra.template) or
    C(ansible.builtin.template) lookup, read with the C(ansible.builtin.file) lookup, or built in the task), and gives
    each its owner, group and mode.
  - One module run for all of them. A converge that changes nothing pays one round trip, where
    M(ansible.builtin.template) and M(ansible.builtin.copy) pay two per file (a C(stat) and a C(file) run) and a loop
    pays that per item.
  - Each changed file is staged beside its destination; validators run on the staged copies (with the wanted owner and
    mode); only when every file is staged and valid are they renamed into place. A refused run (a validator, a
    missing owner, a symbolic link, a file changed on disk meanwhile) leaves every file as it was.
  - Unchanged content is not rewritten (same inode and mtime). Nothing is written, chmod-ed or chown-ed through a
    symbolic link; a destination that is one is refused.
options:
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file. Its directory must exist.
        type: path
        required: true
      content:
        description: The whole content (shown in the diff). Exactly one of O(files[].content) and O(files[].secret_content).
        type: str
      secret_content:
        description:
          - The whole content of a file that holds a secret (a C(no_log) option; never in the result, the diff or an error).
        type: str
      owner:
        description: Owner (name or uid); defaults to O(owner).
        type: str
      group:
        description: Group (name or gid); defaults to O(group).
        type: str
      mode:
        description: Mode (octal string or symbolic); defaults to O(mode).
        type: raw
      validate:
        description:
          - Command run on the staged copy before anything is put in place; C(%s) stands for its path (as in
            M(ansible.builtin.copy)). Run without a shell. A non-zero exit refuses the whole run.
          - Not run in check mode, and not when the content is unchanged.
        type: str
  directories:
    description:
      - Directories to create when missing (missing parents too, with the default mode, as C(mkdir -p)) and whose
        owner, group and mode to set, before the files are written. A refused run removes the directories it created.
      - Not affected by O(owner), O(group) and O(mode), which are for files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory. A symbolic link or a file there is refused.
        type: path
        required: true
      owner:
        description: Owner (name or uid); V(null) keeps the current one (root for a new directory).
        type: str
      group:
        description: Group (name or gid); V(null) keeps the current one.
        type: str
      mode:
        description: Mode (octal string or symbolic); V(null) keeps the current one (0755 minus the umask for a new directory).
        type: raw
  owner:
    description: Owner of the files that do not set one; V(null) keeps the current owner (root for a new file).
    type: str
  group:
    description: Group of the files that do not set one; V(null) keeps the current group.
    type: str
  mode:
    description: Mode of the files that do not set one; V(null) keeps the current mode (0600 for a new file).
    type: raw
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing (validators do not run).
  diff_mode:
    support: full
    description: One diff per file whose content changes; files given as O(files[].secret_content) show none.
  platform:
    support: full
    platforms: posix
    description: Runs where the files are (the managed host, or the control host with C(delegate_to)).
seealso:
  - plugin: squaremcp.infra.template
    plugin_type: lookup
  - module: ansible.builtin.copy
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Install the service and timer units
  squaremcp.infra.install_files:
    owner: root
    group: root
    mode: "0644"
    files:
      - dest: /etc/systemd/system/backup.service
        content: "{{ lookup('squaremcp.infra.template', 'backup.service.j2') }}"
      - dest: /etc/systemd/system/backup.timer
        content: "{{ lookup('squaremcp.infra.template', 'backup.timer.j2', template_vars={'on_calendar': 'daily'}) }}"
  notify: backup units changed

- name: Write a drop-in in a directory that may not exist yet
  squaremcp.infra.install_files:
    directories:
      - path: /etc/systemd/timesyncd.conf.d
        mode: "0755"
    files:
      - dest: /etc/systemd/timesyncd.conf.d/site.conf
        content: "[Time]\nNTP=ntp.example.org\n"
        mode: "0644"

- name: Let the admin group use sudo without a password
  squaremcp.infra.install_files:
    files:
      - dest: /etc/sudoers.d/admins
        content: "%admins ALL=(ALL:ALL) NOPASSWD: ALL\n"
        mode: "0440"
        validate: /usr/sbin/visudo -cf %s

- name: Write a repository password
  squaremcp.infra.install_files:
    mode: "0600"
    files:
      - dest: /etc/backup/credentials/offsite
        secret_content: "{{ vault_backup_offsite_password }}"
  no_log: true
"""

RETURN = r"""
changed_directories:
  description: Directories created or whose owner, group or mode changed (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/coredump.conf.d]
changed_files:
  description: Files whose content, owner, group or mode changed (or would, in check mode), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/backup.timer]
written:
  description: Files whose content was (or would be) replaced.
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/backup.timer]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as files
from ansible_collections.squaremcp.infra.plugins.module_utils import _install_files as install


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=dict(
                dest=dict(type="path", required=True),
                content=dict(type="str"),
                secret_content=dict(type="str", no_log=True),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="raw"),
                validate=dict(type="str"),
            ), mutually_exclusive=[("content", "secret_content")],
                required_one_of=[("content", "secret_content")]),
            directories=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="raw"),
            )),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
        ),
        supports_check_mode=True,
    )
    try:
        plan = install.plan(module.params)
        directories = install.plan_directories(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    def validate(spec, staged):
        if not spec["validate"]:
            return
        try:
            rc, out, err = module.run_command(spec["validate"] % staged, handle_exceptions=False)
        except OSError as exc:  # the validator cannot be started: refuse like a failed one, cleaning up
            rc, out, err = 127, "", str(exc)
        if rc != 0:
            raise files.FileError(install.validation_error(spec, rc, out, err))

    created = []
    try:
        missing, stale = install.directory_changes(module, directories)
        changed_files = install.changed_files(module, plan)
        before = install.read_before(plan) if module._diff else {}
        created = install.create_directories(module, missing)
        result = files.write_files(module, plan, validate=validate)
        install.fix_directories(module, stale)
    except files.FileError as exc:
        if not exc.changed:
            install.remove_directories(created)
        module.fail_json(msg=str(exc), changed=exc.changed)
    changed_directories = [spec["path"] for spec in missing] + [spec["path"] for spec, _wanted in stale]
    diff = install.diffs(plan, before, result["written"]) if module._diff else None
    module.exit_json(changed=result["changed"] or bool(changed_directories), changed_directories=changed_directories,
                     changed_files=changed_files, written=result["written"], **({"diff": diff} if diff else {}))


if __name__ == "__main__":
    main()
