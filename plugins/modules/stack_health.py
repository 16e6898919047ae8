#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_health
short_description: State and health of every Compose service on a Docker host, and bring back what is down
version_added: 0.2.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Lists the containers of every Compose project with ONE Docker API call (label C(com.docker.compose.project)),
    inspects each for its health, failing streak, last probe output and restart count, and compares them with the
    services the project's compose file declares, so a removed container is reported as V(missing).
  - 'Per service: V(missing), V(created), V(exited) (with the exit code), V(restarting), V(paused), V(dead) or
    V(running); health V(healthy), V(unhealthy), V(starting) or V(none) (no health check).'
  - With O(restore=true) it brings back every service that is not running and healthy, project by project in
    dependency order (the compose file's C(depends_on), else Compose's C(com.docker.compose.depends_on) label); each
    dependency level is waited for (healthy, or running without a health check) before the next one starts, until
    O(timeout). Created, exited and dead containers are started, unhealthy ones restarted (Docker never does that
    itself), paused ones unpaused, missing ones created with C(docker compose up --detach --no-deps --no-recreate).
  - Projects whose maintenance flag (O(maintenance_dir)C(/<project>)) exists are reported and never touched.
  - Probe output is redacted before it is returned; values of the project's secret files and env files
    (C(<stacks_dir>/<project>/secrets/)) and of secret-looking container environment variables never appear.
  - The systemd watchdog of the role M(squaremcp.infra.stacks) runs the same code (without Ansible) every few minutes.
options:
  projects:
    description:
      - Compose project names to check. Default, every project on the host (containers with the project label, and
        every O(stacks_dir)C(/<project>/compose.yml)).
      - A listed project that has neither containers nor a compose file fails the task (a typo).
    type: list
    elements: str
  restore:
    description:
      - Start, restart, unpause or create what is not running and healthy, in dependency order, and wait for it.
      - The task fails when something is still not running and healthy after O(timeout).
    type: bool
    default: false
  timeout:
    description: Seconds a restore waits in total for the services it acted on to become healthy.
    type: int
    default: 120
  stacks_dir:
    description:
      - Directory with one C(<project>/compose.yml) per stack (the role squaremcp.infra.stacks writes them). Where the
        services a project should have come from, with the project's labels as a fallback.
    type: path
    default: /opt/stacks
  maintenance_dir:
    description:
      - A file C(<maintenance_dir>/<project>) puts the project in maintenance (reported, never restored). Empty to
        ignore maintenance flags.
    type: path
    default: /var/lib/squaremcp/stacks/maintenance
  docker_host:
    description: Docker daemon to talk to.
    type: str
    default: unix:///var/run/docker.sock
  stop_timeout:
    description: Seconds Docker waits for a container to stop when it restarts an unhealthy one.
    type: int
    default: 10
  lock_file:
    description:
      - Lock shared with the watchdog and the role's deployment so a restore by hand, a timer run and a converge never
        act at the same time. Empty for none.
      - While C(<lock_file>.deploying) holds a future deadline (the role squaremcp.infra.stacks writes it through
        M(squaremcp.infra.stack_files) and removes it after C(docker compose up)), a restore acts on nothing and says so.
    type: path
    default: /run/lock/squaremcp-stacks.lock
  lock_timeout:
    description: Seconds to wait for that lock.
    type: int
    default: 300
requirements:
  - docker (Python library, Debian python3-docker)
  - PyYAML (Python library)
  - the C(docker compose) CLI plugin (only to create missing containers)
notes:
  - Without O(restore) the module only reads; RV(problems) is then the list to act on (runbooks use it).
attributes:
  check_mode:
    support: full
    description: With O(restore=true), reports the actions it would take (RV(actions) with result V(planned)) and acts on nothing.
  diff_mode:
    support: full
    description: Shows the services acted on, as found before and as found after (or expected, in check mode).
  platform:
    support: full
    platforms: posix
    description: Runs on the Docker host (it reads the compose files and secret files there).
seealso:
  - module: community.docker.docker_compose_v2
  - module: community.docker.docker_container_info
"""

EXAMPLES = r"""
- name: What is wrong with the stacks
  squaremcp.infra.stack_health:
  register: stacks

- name: Show it
  ansible.builtin.debug:
    msg: "{{ stacks.problems | map(attribute='project') | zip(stacks.problems | map(attribute='problem')) }}"

- name: Bring FetcherPay back in dependency order and wait up to 3 minutes
  squaremcp.infra.stack_health:
    projects: [fetcherpay]
    restore: true
    timeout: 180
"""

RETURN = r"""
services:
  description: One entry per container of a service (one per service without a container), as found before any action.
  returned: always
  type: list
  elements: dict
  contains:
    project:
      description: Compose project (the stack).
      type: str
      sample: fetcherpay
    service:
      description: Compose service.
      type: str
      sample: postgres
    container:
      description: Container name; for a missing service the C(container_name) the compose file gives, else null.
      type: str
      sample: fetcherpay-postgres-1
    container_id:
      description: Short container ID; null when missing.
      type: str
    state:
      description: Docker's container state, or V(missing).
      type: str
      choices: [missing, created, running, paused, restarting, removing, exited, dead]
    health:
      description: Health check status; V(none) without a health check.
      type: str
      choices: [healthy, unhealthy, starting, none]
    exit_code:
      description: Exit code of an exited or dead container; null otherwise.
      type: int
    restarts:
      description: Docker's restart count of the container (restart-policy restarts since it was created).
      type: int
    failing_streak:
      description: Consecutive failed health probes.
      type: int
    last_probe_output:
      description: Output of the last failed health probe, redacted and shortened; null when it passed.
      type: str
    started_at:
      description: When the container last started (Docker's timestamp).
      type: str
    maintenance:
      description: The project's maintenance flag is set.
      type: bool
    problem:
      description: What is wrong, in words; null when running and healthy.
      type: str
      sample: exited with code 137
    action:
      description: What a restore does about it; null when nothing is needed.
      type: str
      choices: [create, start, restart, unpause, wait]
problems:
  description: The entries of RV(services) that are not running and healthy.
  returned: always
  type: list
  elements: dict
actions:
  description: Actions per service in the order they are (or would be) taken.
  returned: always
  type: list
  elements: dict
  contains:
    project:
      description: Compose project.
      type: str
    service:
      description: Compose service.
      type: str
    container:
      description: Container acted on (null for a missing one).
      type: str
    action:
      description: create, start, restart, unpause or wait.
      type: str
    result:
      description: >-
        V(planned) (without O(restore), or in check mode), V(done), C(failed: <reason>), C(skipped: maintenance flag
        set), C(skipped: no compose file known ...) or C(skipped: a deployment ... holds the stacks ...) (while the role
        squaremcp.infra.stacks deploys, see O(lock_file)).
      type: str
after:
  description: RV(services) as found after the restore.
  returned: when O(restore=true) acted (not in check mode)
  type: list
  elements: dict
unresolved:
  description: Entries of RV(after) still not running and healthy (maintenance projects included).
  returned: when O(restore=true) acted (not in check mode)
  type: list
  elements: dict
projects:
  description: Per project, its compose file (null when unknown), maintenance flag and declared services.
  returned: always
  type: dict
  sample: {fetcherpay: {compose_file: /opt/stacks/fetcherpay/compose.yml, maintenance: false, services: [api, postgres]}}
summary:
  description: "One line per service, as found (C(project/service container: state health -- problem))."
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_restore as restore_logic
from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks

try:
    import docker
    from docker.errors import DockerException, NotFound

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError as exc:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = exc


def _diff(outcome, check_mode):
    acted = {(a["project"], a["service"]) for a in outcome["actions"] if not a["result"].startswith("skipped")}

    def lines(entries, expected=False):
        out = []
        for entry in entries:
            if (entry["project"], entry["service"]) in acted:
                state = "running healthy (expected)" if expected else "%s %s" % (entry["state"], entry["health"])
                out.append("%s/%s: %s\n" % (entry["project"], entry["service"], state))
        return "".join(sorted(out))

    after = outcome.get("after")
    return {"before": lines(outcome["services"]),
            "after": lines(outcome["services"], expected=True) if check_mode or after is None else lines(after)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            projects=dict(type="list", elements="str"),
            restore=dict(type="bool", default=False),
            timeout=dict(type="int", default=120),
            stacks_dir=dict(type="path", default="/opt/stacks"),
            maintenance_dir=dict(type="path", default="/var/lib/squaremcp/stacks/maintenance"),
            docker_host=dict(type="str", default="unix:///var/run/docker.sock"),
            stop_timeout=dict(type="int", default=10),
            lock_file=dict(type="path", default="/run/lock/squaremcp-stacks.lock"),
            lock_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker (Debian: python3-docker)"), exception=str(DOCKER_IMPORT_ERROR))
    if not stacks.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (Debian: python3-yaml)"))
    params = module.params
    options = restore_logic.Options(
        projects=params["projects"] or None, stacks_dir=params["stacks_dir"],
        maintenance_dir=params["maintenance_dir"] or None, restore=params["restore"], timeout=params["timeout"],
        stop_timeout=params["stop_timeout"], lock_file=params["lock_file"] or None, lock_timeout=params["lock_timeout"])

    def run_command(argv):
        return module.run_command(list(argv))

    try:
        api = docker.APIClient(base_url=params["docker_host"], version="auto", timeout=60)
    except DockerException as exc:
        module.fail_json(msg="cannot reach the Docker daemon at %s (%s): is docker.service running, and does the task "
                             "run as root (become)?" % (params["docker_host"], exc))
    try:
        outcome = restore_logic.run(api, options, run_command, check_mode=module.check_mode, not_found=(NotFound,))
    except stacks.StackError as exc:
        module.fail_json(msg=str(exc))
    except DockerException as exc:
        module.fail_json(msg="Docker API call failed: %s" % exc)
    result = outcome.as_dict()
    result["summary"] = stacks.summary(outcome.found.services)
    result["changed"] = outcome.changed
    if module._diff and result["actions"]:
        result["diff"] = _diff(result, module.check_mode)
    unresolved = [u for u in result.get("unresolved") or [] if not u["maintenance"]]
    if params["restore"] and unresolved:
        module.fail_json(msg="still not running and healthy after the restore: %s" % "; ".join(
            "%s/%s: %s" % (u["project"], u["service"], u["problem"]) for u in unresolved), **result)
    problems = result["problems"]
    result["msg"] = ("%d service(s), all running and healthy" % len(result["services"]) if not problems
                     else "%d of %d service(s) not running and healthy" % (len(problems), len(result["services"])))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
