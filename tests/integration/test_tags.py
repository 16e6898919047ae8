"""Tags and the README's "Everyday jobs": every job runs what it promises and nothing of another job.

* Static (no ansible-playbook): every task of every role carries the role's tag - on the task, or inherited from an
  import, a block or an include's ``apply`` - and a job entry point run only on request (``never``) carries its job
  tag.
* ``ansible-playbook site.yml --list-tasks --tags X`` for every tag of the README's "Tags an operator uses", with the
  lab and the production inventory: it lists the tasks the tag promises and none it must not run (``traefik_routes``
  writes the routes and never touches Compose or the certificate rotation ...). A tag documented there without an
  expectation here, or a tag that runs nothing, fails.
* Every command of the README's "Everyday jobs" table, lab and production, as printed: a playbook command with
  ``--list-tasks`` appended lists its job's tasks (the same on both inventories); an ad-hoc command with
  ``--list-hosts`` finds hosts; the lab commands go through ``tools/in-lab`` as the README prints them.
* The lab without its vault password: Ansible's "undecryptable variable" error quotes the line that names
  ``tools/in-lab``.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
README = ROOT / "README.md"
LAB_VAULT_PASSWORD = ROOT / "inventory/lab/.vault-password.test-only"
VALIDATION = "Validating arguments against arg spec"
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "tasks/main.yml").is_file())

# tag -> (tasks it must list (substrings), tasks it must not list (substrings)); validation tasks (tag always) ignored.
TAG_EXPECTATIONS = {
    "traefik_routes": (
        ["traefik : Write the inventory's routes (dynamic/routes.yml)", "traefik : Route the dashboard",
         "traefik : Check the inventory values the edge cannot run without"],
        ["cert_rotation :", "Write the Compose project", "Start the edge", "Write the static configuration",
         "stacks :", "monitoring :", "host :"]),
    "traefik": (
        ["traefik : Write the inventory's routes", "traefik : Start the edge", "traefik : Write the static configuration"],
        ["cert_rotation :", "stacks :"]),
    "cert_rotation": (
        ["cert_rotation : Install the entry point of the service and its service and timer units", "cert_rotation : Enable the rotation timer"],
        ["traefik :", "Write the inventory's routes"]),
    "stacks_deploy": (
        ["stacks : Deploy each stack", "stacks : Refuse stacks whose inventory is wrong"],
        ["stacks : Install the boot unit", "stacks : Enable the watchdog timer", "traefik :", "backup :"]),
    "monitoring_rules": (
        ["monitoring : Put the configuration in place", "monitoring : Refuse the inventory's problems"],
        ["Install the Debian packages", "Run the Compose project", "Node exporter", "traefik :"]),
    "monitoring_alertmanager": (
        ["monitoring : Put the configuration in place"],
        ["Install the Debian packages", "Run the Compose project", "traefik :"]),
    "backup_now": (
        ["backup : Back up the stacks' data to every repository"],
        ["backup : Install the entry point of the services, their units", "Check every repository", "stacks :"]),
    "backup_check": (
        ["backup : Check every repository"],
        ["backup : Install the entry point of the services, their units", "Back up the stacks' data", "stacks :"]),
}
# Playbook tasks that include a role (dynamic include_role: --list-tasks shows the include, not its tasks).
ROLE_INCLUDES = {
    "edge_failover": ["Floating IP across the edges"],
    "sealed_secrets": ["Controller, sealed secrets and key backup", "Restore the sealing keys from the backup first"],
}
# job (first column of the README table) -> (tasks its playbook command must list, tasks it must not list)
JOB_EXPECTATIONS = {
    "converge everything": ([f"{role} : {VALIDATION}" for role in ROLES if role not in ROLE_INCLUDES]
                            + [name for names in ROLE_INCLUDES.values() for name in names], []),
    "add / remove a route": (TAG_EXPECTATIONS["traefik_routes"][0], TAG_EXPECTATIONS["traefik_routes"][1]),
    # the sync is a dynamic include (playbooks/runbooks/tasks/sync_certificates.yml): --list-tasks shows the include
    "rotate (sync) certificates now": (["Sync and report (a hand-edited certificates.yml goes to the quarantine",
                                        "Write the report"],
                                       ["traefik :", "Converge the edge"]),
    "deploy the stacks": TAG_EXPECTATIONS["stacks_deploy"],
    "deploy the alert rules": TAG_EXPECTATIONS["monitoring_rules"],
    "diagnose the edge (outage runbook)": (["Read Docker, the Traefik container", "Write the report"], []),
    "repair what it found": (["Converge the edge (traefik role", "Re-sync the certificates from the cluster",
                              "Write the report"], []),
    "back up now": TAG_EXPECTATIONS["backup_now"],
    "what a restore would do": (["Restore the run", "Write the Markdown and JSON reports"], []),
    "restore the latest backup": (["Restore the run", "Write the Markdown and JSON reports"], []),
}
# ad-hoc jobs: job -> host group the command must reach
ADHOC_JOBS = {"restart a stack": "docker_hosts", "silence an alert for 2 h": "monitoring"}
# commands the test does not run (they contact hosts); what proves them instead
NOT_LISTED = {"check drift (exit 0 / 2 drift / 1 error)": "tests/integration/test_drift_check.py"}


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def table_rows(section: str, header: str) -> list[list[str]]:
    lines = section[section.index(header):].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def documented_tags() -> list[str]:
    rows = table_rows(readme_section("Everyday jobs"), "| Tag | Runs |")
    return [tag for row in rows for tag in re.findall(r"`(\w+)`", row[0])]


def job_commands() -> dict[str, tuple[str, str]]:
    rows = table_rows(readme_section("Everyday jobs"), "| Job | Lab | Production |")
    return {row[0]: (row[1].strip("`"), row[2].strip("`")) for row in rows}


@functools.lru_cache(maxsize=None)
def inventory_graph(inventory: str, group: str) -> str:
    result = run([str(BIN / "ansible-inventory"), "-i", f"inventory/{inventory}", "--graph", group],
                 {"ANSIBLE_VAULT_PASSWORD_FILE": str(LAB_VAULT_PASSWORD)})
    assert result.returncode == 0, result.stderr
    return result.stdout


@functools.lru_cache(maxsize=None)
def module_documented(module: str) -> bool:
    return run([str(BIN / "ansible-doc"), "--json", module]).returncode == 0


def run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run(argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)


def listed_tasks(output: str) -> list[str]:
    """The task lines of `--list-tasks` output, without their TAGS column."""
    tasks, in_tasks = [], False
    for line in output.splitlines():
        if line.strip() == "tasks:":
            in_tasks = True
        elif re.match(r"^\s+play #\d+", line):
            in_tasks = False
        elif in_tasks and line.strip():
            tasks.append(line.strip().split("\tTAGS:")[0].replace("squaremcp.infra.", ""))
    return tasks


def list_tasks(inventory: str, playbook: str, *args: str) -> list[str]:
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(LAB_VAULT_PASSWORD)} if inventory == "lab" else {}
    result = run([str(BIN / "ansible-playbook"), "-i", f"inventory/{inventory}", playbook, "--list-tasks", *args], env)
    assert result.returncode == 0, result.stdout + result.stderr
    return listed_tasks(result.stdout)


def check_expectations(tasks: list[str], must: list[str], must_not: list[str], what: str) -> None:
    work = [task for task in tasks if VALIDATION not in task]
    assert work, f"{what} runs no task at all"
    missing = [needle for needle in must if not any(needle in task for task in tasks)]
    assert not missing, f"{what} does not run {missing}; it runs {tasks}"
    unwanted = [task for task in work if any(needle in task for needle in must_not)]
    assert not unwanted, f"{what} runs {unwanted}, which is not its job"


# --- static: every task carries its role's tag ------------------------------------------------------------------


def task_list(path: pathlib.Path) -> list:
    return yaml.safe_load(path.read_text()) or []


def tags_of(task: dict) -> set[str]:
    tags = task.get("tags", [])
    return {tags} if isinstance(tags, str) else set(tags)


def templated_targets(tasks_dir: pathlib.Path) -> set[str]:
    """Task files a templated include names through a variable (`__microk8s_api_tasks: api.yml`)."""
    return {name for path in tasks_dir.glob("*.yml")
            for name in re.findall(r"^\s+__\w+_tasks:\s*([\w.-]+\.yml)\s*$", path.read_text(), re.MULTILINE)}


def untagged(tasks: list, where: str, tasks_dir: pathlib.Path, wanted: str, inherited: bool) -> list[str]:
    """Tasks (and what they import or include, and block children) that do not carry `wanted`."""
    problems = []
    for task in tasks:
        carries = inherited or wanted in tags_of(task)
        name = f"{where}: {task.get('name', '?')}"
        if not carries:
            problems.append(name)
        for section in ("block", "rescue", "always"):
            problems += untagged(task.get(section, []), f"{name} >", tasks_dir, wanted, carries)
        for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks"):
            if key not in task:
                continue
            spec = task[key]
            target = spec["file"] if isinstance(spec, dict) else spec
            targets = sorted(templated_targets(tasks_dir)) if "{{" in target else [target]
            apply_tags = set((spec.get("apply", {}) if isinstance(spec, dict) else {}).get("tags", []))
            # import: the task's own tags reach every imported task; include: only `apply` and enclosing tags do
            passes = carries if key.endswith("import_tasks") else (inherited or wanted in apply_tags)
            for file_name in targets:
                problems += untagged(task_list(tasks_dir / file_name), file_name, tasks_dir, wanted, passes)
    return problems


def entry_points(role: str) -> list[pathlib.Path]:
    """main.yml and every task file no other task file of the role imports or includes (tasks_from targets)."""
    tasks_dir = ROOT / "roles" / role / "tasks"
    referenced = set(templated_targets(tasks_dir))
    for path in tasks_dir.glob("*.yml"):
        referenced.update(re.findall(r"(?:import|include)_tasks:\s*(?:\n\s+file:\s*)?([\w./-]+\.yml)", path.read_text()))
    return sorted(path for path in tasks_dir.glob("*.yml") if path.name == "main.yml" or path.name not in referenced)


@pytest.mark.parametrize("role", ROLES)
def test_every_task_carries_the_role_tag(role):
    problems = []
    for entry in entry_points(role):
        top_tags = set().union(*(tags_of(task) for task in task_list(entry))) if task_list(entry) else set()
        # a job entry point run only on request (playbooks/backup.yml: [never, backup_now]) carries its job tag
        # instead: with `never`, the role tag would make --tags <role> run the job too
        job_tags = sorted(tag for tag in top_tags if tag.startswith(f"{role}_"))
        wanted = job_tags[0] if entry.name != "main.yml" and len(job_tags) == 1 and role not in top_tags else role
        problems += untagged(task_list(entry), entry.name, entry.parent, wanted, False)
    assert not problems, f"tasks of role {role} without its tag:\n" + "\n".join(problems)


# --- site.yml --tags X -------------------------------------------------------------------------------------------


def test_documented_tags_have_expectations():
    tags = documented_tags()
    assert "traefik_routes" in tags and "stacks_deploy" in tags, tags
    unknown = [tag for tag in tags if tag not in TAG_EXPECTATIONS and tag not in ROLES]
    assert not unknown, f"README documents tags this test has no expectation for: {unknown}"
    undocumented = [tag for tag in TAG_EXPECTATIONS if tag not in tags]
    assert not undocumented, f"tags with an expectation here but not in the README: {undocumented}"


@pytest.mark.slow
@pytest.mark.parametrize("inventory", ["lab", "production"])
@pytest.mark.parametrize("tag", sorted(set(documented_tags())))
def test_site_tag_runs_what_it_promises(tag, inventory):
    tasks = list_tasks(inventory, "site.yml", "--tags", tag)
    what = f"site.yml --tags {tag} ({inventory})"
    if tag in TAG_EXPECTATIONS:
        check_expectations(tasks, *TAG_EXPECTATIONS[tag], what)
        return
    # a role tag: the role's tasks (or the playbook's include of it), never another role's
    own = [t for t in tasks if VALIDATION not in t and (t.startswith(f"{tag} : ") or t in ROLE_INCLUDES.get(tag, []))]
    assert own, f"{what} runs none of the role's tasks: {tasks}"
    others = [t for t in tasks if VALIDATION not in t and t not in own and not t.startswith("Node exporter")]
    assert not others, f"{what} runs tasks of other roles or playbooks: {others}"


# --- README "Everyday jobs", as printed -----------------------------------------------------------------------------


def test_every_job_is_covered():
    jobs = job_commands()
    for job in ("add / remove a route", "rotate (sync) certificates now", "deploy the stacks", "restart a stack",
                "silence an alert for 2 h", "diagnose the edge (outage runbook)", "repair what it found",
                "check drift (exit 0 / 2 drift / 1 error)", "back up now"):
        assert job in jobs, f"README Everyday jobs has no row {job!r}"
    unknown = [job for job in jobs if job not in JOB_EXPECTATIONS and job not in ADHOC_JOBS and job not in NOT_LISTED]
    assert not unknown, f"jobs without an expectation in this test: {unknown}"
    for job, (lab, production) in jobs.items():
        if job in NOT_LISTED:
            continue
        assert lab.startswith("tools/in-lab "), f"{job}: the lab command does not go through tools/in-lab: {lab}"
        assert "-i inventory/production" in production, f"{job}: the production command names no inventory"


def lab_and_production(job: str) -> list[tuple[str, list[str]]]:
    lab, production = job_commands()[job]
    return [("lab", shlex.split(lab)), ("production", shlex.split(production))]


def run_as_printed(job: str, inventory: str, argv: list[str], option: str) -> subprocess.CompletedProcess:
    """The README's command with `option` appended: the lab's through tools/in-lab with no vault password set (the
    wrapper must supply it), production's with the venv's Ansible."""
    if argv[0] == "tools/in-lab":
        result = run(argv + [option], {"ANSIBLE_VAULT_PASSWORD_FILE": ""})
    else:
        result = run([str(BIN / argv[0]), *argv[1:], option])
    assert result.returncode == 0, f"{job} ({inventory}): {result.stdout}{result.stderr}"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("job", sorted(JOB_EXPECTATIONS))
def test_job_command_runs_its_tasks(job):
    listings = {}
    for inventory, argv in lab_and_production(job):
        result = run_as_printed(job, inventory, argv, "--list-tasks")
        listings[inventory] = listed_tasks(result.stdout)
        check_expectations(listings[inventory], *JOB_EXPECTATIONS[job], f"{job} ({inventory}: {' '.join(argv)})")
    assert listings["lab"] == listings["production"], f"{job}: the lab and production commands run different tasks"


@pytest.mark.slow
@pytest.mark.parametrize("job", sorted(ADHOC_JOBS))
def test_adhoc_job_command_reaches_its_hosts(job):
    for inventory, argv in lab_and_production(job):
        result = run_as_printed(job, inventory, argv, "--list-hosts")
        hosts = re.findall(r"^\s{4}(\S+)$", result.stdout, re.MULTILINE)
        expected = inventory_graph(inventory, ADHOC_JOBS[job])
        assert hosts and all(f"--{host}" in expected for host in hosts), (job, inventory, result.stdout, expected)
        module = argv[argv.index("-m") + 1]
        assert module_documented(module), f"{job}: module {module} is not installed"


def test_drift_job_command_is_the_tool():
    lab, production = job_commands()["check drift (exit 0 / 2 drift / 1 error)"]
    for command in (lab, production):
        assert os.access(ROOT / shlex.split(command)[0], os.X_OK), command


@pytest.mark.slow
def test_lab_without_vault_password_points_at_the_wrapper():
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_VAULT")}
    env.update(PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(  # port 9 (discard): nothing would be reached even if templating got that far
        [str(BIN / "ansible-playbook"), "-i", "inventory/lab", "playbooks/edge.yml", "--check", "-e", "ansible_port=9"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "undecryptable" in output, output
    assert "tools/in-lab" in output, output


@pytest.mark.parametrize("path", sorted((ROOT / "inventory/lab/group_vars/all").glob("vault*.yml")), ids=lambda p: p.name)
def test_every_lab_vault_value_names_the_wrapper(path):
    lines = path.read_text().splitlines()
    bare = [line for number, line in enumerate(lines)
            if re.match(r"^\w+:( !vault)?", line) and ("!vault" in line or lines[number + 1:number + 2] == ["  - !vault |"])
            and "tools/in-lab" not in lines[number - 1]]
    assert not bare, f"{path.name}: put the tools/in-lab hint on the line before {bare}"


@pytest.mark.slow
@pytest.mark.parametrize("inventory", ["lab", "production", "lab-ha", "ha-example"])
def test_runbook_reports_dir_resolves_on_the_control_host(inventory):
    # The runbooks' first play runs on the implicit localhost, which has no inventory_dir: the README's runbook jobs
    # failed as printed ("set runbook_reports_dir in the inventory") until the inventories stopped relying on it.
    result = run([str(BIN / "ansible"), "-i", f"inventory/{inventory}", "localhost", "-m", "ansible.builtin.debug",
                  "-a", "var=runbook_reports_dir"])
    assert result.returncode == 0, result.stdout + result.stderr
    value = re.search(r"runbook_reports_dir: (\S+)", result.stdout)
    assert value and pathlib.Path(value.group(1)).resolve() == ROOT / "reports", result.stdout
