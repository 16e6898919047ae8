# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traefik role's configuration checker as the role installs it: files/traefik_config_check.py
beside a copy of exactly the module_utils the role's vars list, run by a Python that sees nothing else
(a missing file in the list fails here, not on the edge host)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.unit.test_traefik_config import STATIC_GOOD, write

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "traefik"


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    """Install the checker the way roles/traefik/tasks/main.yml does; return a function running it."""
    install = tmp_path_factory.mktemp("checker")
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    lib = install / "lib" / "ansible_collections" / "squaremcp" / "infra" / "plugins" / "module_utils"
    lib.mkdir(parents=True)
    for name in role_vars["__traefik_checker_modules"]:
        shutil.copy(ROOT / "plugins" / "module_utils" / name, lib / name)
    entry = install / "traefik_config_check.py"
    shutil.copy(ROLE / "files" / "traefik_config_check.py", entry)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    def run(*args):
        # -I: no user site, no environment, no current directory on sys.path: only the installed copy.
        proc = subprocess.run([sys.executable, "-I", str(entry)] + list(args), capture_output=True, text=True,
                              env=env, cwd=str(install), check=False)
        return proc.returncode, proc.stdout, proc.stderr

    return run


def test_checker_checks_files_in_their_directory(tmp_path, checker):
    static, dynamic = str(tmp_path / "traefik.yml"), str(tmp_path / "dynamic")
    write(static, STATIC_GOOD)
    write(dynamic + "/dashboard.yml", "http: {middlewares: {admins: {basicAuth: {users: ['a:$2y$05$x']}}}}\n")
    candidate = str(tmp_path / "candidate")
    write(candidate, "http:\n  routers:\n    r: {rule: 'Host(`a`)', service: api@internal, middlewares: [admins],"
                     " tls: {certResolver: letsencrypt}, entryPoints: [websecure]}\n")
    assert checker("static", static)[0] == 0
    rc, out, _err = checker("dynamic", candidate, "--directory", dynamic, "--name", "routes.yml", "--static", static)
    assert rc == 0 and "dynamic configuration OK: routes.yml" in out
    # the candidate replaces dashboard.yml: the middleware it referenced is then gone
    rc, _out, err = checker("dynamic", candidate, "--directory", dynamic, "--name", "dashboard.yml")
    assert rc == 1 and "dashboard.yml: http.middlewares: removing middleware admins breaks router r" in err, err
    write(static, STATIC_GOOD.replace("insecure: false", "insecure: true"))
    rc, _out, err = checker("static", static)
    assert rc == 1 and "api.insecure" in err
    # the candidate replaces routes.yml, whose service dashboard.yml's router uses
    write(dynamic + "/routes.yml", "http: {services: {app: {loadBalancer: {servers: [{url: 'http://app'}]}}}}\n")
    write(dynamic + "/dashboard.yml", "http: {routers: {app: {rule: 'Host(`b`)', service: app}}}\n")
    write(candidate, "http: {}\n")
    rc, _out, err = checker("dynamic", candidate, "--directory", dynamic, "--name", "routes.yml")
    assert rc == 1 and "removing service app breaks router app in %s/dashboard.yml" % dynamic in err, err
    write(candidate, "http: [\n")
    rc, _out, err = checker("dynamic", candidate)
    assert rc == 1 and "does not parse as YAML" in err


def test_checker_never_quotes_a_broken_line(tmp_path, checker):
    """A YAML error in a file holding users' hashes names line and column, never the line's text."""
    candidate = str(tmp_path / "routes.yml")
    write(candidate, "http:\n  middlewares:\n    auth:\n      basicAuth:\n        users: ['admin:$apr1$SECRETHASH' x]\n")
    rc, out, err = checker("dynamic", candidate)
    assert rc == 1 and "line 5" in err
    assert "SECRETHASH" not in out + err
