# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure logic of stack_health and the watchdog: compose parsing, dependency order, health parsing, redaction,
the restore plan, and the metrics (checked with prometheus_client's parser and promtool).

The calls against a real Docker daemon are tests/integration/test_stack_health.py.
"""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_metrics as metrics
from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_restore as restore
from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks

COMPOSE = """
name: shop
services:
  api:
    image: app:1
    depends_on: {db: {condition: service_healthy}, cache: {condition: service_started}}
    healthcheck: {test: [CMD, probe]}
  worker:
    image: app:1
    depends_on: [api]
    healthcheck: {test: [NONE]}
  db: {image: postgres:16, container_name: shop-db, healthcheck: {test: [CMD, pg_isready]}}
  cache: {image: redis:7}
"""


def inspect(state="running", health=None, exit_code=0, restarts=0, log=None, env=None, name="/shop-api-1",
            test=("CMD", "probe")):
    attrs = {"Id": "0123456789abcdef", "Name": name, "RestartCount": restarts,
             "State": {"Status": state, "ExitCode": exit_code, "StartedAt": "2026-12-01T00:00:00Z"},
             "Config": {"Env": env or [], "Healthcheck": {"Test": list(test)} if test else None}}
    if health:
        attrs["State"]["Health"] = {"Status": health, "FailingStreak": 4 if health == "unhealthy" else 0,
                                    "Log": log or []}
    return attrs


def test_compose_file_gives_services_dependencies_and_health_checks():
    spec = stacks.parse_compose(COMPOSE, "shop", "/opt/stacks/shop/compose.yml")
    assert spec.working_dir == "/opt/stacks/shop"
    assert {name: (s.depends_on, s.healthcheck, s.container_name) for name, s in spec.services.items()} == {
        "api": (["cache", "db"], True, None), "worker": (["api"], False, None),
        "db": ([], True, "shop-db"), "cache": ([], False, None)}


def test_bad_compose_files_say_what_to_do():
    with pytest.raises(stacks.StackError, match="is not valid YAML"):
        stacks.parse_compose("services: [", "shop", "/x/compose.yml")
    with pytest.raises(stacks.StackError, match="has no services mapping"):
        stacks.parse_compose("name: x\n", "shop")


def test_dependency_levels_and_cycles():
    graph = {"api": ["db", "cache"], "worker": ["api"], "db": [], "cache": ["gone"]}
    assert stacks.dependency_levels(graph) == [["cache", "db"], ["api"], ["worker"]]
    with pytest.raises(stacks.StackError, match="cycle between a, b"):
        stacks.dependency_levels({"a": ["b"], "b": ["a"], "c": []})
    assert stacks.depends_on_label("db:service_healthy:false,cache:service_started:true") == ["cache", "db"]


@pytest.mark.parametrize("attrs, state, health, problem, action", [
    (inspect(health="healthy"), "running", "healthy", None, None),
    (inspect(test=None), "running", "none", None, None),
    (inspect(health="starting"), "running", "starting", "health check still starting", "wait"),
    (inspect(health="unhealthy", log=[{"ExitCode": 1, "Output": "HTTP 503\n"}]), "running", "unhealthy",
     "unhealthy (failing streak 4): HTTP 503", "restart"),
    (inspect(state="exited", exit_code=137, health="unhealthy"), "exited", "unhealthy", "exited with code 137", "start"),
    (inspect(state="created"), "created", "none", "created but never started", "start"),
    (inspect(state="paused", health="healthy"), "paused", "healthy", "paused", "unpause"),
    (inspect(state="restarting", restarts=5), "restarting", "none", "restarting (Docker's restart policy after a crash)",
     "wait"),
    (inspect(state="dead", exit_code=1), "dead", "none", "dead (Docker could not stop or remove it cleanly)", "start"),
])
def test_states_and_health_become_problems_and_actions(attrs, state, health, problem, action):
    status = stacks.status_from_inspect("shop", "api", attrs, stacks.Redactor())
    assert (status.state, status.health, status.problem, status.action) == (state, health, problem, action)
    assert status.container == "shop-api-1" and status.container_id == "0123456789ab"


def test_a_missing_service_is_recreated():
    status = stacks.ServiceStatus(project="shop", service="db", container="shop-db")
    expected = ("missing", "no container: removed, or never created", "create")
    assert (status.state, status.problem, status.action) == expected


def test_probe_output_is_redacted(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "db_password").write_text("s3cr3t-file-value\n")
    (secrets / "api.env").write_text("# c\nAPI_TOKEN='tok-from-env-file'\nOTHER=\"quoted value\"\n")
    redact = stacks.Redactor(stacks.secret_values(str(tmp_path)))
    output = ("connect postgres://app:url-pass@db:5432/x failed; password=plain1 token: abc123 s3cr3t-file-value "
              "Authorization: Bearer eyJhbGciOi.x.y tok-from-env-file quoted value ENVPW=from-container-env")
    status = stacks.status_from_inspect("shop", "api", inspect(
        health="unhealthy", log=[{"ExitCode": 1, "Output": output}], env=["DB_PASSWORD=from-container-env",
                                                                          "DB_PASSWORD_FILE=/run/secrets/db"]), redact)
    text = status.last_probe_output
    for secret in ["url-pass", "plain1", "abc123", "s3cr3t-file-value", "eyJhbGciOi", "tok-from-env-file",
                   "quoted value", "from-container-env"]:
        assert secret not in text
    assert "postgres://app:********@db:5432/x" in text and "password=********" in text
    assert len(redact("x" * 1000)) == stacks.PROBE_OUTPUT_LIMIT


def test_the_restore_plan_takes_dependency_levels_across_projects_and_skips_maintenance():
    shop = stacks.parse_compose(COMPOSE, "shop", "/opt/stacks/shop/compose.yml")
    other = stacks.ProjectSpec(name="other", services={"web": stacks.ServiceSpec("web")}, maintenance=True)
    bare = stacks.ProjectSpec(name="bare", services={"gone": stacks.ServiceSpec("gone")})
    report = stacks.Report(projects={"shop": shop, "other": other, "bare": bare}, services=[
        stacks.ServiceStatus("shop", "api", "shop-api-1", "a", "running", "unhealthy"),
        stacks.ServiceStatus("shop", "worker", "shop-worker-1", "w", "exited", exit_code=1),
        stacks.ServiceStatus("shop", "db", "shop-db"),
        stacks.ServiceStatus("shop", "cache", "shop-cache-1", "c", "running"),
        stacks.ServiceStatus("other", "web", "other-web-1", "o", "exited", maintenance=True),
        stacks.ServiceStatus("bare", "gone")])
    steps = [[(a.project, a.service, a.action, a.result) for a in step] for step in restore.plan(report)]
    assert steps == [
        [("bare", "gone", "create", "skipped: no compose file known for project bare"),
         ("other", "web", "start", "skipped: maintenance flag set"),
         ("shop", "db", "create", "planned")],
        [("shop", "api", "restart", "planned")],
        [("shop", "worker", "start", "planned")]]


def test_restarts_are_counted_across_container_re_creation():
    state = metrics.new_state()
    first = stacks.ServiceStatus("shop", "db", "shop-db", "aaa", "running", restarts=2)
    metrics.account_restarts(state, [first])
    metrics.account_restarts(state, [stacks.ServiceStatus("shop", "db", "shop-db", "aaa", "running", restarts=3)])
    metrics.account_restarts(state, [stacks.ServiceStatus("shop", "db", "shop-db", "bbb", "running", restarts=1)],
                             restored=["shop/db"])
    assert metrics.restart_totals(state) == {("shop", "db"): 2 + 1 + 1 + 1}
    assert metrics.load_state(metrics.dump_state(state)) == state
    assert metrics.load_state("{not json") == metrics.new_state()


def label(service):
    return (("service", service), ("stack", "shop"))


def test_metrics_render_the_readme_names_and_pass_promtool(promtool, tmp_path):
    statuses = [stacks.ServiceStatus("shop", "api", "shop-api-1", "a", "running", "healthy"),
                stacks.ServiceStatus("shop", "db", "shop-db", "d", "running", "unhealthy"),
                stacks.ServiceStatus("shop", "cache", "shop-cache-1", "c", "exited"),
                stacks.ServiceStatus("shop", "gone")]
    text = metrics.render(statuses, {"shop": False, "other": True}, {("shop", "db"): 3}, 1700000000.5, 1699999000.0)
    path = tmp_path / "squaremcp_stacks.prom"
    path.write_text(text)
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("squaremcp_stack_service_up", label("db"))] == 1
    assert samples[("squaremcp_stack_service_healthy", label("db"))] == 0
    assert samples[("squaremcp_stack_service_up", label("cache"))] == 0
    assert samples[("squaremcp_stack_service_up", label("gone"))] == 0
    assert samples[("squaremcp_stack_service_restarts_total", label("db"))] == 3
    assert samples[("squaremcp_stack_service_restarts_total", label("api"))] == 0
    assert samples[("squaremcp_stack_maintenance", (("stack", "other"),))] == 1
    assert samples[("squaremcp_stack_watchdog_last_run_timestamp_seconds", ())] == 1700000000.5
    assert samples[("squaremcp_stack_watchdog_last_success_timestamp_seconds", ())] == 1699999000.0
    assert "# TYPE squaremcp_stack_service_restarts_total counter" in text
    assert "_created" not in text


def test_a_run_without_docker_still_writes_the_timestamps():
    text = metrics.render(None, {"shop": False}, {}, 1700000000.0, None)
    names = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert names == {"squaremcp_stack_maintenance", "squaremcp_stack_watchdog_last_run_timestamp_seconds"}


def test_a_deployment_lease_skips_every_restore_action():
    shop = stacks.parse_compose(COMPOSE, "shop", "/opt/stacks/shop/compose.yml")
    report = stacks.Report(projects={"shop": shop}, services=[
        stacks.ServiceStatus("shop", "db", "shop-db", "d", "exited", exit_code=0),
        stacks.ServiceStatus("shop", "api", "shop-api-1", "a", "running", "unhealthy")])

    class NoDocker(object):
        def __getattr__(self, name):
            raise AssertionError("the restore acted (%s) under a deployment lease" % name)

    outcome = restore.restore(NoDocker(), report, restore.Options(timeout=1), lambda argv: (1, "", "acted"),
                              lambda: report, hold="skipped: a deployment holds the stacks", sleep=lambda s: None)
    assert [a.result for a in outcome.actions] == ["skipped: a deployment holds the stacks"] * 2
    assert outcome.changed is False and len(outcome.unresolved) == 2
