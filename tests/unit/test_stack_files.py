# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_stack_files.py (module squaremcp.infra.stack_files) against a real AnsibleModule in a temp dir."""

from __future__ import annotations

import os
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_files as stack_files


def module(check_mode=False):
    with patch_module_args({"_ansible_check_mode": check_mode}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def stack(compose="name: shop\n", db="pw-1", api="tok-1"):
    return {"name": "shop", "compose": compose,
            "secret_files": [{"name": "db_password", "content": db, "services": ["db", "gitea"], "mode": "0400",
                              "owner": "root", "group": "root"}],
            "env_files": [{"service": "api", "variables": [{"name": "API_TOKEN", "value": api}]}]}


def snapshot(root):
    """path -> (content, mode, inode, mtime) of every file and directory below root."""
    found = {}
    for directory, _dirs, files in os.walk(root):
        st = os.stat(directory)
        found[directory] = (None, stat.S_IMODE(st.st_mode), st.st_ino, st.st_mtime_ns)
        for name in files:
            path = os.path.join(directory, name)
            st = os.stat(path)
            with open(path, "rb") as handle:
                found[path] = (handle.read(), stat.S_IMODE(st.st_mode), st.st_ino, st.st_mtime_ns)
    return found


def test_first_write_creates_the_layout_and_recreates_nothing(tmp_path):
    root = str(tmp_path / "stacks")
    result = stack_files.apply(module(), root, [stack()])
    assert result["changed"] and result["recreate"] == {} and result["stacks"]["shop"]["existed"] is False
    files = snapshot(root)
    assert files[root + "/shop"][1] == 0o750 and files[root + "/shop/secrets"][1] == 0o700
    assert files[root + "/shop/compose.yml"][:2] == (b"name: shop\n", 0o640)
    assert files[root + "/shop/secrets/db_password"][:2] == (b"pw-1", 0o400)
    assert files[root + "/shop/secrets/api.env"][1] == 0o600
    assert b"API_TOKEN='tok-1'\n" in files[root + "/shop/secrets/api.env"][0]
    assert [d["after"] for d in result["diff"]] == ["name: shop\n"]


def test_unchanged_input_touches_nothing(tmp_path):
    root = str(tmp_path / "stacks")
    stack_files.apply(module(), root, [stack()])
    before = snapshot(root)
    result = stack_files.apply(module(), root, [stack()])
    assert (result["changed"], result["written"], result["recreate"], result["diff"]) == (False, [], {}, [])
    assert snapshot(root) == before


def test_a_changed_secret_recreates_only_the_services_that_use_it(tmp_path):
    root = str(tmp_path / "stacks")
    stack_files.apply(module(), root, [stack()])
    assert stack_files.apply(module(), root, [stack(db="pw-2")])["recreate"] == {"shop": ["db", "gitea"]}
    result = stack_files.apply(module(), root, [stack(db="pw-2", api="tok-2")])
    assert result["recreate"] == {"shop": ["api"]} and result["stacks"]["shop"]["secrets_changed"] == ["api.env"]
    assert "tok-2" not in str(result) and "pw-2" not in str(result)


def test_check_mode_reports_and_writes_nothing(tmp_path):
    root = str(tmp_path / "stacks")
    stack_files.apply(module(), root, [stack()])
    before = snapshot(root)
    result = stack_files.apply(module(check_mode=True), root, [stack(compose="name: shop\n# new\n", db="pw-2")])
    assert result["changed"] and result["recreate"] == {"shop": ["db", "gitea"]}
    assert snapshot(root) == before
    fresh = str(tmp_path / "fresh")
    assert stack_files.apply(module(check_mode=True), fresh, [stack()])["changed"] and not os.path.exists(fresh)


def test_secrets_no_stack_names_any_more_are_pruned(tmp_path):
    root = str(tmp_path / "stacks")
    stack_files.apply(module(), root, [stack()])
    smaller = dict(stack(), env_files=[])
    result = stack_files.apply(module(), root, [smaller])
    assert result["removed"] == [root + "/shop/secrets/api.env"] and result["changed"]


@pytest.mark.parametrize("variables, fragment", [
    ([{"name": "TOKEN", "value": "it's"}], "the value of TOKEN holds a single quote or a newline"),
    ([{"name": "TOKEN", "value": "a\nb"}], "the value of TOKEN holds a single quote or a newline"),
    ([{"name": "1TOKEN", "value": "x"}], "'1TOKEN' is not a valid variable name"),
])
def test_bad_input_fails_without_touching_anything_and_without_the_value(tmp_path, variables, fragment):
    root = str(tmp_path / "stacks")
    stack_files.apply(module(), root, [stack()])
    before = snapshot(root)
    bad = dict(stack(compose="name: shop\n# changed\n", db="pw-2"),
               env_files=[{"service": "api", "variables": variables}])
    with pytest.raises(stack_files.StackFilesError, match=fragment) as failure:
        stack_files.apply(module(), root, [bad])
    assert "it's" not in str(failure.value) and "stack shop, service api" in str(failure.value)
    assert snapshot(root) == before


def test_a_symlinked_stack_directory_is_refused(tmp_path):
    root = tmp_path / "stacks"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "shop").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(stack_files.StackFilesError, match="is not a directory .a symbolic link is not followed"):
        stack_files.apply(module(), str(root), [stack()])
    assert os.listdir(tmp_path / "elsewhere") == []


def test_a_refusal_comes_before_any_directory_is_created_or_chmod_ed(tmp_path):
    root = tmp_path / "stacks"
    stack_files.apply(module(), str(root), [stack()])
    os.chmod(root, 0o711)  # wrong, but a refused run must not fix it either
    outside = tmp_path / "outside"
    outside.write_text("not ours\n")
    os.chmod(outside, 0o600)
    secret = root / "shop" / "secrets" / "db_password"
    secret.unlink()
    secret.symlink_to(outside)
    before = snapshot(str(tmp_path))
    second = dict(stack(), name="blog")
    with pytest.raises(stack_files.FileError, match="is a symbolic link"):
        stack_files.apply(module(), str(root), [second, stack(db="pw-2")])
    assert snapshot(str(tmp_path)) == before  # no blog/ directory, root still 0711, the link's target unchanged
    assert not (root / "blog").exists() and os.readlink(str(secret)) == str(outside)


def test_a_real_run_waits_for_the_lock_and_a_timed_out_one_changes_nothing(tmp_path):
    from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileLock, LockTimeout

    root, lock = str(tmp_path / "stacks"), str(tmp_path / "stacks.lock")
    stack_files.apply(module(), root, [stack()], lock_file=lock)
    before = snapshot(root)
    with FileLock(lock):  # the watchdog restoring
        with pytest.raises(LockTimeout, match="another run holds the lock"):
            stack_files.apply(module(), root, [stack(db="pw-2")], lock_file=lock, lock_timeout=0.3, hold_for=60)
        assert stack_files.apply(module(check_mode=True), root, [stack(db="pw-2")], lock_file=lock)["changed"]
    assert snapshot(root) == before and not os.path.exists(lock + ".deploying")


def test_the_deployment_lease_is_written_first_and_is_not_a_change(tmp_path):
    from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_restore as restore

    root, lock = str(tmp_path / "stacks"), str(tmp_path / "stacks.lock")
    stack_files.apply(module(), root, [stack()], lock_file=lock)
    assert restore.deployment_hold(lock) is None
    result = stack_files.apply(module(), root, [stack()], lock_file=lock, hold_for=600)
    assert result["changed"] is False and result["written"] == []
    hold = restore.deployment_hold(lock)
    assert hold.startswith("skipped: a deployment") and lock + ".deploying" in hold
    assert restore.deployment_hold(lock, now=os.stat(lock + ".deploying").st_mtime + 601) is None  # expired
    assert not stack_files.apply(module(check_mode=True), root, [stack()], lock_file=lock, hold_for=600)["changed"]
