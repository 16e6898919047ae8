# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.traefik_routes under abuse, through ansible-playbook (tests/badinput.py): every refused
case leaves every file, link and directory byte for byte as it was (mode, owner, inode, mtime too), and
no secret value reaches the output, even at -vvv with --diff.

Classes: symbolic links, content the module does not own, secrets in messages, Traefik parity (empty
matcher arguments, unrendered Jinja in names), messages naming the inventory variable, concurrent runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.badinput import ROOT, localhost_play, run_cases, state, texts

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.traefik_routes"
SERVICE = {"loadBalancer": {"servers": [{"url": "http://hermes-mcp:3000"}]}}
ROUTER = {"rule": "Host(`squaremcp.com`)", "service": "hermes"}
CANARIES = ("canary-users-7f3a", "canary-redis-91c2", "canary-url-5d0e", "canary-digest-2b8f", "8675309123")


def prepare(tmp_path, case, files=None, links=None):
    """<case>/dynamic with ``files`` (owned by 1234:4321, mode 0640) and ``links``; <case>/outside/target.yml."""
    base = tmp_path / case
    dynamic, outside = base / "dynamic", base / "outside"
    dynamic.mkdir(parents=True)
    outside.mkdir()
    target = outside / "target.yml"
    target.write_text("# a file outside the managed directory\nkeep: me\n")
    for path in (target,):
        os.chown(path, 1234, 4321)
        os.chmod(path, 0o600)
    for name, text in (files or {}).items():
        (dynamic / name).write_text(textwrap.dedent(text))
        os.chown(dynamic / name, 1234, 4321)
        os.chmod(dynamic / name, 0o640)
    for name, destination in (links or {}).items():
        os.symlink(destination if str(destination).startswith("/") else str(base / destination), str(dynamic / name))
    return base, str(dynamic / "routes.yml")


def test_refused_input_changes_nothing_and_says_why(tmp_path):
    cases, expected = {}, {}

    def case(name, message, files=None, links=None, **args):
        base, path = prepare(tmp_path, name, files, links)
        cases[name] = dict({"path": path, "routers": {"hermes": ROUTER}, "services": {"hermes": SERVICE}}, **args)
        expected[name] = (base, message)

    # symbolic links: never read, written, chmod-ed or chown-ed through
    case("link-to-outside-file", "is a symbolic link", links={"routes.yml": "outside/target.yml"}, mode="0644",
         owner="root")
    case("link-to-directory", "is a symbolic link", links={"routes.yml": "outside"})
    case("link-to-nothing", "is a symbolic link", links={"routes.yml": "outside/missing.yml"})
    # content the module does not own
    case("hand-written-comments", "comments", files={"routes.yml": """\
        # routes for hermes -- keep in sync with the runbook
        http:
          services:
            hermes: {loadBalancer: {servers: [{url: 'http://hermes-mcp:3000'}]}}  # the pod
        """})
    case("toml-file", "YAML", path_name="routes.toml")
    case("not-a-mapping", "does not hold a mapping", files={"routes.yml": "- just\n- a list\n"})
    case("duplicate-keys", "duplicate key", files={"routes.yml": "http:\n  routers: {}\n  routers: {}\n"})
    # secrets of the wrong type: the type is named, the value never
    case("users-as-string", "basicAuth.users: must be a list of strings",
         middlewares={"auth": {"basicAuth": {"users": "admin:$apr1$canary-users-7f3a$xx"}}})
    case("users-as-mapping", "basicAuth: must be a mapping",
         middlewares={"auth": {"basicAuth": "admin:$apr1$canary-users-7f3a$xx"}})
    case("redis-password-list", "redis.password: must be a string",
         middlewares={"limit": {"rateLimit": {"average": 10, "redis": {"password": ["canary-redis-91c2"]}}}})
    case("redis-password-number", "redis.password: must be a string",
         middlewares={"limit": {"rateLimit": {"average": 10, "redis": {"password": 8675309123}}}})
    case("digest-users-nested", "digestAuth.users[0]: must be a string",
         middlewares={"auth": {"digestAuth": {"users": [{"admin": "canary-digest-2b8f"}]}}})
    case("credentials-in-url", "is not a number between 1 and 65535",
         services={"hermes": {"loadBalancer": {"servers": [{"url": "http://ops:canary-url-5d0e@hermes:99999999"}]}}})
    # Traefik parity: v3 refuses every empty matcher argument; Ansible never templates keys
    case("empty-query-value", "empty args for matcher",
         routers={"hermes": dict(ROUTER, rule="Host(`squaremcp.com`) && Query(`q`, ``)")})
    case("empty-query-regexp", "empty args for matcher",
         routers={"hermes": dict(ROUTER, rule="Host(`squaremcp.com`) && QueryRegexp(`q`, ``)")})
    case("empty-header-name", "empty args for matcher",
         routers={"hermes": dict(ROUTER, rule="Host(`squaremcp.com`) && Header(``, `x`)")})
    case("jinja-router-name", "Ansible does not template mapping keys", routers={"{{ site }}-pilot": ROUTER})
    case("jinja-block-in-middleware-name", "Ansible does not template mapping keys",
         middlewares={"{% if x %}auth{% endif %}": {"headers": {"frameDeny": True}}})

    for name, args in cases.items():
        if "path_name" in args:
            args["path"] = os.path.join(os.path.dirname(args.pop("path")), args.pop("path_name"))
    before = {name: state(base) for name, (base, _message) in expected.items()}
    run = run_cases(tmp_path, MODULE, cases, diff=True, verbosity=3)
    for name, (base, message) in expected.items():
        result = run[name]
        assert result.get("failed"), (name, result)
        assert message in result["msg"], (name, result["msg"])
        assert not result.get("changed") and "routers" not in result, (name, result)
        assert state(base) == before[name], name
    for canary in CANARIES:
        assert canary not in run.output, canary
        assert not [t for r in run.results.values() for t in texts(r) if canary in t], canary


def test_messages_name_the_inventory_variable_once_and_removals_what_they_break(tmp_path):
    existing = {"routes.yml": """\
        http:
          routers:
            hermes: {rule: 'Host(`squaremcp.com`)', service: hermes}
            hermes-pilot-request: {rule: 'Host(`squaremcp.com`) && Path(`/api/pilot-request`)', service: hermes}
          services:
            hermes: {loadBalancer: {servers: [{url: 'http://hermes-mcp:3000'}]}}
        """}
    origin = {"routers": "traefik_routes_routers", "services": "traefik_routes_services",
              "middlewares": "traefik_routes_middlewares"}
    bases, cases = {}, {}
    bases["bad-rule"], path = prepare(tmp_path, "bad-rule")
    cases["bad-rule"] = {"path": path, "origin": origin, "services": {"hermes": SERVICE},
                         "routers": {"ab": {"rule": "Host(`a.com`, `b.com`)", "service": "hermes"}}}
    bases["removal"], path = prepare(tmp_path, "removal", existing)
    routers = yaml.safe_load(textwrap.dedent(existing["routes.yml"]))["http"]["routers"]
    cases["removal"] = {"path": path, "origin": origin, "prune": True, "routers": routers, "services": {}}
    before = {name: state(base) for name, base in bases.items()}
    run = run_cases(tmp_path, MODULE, cases)
    bad = run["bad-rule"]
    assert bad["failed"] and bad["msg"].count("traefik_routes_routers.ab.rule: Host(`a.com`, `b.com`) is Traefik v2") == 1
    assert "routes.yml: http.routers" not in bad["msg"] and "problems" not in bad and "routers" not in bad
    # once in msg (no problems list repeating it): ansible-core 2.19 itself shows a failed module's msg twice,
    # in its "[ERROR]: Task failed: Module failed: ..." line and in the result
    assert run.output.count("is Traefik v2 syntax") == run.output.count("Module failed: ") == 2, run.output
    removal = run["removal"]
    assert removal["failed"] and "traefik_routes_services: removing service hermes breaks routers hermes and " \
                                 "hermes-pilot-request" in removal["msg"], removal["msg"]
    assert "is not defined" not in removal["msg"]
    for name, base in bases.items():
        assert state(base) == before[name], name


CONCURRENT_TASK = {"name": "Add one router (prune false, other routers stay)", MODULE: {
    "path": "{{ path }}", "routers": "{{ {'r' ~ n: {'rule': 'Host(`r' ~ n ~ '.example.com`)', 'service': 'shared'}} }}"}}


def test_concurrent_runs_on_one_directory_lose_no_update(tmp_path):
    """Eight plays adding one router each to the same file at the same time: all eight are there."""
    dynamic = tmp_path / "dynamic"
    dynamic.mkdir()
    (dynamic / "services.yml").write_text("http: {services: {shared: {loadBalancer: {servers: [{url: 'http://s:80'}]}}}}\n")
    path = dynamic / "routes.yml"
    (tmp_path / "play.yml").write_text(json.dumps([localhost_play([CONCURRENT_TASK])]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    procs = [subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                               str(tmp_path / "play.yml"), "-e", "path=%s n=%d" % (path, n)],
                              cwd=str(tmp_path), env=dict(env, ANSIBLE_LOCAL_TEMP=str(tmp_path / ("t%d" % n))),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in range(8)]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [o for p, o in zip(procs, outputs) if p.returncode][0]
    assert sorted(yaml.safe_load(path.read_text())["http"]["routers"]) == ["r%d" % n for n in range(8)]
    assert sum("changed=1" in output for output in outputs) == 8
    assert sorted(os.listdir(str(dynamic))) == ["routes.yml", "services.yml"]  # no lock or temporary file left
