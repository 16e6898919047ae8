"""Each role's documentation (meta/argument_specs.yml, what `ansible-doc -t role` prints) lists the tags its task
files carry and the files it owns, and every option it names there exists."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))
SPECIAL_TAGS = {"always", "never"}


def task_tags(role: str) -> set[str]:
    """Every tag a task file of the role names (task tags and include_tasks `apply` tags)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "tags":
                    found.update([value] if isinstance(value, str) else value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        walk(yaml.safe_load(path.read_text()))
    return found - SPECIAL_TAGS


def main_spec(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]


def description(role: str) -> str:
    return " ".join(main_spec(role)["description"])


def test_every_role_is_checked():
    assert len(ROLES) >= 10, ROLES


@pytest.mark.parametrize("role", ROLES)
def test_role_doc_lists_its_tags(role):
    tags = task_tags(role)
    assert role in tags, f"no task of roles/{role}/tasks carries the tag {role}"
    text = " ".join(item for item in main_spec(role)["description"] if "Tag" in item)
    missing = sorted(tag for tag in tags if not re.search(rf"\b{tag}\b", text))
    assert not missing, f"roles/{role}/meta/argument_specs.yml (main description) does not list the tags {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_role_doc_lists_the_files_it_owns(role):
    assert "Files it owns" in description(role), f"roles/{role}/meta/argument_specs.yml: say which files the role owns"


@pytest.mark.parametrize("role", ROLES)
def test_role_doc_names_only_real_options(role):
    options = set(main_spec(role)["options"])
    named = set(re.findall(r"O\((\w+)(?:=[^)]*)?\)", description(role)))
    assert named <= options, f"roles/{role}: the description names options that do not exist: {sorted(named - options)}"
