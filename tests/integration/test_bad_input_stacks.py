# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.stack_files and stack_health under abuse, through ansible-playbook (tests/badinput.py): every
refused case leaves every file, link and directory byte for byte as it was (mode, owner, inode, mtime too), the
message says what to fix, and no secret value reaches the output, even at -vvv with --diff.

Classes: symbolic links (never written, chmod-ed or locked through), content the module does not own (a file a
link points to), secrets in messages, the lock shared with the watchdog, bad names, owners and modes.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.badinput import run_cases, state, texts

pytestmark = pytest.mark.slow

CANARY = "canary-stack-%s" % uuid.uuid4().hex[:8]
COMPOSE = "name: shop\nservices:\n  db: {image: 'postgres:16', healthcheck: {test: [CMD, pg_isready]}}\n"


def prepare(tmp_path, case, links=None):
    """<case>/stacks/shop deployed once by hand (compose.yml, secrets/db_password), <case>/outside/target owned
    1234:4321 0600, and ``links`` ({path below <case>: target below <case>})."""
    base = tmp_path / case
    secrets, outside = base / "stacks" / "shop" / "secrets", base / "outside"
    secrets.mkdir(parents=True)
    outside.mkdir()
    (base / "stacks" / "shop" / "compose.yml").write_text("name: shop\nservices: {}\n")
    (secrets / "db_password").write_text("old-%s" % CANARY)
    target = outside / "target"
    target.write_text("not the module's\n")
    os.chown(target, 1234, 4321)
    os.chmod(target, 0o600)
    for path, destination in (links or {}).items():
        link = base / path
        if link.is_dir():
            link.rename(base / (path + ".moved"))
        elif link.exists():
            link.unlink()
        link.symlink_to(base / destination)
    return base


def shop(**secret):
    entry = dict({"name": "db_password", "content": CANARY, "services": ["db"]}, **secret)
    return {"name": "shop", "compose": COMPOSE, "secret_files": [entry],
            "env_files": [{"service": "db", "variables": [{"name": "DB_TOKEN", "value": "env-" + CANARY}]}]}


def test_stack_files_refusals_change_nothing_and_never_show_a_secret(tmp_path):
    cases, expected = {}, {}

    def case(name, message, links=None, stacks=None, **args):
        base = prepare(tmp_path, name, links)
        cases[name] = dict({"root": str(base / "stacks"), "stacks": stacks or [shop()],
                            "lock_file": str(base / "stacks.lock"), "hold_watchdog": 600}, **args)
        expected[name] = (base, message)

    # symbolic links: a file, the stack directory, secrets/, the lock file
    case("compose-link", "compose.yml is a symbolic link", {"stacks/shop/compose.yml": "outside/target"})
    case("secret-link", "db_password is a symbolic link", {"stacks/shop/secrets/db_password": "outside/target"})
    case("env-file-link", "db.env is a symbolic link", {"stacks/shop/secrets/db.env": "outside/target"})
    case("stack-dir-link", "is not a directory (a symbolic link is not followed)", {"stacks/shop": "outside"})
    case("secrets-dir-link", "is not a directory (a symbolic link is not followed)", {"stacks/shop/secrets": "outside"})
    case("lock-link", "the lock file", {"stacks.lock": "outside/target"})
    # names, owners, modes (checked before anything is written)
    case("secret-name-path", "secret name '../escape' cannot be a file name", stacks=[shop(name="../escape")])
    case("unknown-owner", "owner (user) 'squaremcp-no-such-user' does not exist", stacks=[shop(owner="squaremcp-no-such-user")])
    case("bad-mode", "mode '0999'", stacks=[shop(mode="0999")])
    case("stack-twice", "a stack is listed twice", stacks=[shop(), shop()])
    # secrets in messages: the variable is named, the value never
    bad_env = shop()
    bad_env["env_files"][0]["variables"][0]["value"] = "it's-" + CANARY
    case("env-value-quote", "stack shop, service db: the value of DB_TOKEN holds a single quote", stacks=[bad_env])

    before = {name: state(base) for name, (base, _message) in expected.items()}
    run = run_cases(tmp_path, "squaremcp.infra.stack_files", cases, diff=True, verbosity=3)
    for name, (base, message) in expected.items():
        result = run[name]
        assert result.get("failed"), (name, result)
        assert message in result["msg"], (name, result["msg"])
        assert not result.get("changed"), (name, result)
        assert state(base) == before[name], name  # no directory, lease, lock or temporary file either
    assert CANARY not in run.output
    assert not [t for r in run.results.values() for t in texts(r) if CANARY in t]


def test_stack_files_check_mode_and_a_good_run_show_no_secret(tmp_path):
    base = prepare(tmp_path, "good")
    args = {"root": str(base / "stacks"), "stacks": [shop()], "lock_file": str(base / "stacks.lock")}
    before = state(base)
    (tmp_path / "check").mkdir()
    (tmp_path / "real").mkdir()
    checked = run_cases(tmp_path / "check", "squaremcp.infra.stack_files", {"check": args}, check=True, diff=True,
                        verbosity=3)
    assert checked["check"]["changed"] and state(base) == before
    done = run_cases(tmp_path / "real", "squaremcp.infra.stack_files", {"real": args}, diff=True, verbosity=3)
    assert done["real"]["changed"] and done["real"]["recreate"] == {"shop": ["db"]}
    assert (base / "stacks" / "shop" / "secrets" / "db_password").read_text() == CANARY
    for run in (checked, done):
        assert CANARY not in run.output
        assert not [t for r in run.results.values() for t in texts(r) if CANARY in t]


def test_stack_health_refusals_change_nothing_and_never_show_a_secret(tmp_path):
    cases, expected = {}, {}
    project = "sqbad-%s" % uuid.uuid4().hex[:8]  # no container carries it: a restore would create its service

    def case(name, message, links=None, compose=None, **args):
        base = prepare(tmp_path, name, links)
        stacks = base / "stacks"
        (stacks / "shop").rename(stacks / project)
        if compose is not None:
            (stacks / project / "compose.yml").write_text(compose)
        cases[name] = dict({"projects": [project], "stacks_dir": str(stacks), "maintenance_dir": str(base / "flags"),
                            "lock_file": str(base / "stacks.lock"), "timeout": 5}, **args)
        expected[name] = (base, message)

    case("lock-link", "the lock file", {"stacks.lock": "outside/target"}, compose=COMPOSE, restore=True)
    case("broken-compose", "is not valid YAML", compose="services:\n  db:\n    environment: {PASSWORD: %s\n" % CANARY)
    case("typo", "no container carries the label", projects=["sqbad-no-such-project"])
    case("no-docker", "cannot reach the Docker daemon", docker_host="unix:///nonexistent/docker.sock")
    before = {name: state(base) for name, (base, _message) in expected.items()}
    run = run_cases(tmp_path, "squaremcp.infra.stack_health", cases, diff=True, verbosity=3)
    for name, (base, message) in expected.items():
        result = run[name]
        assert result.get("failed") and message in result["msg"], (name, result)
        assert state(base) == before[name], name
    assert CANARY not in run.output
