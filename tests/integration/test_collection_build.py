# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection builds, installs offline from its tarball, and every plugin's docs render there."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
FILTERS = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml"))
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def run(*args, env=None, cwd=None):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the tarball and install it (no dependencies, offline) into a fresh collections path."""
    tmp = tmp_path_factory.mktemp("collection")
    # Run outside the checkout: its ansible.cfg would resolve squaremcp.infra to the checkout itself.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp / "installed"), ANSIBLE_NOCOLOR="1", HOME=str(tmp))
    env.pop("ANSIBLE_CONFIG", None)
    built = run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp), str(ROOT), env=env, cwd=tmp)
    assert built.returncode == 0, built.stderr
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    tarball = tmp / "squaremcp-infra-{0}.tar.gz".format(galaxy["version"])
    dest = tmp / "installed"
    install = run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps",
                  "-p", str(dest), str(tarball), env=env, cwd=tmp)
    assert install.returncode == 0, install.stderr
    return tarball, dest / "ansible_collections" / "squaremcp" / "infra", env


def test_tarball_ships_the_collection_and_nothing_from_the_test_harness(installed):
    tarball, _path, _env = installed
    with tarfile.open(tarball) as archive:
        top = {name.split("/")[0] for name in archive.getnames()}
    assert {"plugins", "roles", "playbooks", "meta", "README.md", "MANIFEST.json"} <= top
    assert top.isdisjoint({"tests", "molecule", "benchmarks", "tools", ".collections", ".venv", ".cache", ".ci"})


def test_tarball_holds_no_site(installed):
    """Our inventories (hosts, group_vars with the real domains, vault files) and site.yml stay out."""
    tarball, path, _env = installed
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert [name for name in names if name == "inventory" or name.startswith("inventory/")] == []
    assert "site.yml" not in names and not (path / "inventory").exists() and not (path / "site.yml").exists()
    assert not [name for name in names if name.rsplit("/", 1)[-1].startswith(("vault", ".vault"))]


@pytest.mark.parametrize("module", MODULES)
def test_module_docs_render_with_attributes(installed, module):
    _tarball, path, env = installed
    doc = run(str(BIN / "ansible-doc"), "--json", "squaremcp.infra." + module, env=env, cwd=path.parent)
    assert doc.returncode == 0, doc.stderr
    data = yaml.safe_load(doc.stdout)["squaremcp.infra." + module]
    assert data["doc"]["filename"].startswith(str(path)), "docs must come from the installed tarball"
    attributes = data["doc"]["attributes"]
    assert attributes["check_mode"]["support"] in ("full", "partial")
    # N/A: a module that only reads (traefik_facts)
    assert attributes["diff_mode"]["support"] in ("full", "partial", "N/A")
    assert data["examples"] and data["return"]


@pytest.mark.parametrize("name", FILTERS)
def test_filter_docs_render(installed, name):
    _tarball, path, env = installed
    doc = run(str(BIN / "ansible-doc"), "-t", "filter", "squaremcp.infra." + name, env=env, cwd=path.parent)
    assert doc.returncode == 0 and name in doc.stdout, doc.stderr


@pytest.mark.parametrize("role", ROLES)
def test_role_argument_specs_render(installed, role):
    _tarball, path, env = installed
    doc = run(str(BIN / "ansible-doc"), "-t", "role", "squaremcp.infra." + role, env=env, cwd=path.parent)
    assert doc.returncode == 0 and "ENTRY POINT" in doc.stdout, doc.stderr
