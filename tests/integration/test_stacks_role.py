# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stacks role's refusals and secret handling against the host's real Docker daemon (tag stacks_deploy).

A uniquely named stack of the stand-in image (squaremcp/stack-app, `make images`) is deployed for real: web
(file secret, published port, external network) and worker (env-file secret). Then ONE ansible-playbook run
with one inventory alias per refusal case: each must fail with a message naming stack, service and inventory
key, and afterwards every file under the stacks root (content, mode, inode, mtime) and every container (ID,
start time) is exactly as before. Then a changed file secret recreates only web, a changed env secret only
worker, and no secret value appears in any output (-v --diff). Everything the test creates is removed.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import uuid

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
IMAGE = "squaremcp/stack-app:current"
ID = uuid.uuid4().hex[:8]
STACK = "sqstk-role-%s" % ID
NETWORK = "sqstk-role-%s-net" % ID
SQUATTER = "sqstk-role-%s-squatter" % ID
TOKEN, API_KEY = "tok-%s-value" % ID, "key-%s-value" % ID
WORK = pathlib.Path("/nonexistent")  # the fixture's temporary directory
PROBE = {"test": ["CMD", "app-standin", "probe", "http://127.0.0.1:3000/health"], "interval": "1s", "timeout": "10s",
         "retries": 3}

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


WEB_PORT, SQUATTER_PORT = free_port(), free_port()


def good_stacks():
    return {STACK: {
        "networks": [NETWORK],
        "secrets": {"token": {"vault": "vault_sqstk_token"}, "api_key": {"vault": "vault_sqstk_api_key"}},
        "services": {
            "web": {"image": IMAGE, "container_name": STACK + "-web", "init": True, "networks": ["default", NETWORK],
                    "ports": ["127.0.0.1:%d:3000" % WEB_PORT], "secrets": ["token"], "healthcheck": PROBE,
                    "environment": {"STANDIN_NAME": "web", "STANDIN_REQUIRE_FILES": "/run/secrets/token"}},
            "worker": {"image": IMAGE, "init": True, "depends_on": ["web"], "env_secrets": {"API_KEY": "api_key"},
                       "healthcheck": PROBE, "environment": {"STANDIN_NAME": "worker", "STANDIN_REQUIRE_ENV": "API_KEY"}},
        }}}


def variables(stacks=None, **vault):
    values = {"vault_sqstk_token": TOKEN, "vault_sqstk_api_key": API_KEY}
    values.update(vault)
    return dict({key: value for key, value in values.items() if value is not None}, stacks_stacks=stacks or good_stacks(),
                stacks_pull="never", stacks_packages=[], stacks_wait_timeout=120)


def edited(change):
    stacks = good_stacks()
    change(stacks[STACK])
    return stacks


def second_stack_with(name):
    stacks = good_stacks()
    stacks["sqstk-role-%s-b" % ID] = {"services": {"other": {"image": IMAGE, "container_name": name, "healthcheck": PROBE}}}
    return stacks


def web(key, value):
    return lambda stack: stack["services"]["web"].__setitem__(key, value)


KEY = "stacks_stacks.%s.services" % STACK
CASES = {
    "no_healthcheck": (variables(edited(lambda s: s["services"]["web"].pop("healthcheck"))),
                       "%s.web: no health check: add %s.web.healthcheck" % (KEY, KEY)),
    "latest": (variables(edited(web("image", "squaremcp/stack-app:latest"))),
               "%s.web.image: image squaremcp/stack-app:latest uses the moving tag latest" % KEY),
    "no_tag": (variables(edited(web("image", "squaremcp/stack-app"))), "image squaremcp/stack-app has no tag"),
    "network_not_on_host": (variables(edited(lambda s: s["networks"].append(NETWORK + "-gone"))),
                            "stacks_stacks.%s.networks: network %s-gone does not exist on this host" % (STACK, NETWORK)),
    "edge_port": (variables(edited(web("ports", ["127.0.0.1:443:3000"]))),
                  "%s.web.ports: host port 443 belongs to the edge" % KEY),
    "port_twice": (variables(edited(lambda s: s["services"]["worker"].__setitem__("ports", ["%d:3000" % WEB_PORT]))),
                   "%s.worker.ports: host port %d/tcp is also claimed by %s.web" % (KEY, WEB_PORT, KEY)),
    "port_taken_on_host": (variables(edited(web("ports", ["127.0.0.1:%d:3000" % SQUATTER_PORT]))),
                           "%s.web.ports: host port %d/tcp is published by container %s" % (KEY, SQUATTER_PORT, SQUATTER)),
    "name_twice": (variables(second_stack_with(STACK + "-web")),
                   "container_name %s-web is also used by %s.web" % (STACK, KEY)),
    "name_taken_on_host": (variables(edited(web("container_name", SQUATTER))),
                           "%s.web.container_name: container_name %s is taken by a container outside Compose"
                           % (KEY, SQUATTER)),
    "secret_not_in_vault": (variables(vault_sqstk_token=None),
                            "stacks_stacks.%s.secrets.token.vault: the vault does not define vault_sqstk_token" % STACK),
    "secret_placeholder": (variables(vault_sqstk_api_key="CHANGE_ME"),
                           "vault_sqstk_api_key is still the CHANGE_ME placeholder"),
    "env_secret_with_quote": (variables(vault_sqstk_api_key="it's-%s" % ID),
                              "%s.worker.env_secrets.API_KEY: vault_sqstk_api_key holds a newline or a single quote" % KEY),
    "plain_secret_env": (variables(edited(lambda s: s["services"]["web"]["environment"].update(DB_PASSWORD="plain"))),
                         "%s.web.environment: DB_PASSWORD looks like a secret in plain environment" % KEY),
    "compose_config_rejects": (variables(edited(web("volumes", ["undeclared:/data"]))),
                               "stacks_stacks.%s: docker compose config rejects the rendered compose file: service "
                               "\"web\" refers to undefined volume undeclared" % STACK),
    "deploy_only_unknown": (dict(variables(), stacks_deploy_only=["sqstk-no-such-stack"]),
                            "stacks_deploy_only: sqstk-no-such-stack is not a stack of stacks_stacks"),
    "extra_project_is_a_stack": (dict(variables(), stacks_watchdog_extra_projects={STACK: "/opt/x/compose.yml"}),
                                 "stacks_watchdog_extra_projects.%s: %s is also a stack of stacks_stacks, which the "
                                 "watchdog watches already: remove it from stacks_watchdog_extra_projects" % (STACK, STACK)),
    "extra_project_relative": (dict(variables(), stacks_watchdog_extra_projects={"traefik": "compose/traefik/compose.yml"}),
                               "stacks_watchdog_extra_projects.traefik: compose/traefik/compose.yml is not an absolute "
                               "path: give the absolute path of the project's compose file"),
}


def run(name, hosts, *extra):
    """ansible-playbook of the role (tag stacks_deploy) on localhost aliases; ({host: [task results]}, output)."""
    inventory = WORK / ("%s.yml" % name)
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {
        host: dict(values, stacks_root=str(WORK / "stacks"), stacks_lock_file=str(WORK / "stacks.lock"),
                   ansible_connection="local",
                   ansible_python_interpreter=sys.executable)
        for host, values in hosts.items()}}}))
    play = WORK / "play.yml"
    play.write_text(yaml.safe_dump([{"name": "Stacks", "hosts": "all", "gather_facts": False,
                                     "roles": [{"role": "squaremcp.infra.stacks"}]}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORKS="20", ANSIBLE_HOME=str(WORK / "ansible-home"))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(play), "--tags", "stacks_deploy",
                           "-v", "--diff"] + list(extra), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    results = {host: [] for host in hosts}
    for task in report["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            results[host].append((task["task"]["name"], result))
    return results, done.stdout + done.stderr


def failure(results):
    for name, result in results:
        if result.get("failed"):
            return name, " ".join(str(result.get("msg", "")).split())
    return None, ""


def snapshot():
    files = {}
    for directory, _dirs, names in os.walk(WORK / "stacks"):
        for name in [None] + names:
            path = os.path.join(directory, name) if name else directory
            st = os.lstat(path)
            content = pathlib.Path(path).read_bytes() if name else None
            files[path] = (content, st.st_mode, st.st_uid, st.st_ino, st.st_mtime_ns)
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=" + STACK],
                            capture_output=True, text=True, check=True).stdout.split()
    containers = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.Id}} {{.State.StartedAt}}"] + listed,
                                capture_output=True, text=True, check=True).stdout
    return files, sorted(containers.splitlines())


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    global WORK
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        pytest.fail("%s is missing: run make images" % IMAGE)
    WORK = tmp_path_factory.mktemp("stacks_role")
    subprocess.run(["docker", "network", "create", NETWORK], capture_output=True, check=True)
    subprocess.run(["docker", "run", "-d", "--name", SQUATTER, "-p", "127.0.0.1:%d:3000" % SQUATTER_PORT, IMAGE],
                   capture_output=True, check=True)
    try:
        results, output = run("good", {"good": variables()})
        assert failure(results["good"]) == (None, ""), output[-4000:]
        yield output
    finally:
        subprocess.run(["docker", "compose", "--project-name", STACK, "--project-directory", str(WORK / "stacks" / STACK),
                        "down", "--timeout", "1"], capture_output=True, check=False)
        subprocess.run(["docker", "rm", "-f", SQUATTER], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True, check=False)


def test_the_deployment_is_healthy_and_kept_its_secrets_out_of_files_and_output(deployed):
    # the deployment lease the watchdog honours was taken and given back
    assert (WORK / "stacks.lock").exists() and not (WORK / "stacks.lock.deploying").exists()
    assert "holds the stacks" not in deployed
    compose = (WORK / "stacks" / STACK / "compose.yml").read_text()
    assert "secrets/token" in compose and TOKEN not in compose and API_KEY not in compose
    assert TOKEN not in deployed and API_KEY not in deployed
    states = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", STACK + "-web", STACK + "-worker-1"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert states == ["healthy", "healthy"]
    env = subprocess.run(["docker", "inspect", "-f", "{{json .Config.Env}}", STACK + "-web"], capture_output=True,
                         text=True, check=True).stdout
    assert TOKEN not in env


def test_every_refusal_names_the_key_and_leaves_stack_and_files_untouched(deployed):
    before = snapshot()
    results, output = run("refusals", {name: values for name, (values, _fragment) in CASES.items()})
    for name, (_values, fragment) in CASES.items():
        task, message = failure(results[name])
        assert fragment in message, "%s: %s: %s" % (name, task, message)
        ran = [task for task, result in results[name] if not result.get("skipped")]
        assert not any(t.startswith("squaremcp.infra.stacks : Write") for t in ran), name
    assert snapshot() == before
    for value in (TOKEN, API_KEY, "it's-" + ID):
        assert value not in output, "a vault value is in the output of the refused runs"


def ids():
    found = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", STACK + "-web", STACK + "-worker-1"],
                           capture_output=True, text=True, check=True).stdout.split()
    return dict(zip(["web", "worker"], found))


def test_a_changed_secret_recreates_only_the_services_that_use_it(deployed):
    start = ids()
    token, key = "tok2-%s-value" % ID, "key2-%s-value" % ID
    results, output = run("token", {"token": variables(vault_sqstk_token=token)})
    assert failure(results["token"]) == (None, ""), output[-3000:]
    after_token = ids()
    assert after_token["web"] != start["web"] and after_token["worker"] == start["worker"]
    seen = subprocess.run(["docker", "exec", STACK + "-web", "cat", "/run/secrets/token"], capture_output=True,
                          text=True, check=True).stdout
    assert seen == token
    results, output2 = run("key", {"key": variables(vault_sqstk_token=token, vault_sqstk_api_key=key)})
    assert failure(results["key"]) == (None, ""), output2[-3000:]
    after_key = ids()
    assert after_key["worker"] != after_token["worker"] and after_key["web"] == after_token["web"]
    for value in (token, key):
        assert value not in output and value not in output2
    results, output3 = run("again", {"again": variables(vault_sqstk_token=token, vault_sqstk_api_key=key)})
    assert [name for name, result in results["again"] if result.get("changed")] == []
    assert ids() == after_key


def test_check_mode_reports_a_change_and_changes_nothing(deployed):
    before = snapshot()
    changed = edited(lambda s: s["services"]["web"]["environment"].update(STANDIN_NAME="renamed"))
    results, output = run("check", {"check": variables(changed, vault_sqstk_token="tok3-%s-value" % ID)}, "--check")
    assert failure(results["check"]) == (None, ""), output[-3000:]
    reported = [name for name, result in results["check"] if result.get("changed")]
    assert reported == ["squaremcp.infra.stacks : Write each stack's compose.yml, file secrets and env files "
                        "(one atomic set)"], reported
    assert snapshot() == before
    assert "tok3-%s-value" % ID not in output


def adhoc(module, args):
    """One README 'by hand' command, with the localhost connection instead of the inventory's."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_HOME=str(WORK / "ansible-home"))
    done = subprocess.run([str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=" + sys.executable, "-m", module, "-a", args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_readme_everyday_commands(deployed):
    """README "Stacks": deploy one stack, restart a stack, remove a stack (module arguments as printed there)."""
    other = "sqstk-role-%s-b" % ID
    stacks = second_stack_with(other + "-other")
    # deploy one stack: the other stack of the inventory is checked but neither written nor deployed
    results, output = run("only", {"only": dict(variables(stacks), stacks_deploy_only=[STACK])})
    assert failure(results["only"]) == (None, ""), output[-3000:]
    written = [result for name, result in results["only"] if name.endswith("(one atomic set)")]
    assert list(written[0]["stacks"]) == [STACK]
    assert not (WORK / "stacks" / other).exists()
    # restart a stack: every container restarts (new start time), same containers, healthy again
    started = snapshot()[1]
    adhoc("community.docker.docker_compose_v2", "project_src=%s state=restarted wait=true" % (WORK / "stacks" / STACK))
    restarted = snapshot()[1]
    assert [line.split()[:2] for line in restarted] == [line.split()[:2] for line in started]
    assert all(a != b for a, b in zip(restarted, started))
    # remove a stack: down, then its files (the role never deletes either)
    adhoc("community.docker.docker_compose_v2", "project_src=%s state=absent" % (WORK / "stacks" / STACK))
    adhoc("ansible.builtin.file", "path=%s state=absent" % (WORK / "stacks" / STACK))
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=" + STACK],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == [] and not (WORK / "stacks" / STACK).exists()
