#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: compose_pending
short_description: Which Compose projects a C(docker compose up --wait) would act on
version_added: 0.2.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Reads, for several Compose projects at once, whether C(docker compose up --wait) has anything to do, so a
    converge runs M(community.docker.docker_compose_v2) only for those projects.
  - A project has nothing to do when every service that C(docker compose config --hash '*') lists has a container
    that is running (and V(healthy) when it has a health check) and whose C(com.docker.compose.config-hash) label
    equals Compose's hash, and no container of the project belongs to a service the compose file no longer
    declares (an orphan). The hashes are Compose's own; the containers come from one C(docker ps) and one
    C(docker inspect) of every Compose container (the Docker CLI, so no Python library is needed on the host).
  - Compose 2.26's C(config --hash) of the file differs from the label of a service with an C(env_file), so for a
    project whose compose file uses env files the hashes are Compose's own of the resolved configuration
    (C(docker compose config --format json), the env files' variables already in C(environment)) given back on
    stdin without C(env_file); neither that configuration nor Compose's messages about it appear in a result. When
    only hashes still differ, C(docker compose --dry-run up --detach --remove-orphans) decides (nothing to do when it reports every
    container V(Running), or V(Waiting) and V(Healthy) for a dependency).
  - Whatever cannot be read (no Docker, a compose file Compose rejects, an unexpected output) makes the project
    pending with the reason; the module never fails because of the state it reads.
  - It only reads, and never reports a change. It does not know about files the play changed or pull policies;
    the caller adds the projects whose files changed and those it pulls every time.
options:
  projects:
    description:
      - Compose project name -> project directory (the C(project_name) and C(project_src) the
        M(community.docker.docker_compose_v2) task uses; the project name is passed to Compose as C(--project-name)).
    type: dict
    required: true
requirements:
  - the C(docker) CLI and its C(compose) plugin (the daemon it reaches by default, or C(DOCKER_HOST))
attributes:
  check_mode:
    support: full
    description: Reads the same in check mode (it never changes anything).
  diff_mode:
    support: N/A
    description: It changes nothing, so there is nothing to show.
  platform:
    support: full
    platforms: posix
    description: Runs on the Docker host (it reads the compose files there and runs C(docker compose config)).
seealso:
  - module: community.docker.docker_compose_v2
  - module: squaremcp.infra.stack_health
"""

EXAMPLES = r"""
- name: Find the projects with something to do
  squaremcp.infra.compose_pending:
    projects:
      fetcherpay: /opt/stacks/fetcherpay
      hermes: /opt/stacks/hermes
  register: compose_pending

- name: Bring up only those
  community.docker.docker_compose_v2:
    project_src: "/opt/stacks/{{ item }}"
    state: present
    wait: true
  loop: "{{ compose_pending.pending }}"
"""

RETURN = r"""
pending:
  description: Names of the projects C(docker compose up --wait) would act on, sorted.
  returned: always
  type: list
  elements: str
  sample: [fetcherpay]
reasons:
  description: Project -> why it is pending (no secret value; container and service names only).
  returned: always
  type: dict
  sample: {fetcherpay: ["container fetcherpay-api-1 is exited"]}
"""

import json
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _compose_gate as gate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            projects=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    projects = {str(name): str(directory) for name, directory in module.params["projects"].items()}
    docker_bin = module.get_bin_path("docker")

    def docker(argv):
        if not docker_bin:
            raise RuntimeError("no docker CLI on PATH")
        rc, out, err = module.run_command([docker_bin] + argv)
        if rc != 0:
            raise RuntimeError("docker %s exited with %d: %s" % (" ".join(argv)[:200], rc, (err or out).strip()[:300]))
        return out or "", err or ""

    def hashes(name, directory):
        if not gate.hashes_may_differ(directory):
            return gate.parse_hashes(docker(gate.compose_hash_argv(name, directory))[0])
        # The resolved configuration holds the env files' values: neither it nor Compose's output on it is ever
        # quoted in a reason.
        if not docker_bin:
            raise RuntimeError("no docker CLI on PATH")
        rc, resolved, _err = module.run_command([docker_bin] + gate.compose_resolved_argv(name, directory))
        if rc != 0:
            raise RuntimeError("docker compose config --format json exited with %d" % rc)
        rc, out, _err = module.run_command([docker_bin] + gate.compose_hash_stdin_argv(name, directory),
                                           data=gate.without_env_files(resolved))
        if rc != 0:
            raise RuntimeError("docker compose config --hash of the resolved configuration exited with %d" % rc)
        return gate.parse_hashes(out)

    def containers():
        ids = docker(gate.containers_argv())[0].split()
        return json.loads(docker(["inspect"] + ids)[0]) if ids else []

    def dry_run(name, directory):
        return "".join(docker(gate.compose_dry_run_argv(name, directory)))

    # The container list and every project's hashes at the same time (one Compose CLI start takes ~0.2 s).
    with ThreadPoolExecutor(max_workers=min(8, len(projects) + 1)) as pool:
        listed = pool.submit(containers)
        hashed = {name: pool.submit(hashes, name, directory) for name, directory in projects.items()}
        reasons = gate.pending(projects, lambda name, _directory: hashed[name].result(), listed.result, dry_run)
    module.exit_json(changed=False, pending=sorted(reasons), reasons=reasons)


if __name__ == "__main__":
    main()
