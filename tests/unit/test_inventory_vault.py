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
VAULT_KEY = re.compile(r"\bvault_[a-z0-9_]+\b(?!\.yml)")  # not a vault file named in a comment


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


def _vault_loader():
    """A safe loader that keeps `!vault` values as ("vault", ciphertext) instead of failing on the tag."""
    class Loader(yaml.SafeLoader):
        pass
    Loader.add_constructor("!vault", lambda loader, node: ("vault", loader.construct_scalar(node)))
    return Loader


def vault_files():
    return sorted(path for path in (ROOT / "inventory").rglob("vault*.yml") if path.name != "vault.example.yml")


def test_every_committed_vault_file_holds_only_encrypted_values():
    """Whole-file vaults or `!vault` values: a plaintext value in any inventory's vault*.yml fails here."""
    files = vault_files()
    assert files, "no vault file found: the lab's inventory/lab/group_vars/all/vault.yml is expected"
    for path in files:
        text = path.read_text()
        if text.startswith("$ANSIBLE_VAULT;"):
            continue
        values = yaml.load(text, Loader=_vault_loader()) or {}  # nosec B506 - a SafeLoader subclass
        plain = sorted(key for key, value in values.items() if any(not leaf[1].startswith("$ANSIBLE_VAULT;")
                                                                   for leaf in _leaves(value)))
        assert plain == [], "%s: plaintext values for %s" % (path.relative_to(ROOT), plain)


def _leaves(value):
    """Every leaf of a value, a non-vault one as ("plain", "")."""
    if isinstance(value, tuple):
        return [value]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [("plain", "")]


def test_the_lab_vault_opens_with_its_test_password_and_defines_what_the_lab_uses():
    from ansible.parsing.vault import VaultLib, VaultSecret

    lab = ROOT / "inventory" / "lab"
    secret = VaultSecret((lab / ".vault-password.test-only").read_text().strip().encode())
    vault = VaultLib([("default", secret)])
    defined = {}
    for path in vault_files():
        if lab not in path.parents:
            continue
        values = yaml.load(path.read_text(), Loader=_vault_loader()) or {}  # nosec B506 - a SafeLoader subclass
        for key, value in values.items():
            # fails for a value encrypted with another password
            defined[key] = [vault.decrypt(ciphertext) for _tag, ciphertext in _leaves(value)]
    used = set()
    for path in (lab / "group_vars").rglob("*.yml"):
        if not path.name.startswith("vault"):
            used |= set(VAULT_KEY.findall(path.read_text()))
    assert used - set(defined) == set(), "the lab uses vault keys its vault does not define"
    assert all(value for value in defined.values())


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
