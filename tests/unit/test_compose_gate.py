# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate of squaremcp.infra.compose_pending: which Compose projects `docker compose up --wait` would act on.

Containers come as `docker inspect` shows them; the hashes are given as Compose prints them (the
real `docker compose config --hash` and real containers are tests/integration/test_compose_pending.py).
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _compose_gate as gate

HASHES = {"api": "a" * 64, "db": "d" * 64}


class Api(object):
    """What ``docker inspect`` of every Compose container returns (or the error reading it raises)."""

    def __init__(self, containers, fail=None):
        self.listed = containers
        self.fail = fail

    def __call__(self):
        if self.fail:
            raise self.fail
        return self.listed


def container(project, service, state="running", health=None, config_hash=None, oneoff=False):
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": service,
              "com.docker.compose.oneoff": "True" if oneoff else "False",
              "com.docker.compose.config-hash": config_hash or HASHES.get(service, "x" * 64)}
    found = {"Status": state}
    if health:
        found["Health"] = {"Status": health, "FailingStreak": 0}
    return {"Id": "0123456789ab", "Name": "/%s-%s-1" % (project, service), "State": found,
            "Config": {"Labels": labels}}


def hashes_of(table):
    def hashes(name, directory):
        value = table[name]
        if isinstance(value, Exception):
            raise value
        return value
    return hashes


# What Compose 2.26 prints for a project it leaves as it is (api waits for db's health check).
SETTLED = (" DRY-RUN MODE -  Container shop-db-1  Running\n DRY-RUN MODE -  Container shop-api-1  Running\n"
           " DRY-RUN MODE -  Container shop-db-1  Waiting\n DRY-RUN MODE -  Container shop-db-1  Healthy\n")
RECREATE = " DRY-RUN MODE -  Container shop-api-1  Recreate\n DRY-RUN MODE -  Container shop-api-1  Recreated\n"


def dry_run_of(output):
    def dry_run(name, directory):
        if isinstance(output, Exception):
            raise output
        return output
    return dry_run


def pending(projects, hashes, api, dry_run=None):
    return gate.pending(projects, hashes, api, dry_run or dry_run_of(RuntimeError("dry run not expected")))


def healthy(project):
    return [container(project, "api", health="healthy"), container(project, "db")]


def test_running_healthy_and_same_hash_is_nothing_to_do():
    api = Api(healthy("shop") + healthy("blog"))
    assert pending({"shop": "/opt/stacks/shop", "blog": "/opt/stacks/blog"},
                   hashes_of({"shop": HASHES, "blog": HASHES}), api) == {}


@pytest.mark.parametrize("state", ["exited", "created", "paused", "dead", "restarting"])
def test_a_stopped_container_makes_its_project_pending(state):
    api = Api([container("shop", "api", state=state), container("shop", "db")] + healthy("blog"))
    result = pending({"shop": "/s", "blog": "/b"}, hashes_of({"shop": HASHES, "blog": HASHES}), api)
    assert result == {"shop": ["container shop-api-1 is %s" % state]}


@pytest.mark.parametrize("health", ["unhealthy", "starting"])
def test_an_unhealthy_or_starting_container_makes_its_project_pending(health):
    api = Api([container("shop", "api", health=health), container("shop", "db")])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api) == {
        "shop": ["container shop-api-1 is %s" % health]}


def test_a_removed_container_makes_its_project_pending():
    api = Api([container("shop", "db")])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api) == {"shop": ["service api has no container"]}


def test_a_project_without_containers_is_pending():
    assert pending({"new": "/n"}, hashes_of({"new": HASHES}), Api(healthy("shop"))) == {
        "new": ["service api has no container", "service db has no container"]}


def test_another_config_hash_makes_its_project_pending():
    api = Api([container("shop", "api", health="healthy", config_hash="b" * 64), container("shop", "db")])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api, dry_run_of(RECREATE))["shop"][0] == (
        "container shop-api-1 has a config-hash label other than docker compose config --hash prints")


def test_a_hash_that_differs_only_for_the_labels_sake_is_settled_by_composes_dry_run():
    # Compose 2.26: a service with an env_file has a label hash that config --hash does not print.
    api = Api([container("shop", "api", health="healthy", config_hash="b" * 64), container("shop", "db")])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api, dry_run_of(SETTLED)) == {}


@pytest.mark.parametrize("dry_run, said", [
    (RECREATE, "docker compose --dry-run up: DRY-RUN MODE -  Container shop-api-1  Recreate; "
               "DRY-RUN MODE -  Container shop-api-1  Recreated"),
    (RuntimeError("exited with 1"), "docker compose --dry-run up: cannot ask docker compose --dry-run up "
                                    "(exited with 1)"),
    ("WARN[0000] something new\n" + SETTLED, "docker compose --dry-run up: WARN[0000] something new"),
])
def test_a_dry_run_that_would_act_or_fails_keeps_the_project_pending(dry_run, said):
    api = Api([container("shop", "api", health="healthy", config_hash="b" * 64), container("shop", "db")])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api, dry_run_of(dry_run)) == {
        "shop": ["container shop-api-1 has a config-hash label other than docker compose config --hash prints", said]}


def test_a_stopped_container_is_pending_without_asking_the_dry_run():
    api = Api([container("shop", "api", state="exited", config_hash="b" * 64), container("shop", "db")])
    assert list(pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api, dry_run_of(SETTLED))) == ["shop"]


def test_an_orphan_makes_its_project_pending_and_one_off_containers_do_not():
    api = Api(healthy("shop") + [container("shop", "old"), container("shop", "migrate", state="exited", oneoff=True)])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api) == {
        "shop": ["container shop-old-1 is an orphan (service old is not in the compose file)"]}


def test_containers_of_other_projects_are_ignored():
    api = Api(healthy("shop") + [container("other", "api", state="exited")])
    assert pending({"shop": "/s"}, hashes_of({"shop": HASHES}), api) == {}


def test_an_unreadable_hash_makes_only_that_project_pending():
    api = Api(healthy("shop") + healthy("blog"))
    result = pending({"shop": "/s", "blog": "/b"},
                     hashes_of({"shop": RuntimeError("compose.yml: no such file"), "blog": HASHES}), api)
    assert list(result) == ["shop"] and "compose.yml: no such file" in result["shop"][0]


def test_no_service_listed_is_pending():
    assert list(pending({"shop": "/s"}, hashes_of({"shop": {}}), Api(healthy("shop")))) == ["shop"]


@pytest.mark.parametrize("api", [Api([], fail=RuntimeError("docker ps exited with 1")), Api([None])])
def test_unreadable_containers_make_every_project_pending(api):
    result = pending({"shop": "/s", "blog": "/b"}, hashes_of({"shop": HASHES, "blog": HASHES}), api)
    assert sorted(result) == ["blog", "shop"]
    assert all(reason[0].startswith("cannot read the containers") for reason in result.values())


def test_parse_hashes_reads_compose_output_and_rejects_anything_else():
    assert gate.parse_hashes("api %s\ndb %s\n\n" % ("a" * 64, "d" * 64)) == HASHES
    with pytest.raises(ValueError):
        gate.parse_hashes("WARN[0000] something odd happened\n")


def test_compose_commands_name_the_project_and_its_directory():
    assert gate.compose_hash_argv("shop", "/opt/stacks/shop") == [
        "compose", "--project-name", "shop", "--project-directory", "/opt/stacks/shop",
        "config", "--hash", "*"]
    assert gate.compose_dry_run_argv("shop", "/opt/stacks/shop") == [
        "compose", "--project-name", "shop", "--project-directory", "/opt/stacks/shop",
        "--dry-run", "up", "--detach", "--remove-orphans"]


def test_a_dry_run_is_started_early_only_for_a_project_with_env_files(tmp_path):
    assert not gate.hashes_may_differ(str(tmp_path))  # no compose file: nothing to guess
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: nginx:1.25\n")
    assert not gate.hashes_may_differ(str(tmp_path))
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: nginx:1.25\n    env_file: [web.env]\n")
    assert gate.hashes_may_differ(str(tmp_path))
    (tmp_path / "compose.yml").unlink()
    (tmp_path / "docker-compose.yaml").mkdir()  # unreadable as a file: guess yes
    assert gate.hashes_may_differ(str(tmp_path))


def test_the_resolved_configuration_loses_only_its_env_files():
    resolved = json.dumps({"name": "p", "services": {
        "web": {"image": "nginx:1.25", "env_file": [{"path": "/opt/p/web.env", "required": True}],
                "environment": {"MODE": "one"}},
        "side": {"image": "redis:7"}}})
    assert json.loads(gate.without_env_files(resolved)) == {"name": "p", "services": {
        "web": {"image": "nginx:1.25", "environment": {"MODE": "one"}}, "side": {"image": "redis:7"}}}
    with pytest.raises(ValueError):
        gate.without_env_files('{"name": "p"}')
    with pytest.raises(ValueError):
        gate.without_env_files("not json")
