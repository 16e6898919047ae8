# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventory/production/vault.example.yml documents exactly the vault keys the inventory uses."""

from __future__ import annotations

import pathlib
import re
import urllib.parse

import jinja2
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "inventory" / "production"
VAULT_KEY = re.compile(r"\bvault_[a-z0-9_]+\b")


def referenced_keys():
    keys = set()
    for path in (PRODUCTION / "group_vars").rglob("*.yml"):
        keys |= set(VAULT_KEY.findall(path.read_text()))
    return keys


def documented_keys():
    return set(yaml.safe_load((PRODUCTION / "vault.example.yml").read_text()) or {})


def test_every_vault_var_the_inventory_uses_is_documented():
    assert referenced_keys() - documented_keys() == set()


def test_the_example_documents_no_key_that_nothing_uses():
    assert documented_keys() - referenced_keys() == set()


def test_the_example_holds_placeholders_only():
    values = yaml.safe_load((PRODUCTION / "vault.example.yml").read_text())
    flat = [v for value in values.values() for v in (value if isinstance(value, list) else [value])]
    assert all("CHANGE_ME" in str(v) for v in flat)


def test_no_real_vault_file_is_committed_unencrypted():
    for path in PRODUCTION.rglob("vault*.yml"):
        if path.name == "vault.example.yml":
            continue
        assert path.read_text().startswith("$ANSIBLE_VAULT;"), path


@pytest.mark.parametrize("inventory", ["production", "lab"])
def test_database_url_keeps_any_password_intact(inventory):
    """The DATABASE_URL template must percent-encode every character a URL gives meaning to."""
    path = ROOT / "inventory" / inventory / "group_vars" / "k8s_control_plane" / "sealed_secrets.yml"
    secrets = yaml.safe_load(path.read_text())["sealed_secrets_secrets"]
    template = next(s["string_data"]["DATABASE_URL"] for s in secrets if "DATABASE_URL" in s.get("string_data", {}))
    password = "p@ss/w:rd?#%&+ x"
    url = jinja2.Environment().from_string(template).render(vault_hermes_postgres_password=password)
    parsed = urllib.parse.urlsplit(url)
    assert urllib.parse.unquote(parsed.password) == password
    assert (parsed.hostname, parsed.port, parsed.path) == ("postgres.hermes-mcp", 5432, "/hermes")
