# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.stack_files under abuse, through ansible-playbook: a stack file that is a symbolic link, or a
secret whose owner does not exist, is refused BEFORE any stack directory is created or fixed, and nothing outside
the stacks is touched; the secret's value is in no message. Files compared byte for byte (mode, owner, inode)."""

from __future__ import annotations

import os

import pytest

from tests.badinput import assert_secret_absent, run_refused

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.stack_files"
CANARY = "canary-stack-5b0e"
COMPOSE = "services:\n  app:\n    image: busybox\n"


def site(tmp_path, case):
    base = tmp_path / case
    (base / "stacks" / "shop" / "secrets").mkdir(parents=True)
    os.chmod(base / "stacks" / "shop", 0o755)  # not the 0750 the module gives: a run would fix it
    (base / "outside").mkdir()
    target = base / "outside" / "target"
    target.write_text("outside the stacks\n")
    os.chown(target, 1234, 4321)
    os.chmod(target, 0o600)
    return base


def test_refused_stacks_change_no_directory(tmp_path):
    bases = {name: site(tmp_path, name) for name in ("compose-link", "secret-link", "unknown-owner")}
    for name, link in (("compose-link", "compose.yml"), ("secret-link", "secrets/token")):
        os.symlink(str(bases[name] / "outside" / "target"), str(bases[name] / "stacks" / "shop" / link))
    secret = {"name": "token", "content": CANARY, "services": ["app"]}
    cases = {
        "compose-link": [{"name": "shop", "compose": COMPOSE}],
        "secret-link": [{"name": "shop", "compose": COMPOSE, "secret_files": [secret]}],
        "unknown-owner": [{"name": "shop", "compose": COMPOSE, "secret_files": [dict(secret, owner="no-such-user-x")]}],
    }
    cases = {name: {"root": str(bases[name] / "stacks"), "stacks": stacks + [{"name": "blog", "compose": COMPOSE}]}
             for name, stacks in cases.items()}
    expected = {"compose-link": "is a symbolic link", "secret-link": "is a symbolic link",
                "unknown-owner": "no-such-user-x"}
    run = run_refused(tmp_path, MODULE, cases, bases, expected, diff=True, verbosity=3)  # so the other stack's directory (blog) was not created either
    assert_secret_absent(run, CANARY)
