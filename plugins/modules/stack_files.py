#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_files
short_description: Write the compose files and secrets of Compose stacks as one atomic set
version_added: 0.2.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Writes, for every stack, O(root)C(/<stack>/compose.yml) (mode 0640), its file secrets
    C(secrets/<name>) (Compose mounts them at C(/run/secrets/<name>)) and the env files
    C(secrets/<service>.env) (mode 0600, C(VARIABLE='value') lines) of services whose image reads secrets only from
    environment variables. Directories are root-owned, C(<stack>) 0750 and C(secrets) 0700, created when missing.
  - Every file of every stack is staged next to its destination and renamed into place only when all are staged, so a
    failure leaves every stack as it was. Unchanged content is not rewritten (same inode and mtime).
  - With O(prune), files in a stack's C(secrets/) that no longer belong to it are removed.
  - Returns, per stack, which services must be recreated because a secret they use changed (RV(recreate)); only
    stacks whose compose.yml existed before are listed (a first deployment starts everything anyway).
  - Secret values are C(no_log) options; they never appear in the result, the diff or an error.
  - Every check (names, values, symbolic links, owners, modes) runs before anything is created or written, so a refused
    run leaves every file and directory as it was. Nothing is written, chmod-ed or chown-ed through a symbolic link.
  - A real run holds O(lock_file) (shared with M(squaremcp.infra.stack_health) and the stacks watchdog) while it writes.
  - The role squaremcp.infra.stacks calls it with what it rendered and checked; it is not meant as a general file writer.
options:
  root:
    description: Directory holding one directory per stack.
    type: path
    required: true
  stacks:
    description: The stacks to write.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Stack (Compose project) name; its directory under O(root).
        type: str
        required: true
      compose:
        description: Content of C(compose.yml) (no secret in it; it is shown in the diff).
        type: str
        required: true
      secret_files:
        description: File secrets of the stack.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Secret name, the file name in C(secrets/).
            type: str
            required: true
          content:
            description: The secret value, written as is (a C(no_log) option).
            type: str
            required: true
          services:
            description: Services mounting it (recreated when it changes).
            type: list
            elements: str
            default: []
          mode:
            description: File mode (the containers see it; the C(secrets/) directory is 0700 on the host).
            type: str
            default: "0400"
          owner:
            description: File owner (name or number).
            type: str
            default: root
          group:
            description: File group (name or number).
            type: str
            default: root
      env_files:
        description: Env files, one per service.
        type: list
        elements: dict
        default: []
        suboptions:
          service:
            description: The service; the file is C(secrets/<service>.env).
            type: str
            required: true
          variables:
            description: Its variables.
            type: list
            elements: dict
            required: true
            suboptions:
              name:
                description: Variable name.
                type: str
                required: true
              value:
                description: The secret value (a C(no_log) option; a single quote or a newline is refused).
                type: str
                required: true
  prune:
    description: Remove files of a stack's C(secrets/) that no secret or env file of the stack names any more.
    type: bool
    default: true
  lock_file:
    description:
      - Lock held while the files are written; the stacks watchdog and M(squaremcp.infra.stack_health)'s restore take
        the same one. Empty for none. Its directory must exist.
    type: path
    default: /run/lock/squaremcp-stacks.lock
  lock_timeout:
    description: Seconds to wait for O(lock_file) (a watchdog restore holds it until its services are healthy).
    type: int
    default: 300
  hold_watchdog:
    description:
      - When above 0, also write the deployment lease C(<lock_file>.deploying) valid for this many seconds, under the
        lock and before the files. Until it expires or is removed, the watchdog and stack_health's restore act on
        nothing (Compose is replacing containers). The role removes it after C(docker compose up). Not a change.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reports what would change (RV(written), RV(recreate)) without creating or writing anything.
  diff_mode:
    support: partial
    details: Shows the changes of each compose.yml; secret files and env files are never diffed.
    description: Shows the changes of each compose.yml.
  platform:
    support: full
    platforms: posix
    description: Runs on the Docker host; paths are local to it.
seealso:
  - module: community.docker.docker_compose_v2
"""

EXAMPLES = r"""
- name: Write the stack files
  squaremcp.infra.stack_files:
    root: /opt/stacks
    stacks:
      - name: fetcherpay
        compose: "{{ lookup('ansible.builtin.file', 'fetcherpay-compose.yml') }}"
        secret_files:
          - name: postgres_password
            content: "{{ vault_fetcherpay_postgres_password }}"
            services: [postgres]
        env_files:
          - service: api
            variables:
              - name: DATABASE_PASSWORD
                value: "{{ vault_fetcherpay_postgres_password }}"
  register: stack_files

- name: Recreate only the services whose secrets changed
  community.docker.docker_compose_v2:
    project_src: /opt/stacks/{{ item.key }}
    services: "{{ item.value }}"
    dependencies: false
    recreate: always
  loop: "{{ stack_files.recreate | dict2items }}"
"""

RETURN = r"""
written:
  description: Paths whose content was (or, in check mode, would be) written.
  returned: always
  type: list
  elements: str
removed:
  description: Paths removed by O(prune).
  returned: always
  type: list
  elements: str
stacks:
  description: Per stack, C(existed) (compose.yml was there before), C(compose_changed) and C(secrets_changed) (file names).
  returned: always
  type: dict
  sample: {fetcherpay: {existed: true, compose_changed: false, secrets_changed: [api.env]}}
recreate:
  description: Stack -> services to recreate because a secret they use changed (stacks deployed before only).
  returned: always
  type: dict
  sample: {fetcherpay: [api]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_files as stack_files

SECRET_FILE = dict(name=dict(type="str", required=True), content=dict(type="str", required=True, no_log=True),
                   services=dict(type="list", elements="str", default=[]), mode=dict(type="str", default="0400"),
                   owner=dict(type="str", default="root"), group=dict(type="str", default="root"))
VARIABLE = dict(name=dict(type="str", required=True), value=dict(type="str", required=True, no_log=True))
ENV_FILE = dict(service=dict(type="str", required=True),
                variables=dict(type="list", elements="dict", required=True, options=VARIABLE))
STACK = dict(name=dict(type="str", required=True), compose=dict(type="str", required=True),
             secret_files=dict(type="list", elements="dict", default=[], options=SECRET_FILE, no_log=False),
             env_files=dict(type="list", elements="dict", default=[], options=ENV_FILE))


def main():
    module = AnsibleModule(
        argument_spec=dict(root=dict(type="path", required=True),
                           stacks=dict(type="list", elements="dict", required=True, options=STACK),
                           prune=dict(type="bool", default=True),
                           lock_file=dict(type="path", default="/run/lock/squaremcp-stacks.lock"),
                           lock_timeout=dict(type="int", default=300),
                           hold_watchdog=dict(type="int", default=0)),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = stack_files.apply(module, params["root"], params["stacks"], params["prune"],
                                   lock_file=params["lock_file"] or None, lock_timeout=params["lock_timeout"],
                                   hold_for=params["hold_watchdog"])
    except (stack_files.StackFilesError, stack_files.FileError) as exc:
        module.fail_json(msg=str(exc), changed=getattr(exc, "changed", False))
    diffs = result.pop("diff")
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
