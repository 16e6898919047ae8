# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traefik role refuses missing or placeholder secrets before it changes anything.

One ansible-playbook run on localhost (check mode, ``--tags traefik_preflight,traefik_logrotate``:
argument spec validation, the preflight and the log rotation task only) with one inventory alias per
case, each with its own variables.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BCRYPT = "admin:$2y$05$Ax8hyGP8D6ZuWkH4nA8Ize7YQ0Hk8Qz2i6q3lXh8v3aQ2qP6d5o1K"
APR1 = "ops:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"
SHA = "ci:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
PLAIN = "hunter2-plain-password"
GOOD = {"traefik_acme_email": "ops@example.com", "traefik_dashboard_host": "traefik.example.com",
        "traefik_dashboard_users": [BCRYPT], "traefik_godaddy_api_key": "gd-key", "traefik_godaddy_api_secret": "gd-secret",
        "traefik_install_packages": False}
PRODUCTION = dict(yaml.safe_load((ROOT / "inventory/production/group_vars/edge/traefik.yml").read_text()),
                  **yaml.safe_load((ROOT / "inventory/production/vault.example.yml").read_text()))

# case name -> (variables, None when the preflight must pass, else a fragment of the failure message)
CASES = {
    "good": (GOOD, None),
    "good_apr1_and_sha1_users": (dict(GOOD, traefik_dashboard_users=[APR1, SHA]), None),
    "good_dashboard_disabled": (dict(GOOD, traefik_dashboard_enabled=False, traefik_dashboard_users=[],
                                     traefik_dashboard_host=""), None),
    "production_vault_example": (PRODUCTION, "traefik_godaddy_api_key is the CHANGE_ME placeholder; "
                                             "traefik_godaddy_api_secret is the CHANGE_ME placeholder"),
    "empty_key": (dict(GOOD, traefik_godaddy_api_key=""), "traefik_godaddy_api_key is empty:"),
    "blank_secret": (dict(GOOD, traefik_godaddy_api_secret="  "), "traefik_godaddy_api_secret is empty:"),
    "quote_in_secret": (dict(GOOD, traefik_godaddy_api_secret="a'b"), "single-line values without single quotes"),
    "newline_in_key": (dict(GOOD, traefik_godaddy_api_key="gd-key\nsecond-line"), "single-line values without single quotes"),
    "placeholder_user": (dict(GOOD, traefik_dashboard_users=PRODUCTION["vault_traefik_dashboard_users"]),
                         "user 'admin' has the CHANGE_ME placeholder instead of a hash"),
    "plain_password_user": (dict(GOOD, traefik_dashboard_users=[BCRYPT, "bob:" + PLAIN]),
                            "user 'bob' has no bcrypt, apr1 or SHA1 hash (a plain password?)"),
    "line_without_name": (dict(GOOD, traefik_dashboard_users=[BCRYPT, PLAIN]), "entry 2 is not name:hash"),
    "no_users": (dict(GOOD, traefik_dashboard_users=[]), "with the dashboard enabled traefik_dashboard_host and"),
    "internal_on_loopback": (dict(GOOD, traefik_internal_bind_address="127.0.0.1"), None),
    "internal_on_every_address": (dict(GOOD, traefik_internal_bind_address="0.0.0.0"),
                                  "traefik_internal_bind_address 0.0.0.0 would publish Traefik's metrics on every address"),
}


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """Run every case once; return (json report, stdout)."""
    work = tmp_path_factory.mktemp("traefik_preflight")
    hosts = {name: dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable)
             for name, (variables, _expected) in CASES.items()}
    (work / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (work / "play.yml").write_text(yaml.safe_dump([{
        "name": "Preflight", "hosts": "all", "gather_facts": False, "roles": [{"role": "squaremcp.infra.traefik"}]}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORKS="20", ANSIBLE_HOME=str(work / "ansible-home"))
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(work / "inventory.yml"),
         str(work / "play.yml"), "--check", "--tags", "traefik_preflight,traefik_logrotate"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return json.loads(result.stdout), result.stdout + result.stderr


def outcome(report, host):
    """(failed, message of the first failure, names of the tasks that ran for ``host``)."""
    ran = []
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"].get(host)
        if result is None or result.get("skipped"):
            continue
        ran.append(task["task"]["name"])
        if result.get("failed"):
            return True, " ".join(result.get("msg", "").split()), ran
    return False, "", ran


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_preflight(played, case):
    failed, message, ran = outcome(played[0], case)
    expected = CASES[case][1]
    if expected is None:
        assert not failed, message
        assert any("Rotate the access log" in name for name in ran), \
            "the log rotation config is deployed even when the role does not install packages"
    else:
        assert failed and expected in message, message
        assert not any("Rotate the access log" in name for name in ran)


@pytest.mark.slow
def test_no_secret_reaches_the_output(played):
    stdout = played[1]
    for secret in (PLAIN, "gd-secret", BCRYPT.split(":", 1)[1], "CHANGE_ME-bcrypt-hash", "CHANGE_ME-godaddy-api-secret"):
        assert secret not in stdout
