# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_install_files.py and the validator hook of _files.write_files, on a temporary directory."""

from __future__ import annotations

import os
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import _files
from ansible_collections.squaremcp.infra.plugins.module_utils import _install_files as install


def make_module(check_mode=False):
    with patch_module_args({"_ansible_check_mode": check_mode}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def params(files, **top):
    entries = [dict({"content": None, "secret_content": None, "owner": None, "group": None, "mode": None,
                     "validate": None}, **entry) for entry in files]
    return dict({"files": entries, "owner": None, "group": None, "mode": None}, **top)


def test_plan_applies_defaults_and_keeps_order(tmp_path):
    specs = install.plan(params([{"dest": str(tmp_path / "a"), "content": "A\n"},
                                 {"dest": str(tmp_path / "b"), "secret_content": "s", "mode": "0600"}], mode="0644"))
    assert [(s["path"], s["content"], s["mode"], s["secret"]) for s in specs] == [
        (str(tmp_path / "a"), b"A\n", "0644", False), (str(tmp_path / "b"), b"s", "0600", True)]


@pytest.mark.parametrize("files, message", [
    ([{"dest": "relative/file", "content": ""}], "files[0].dest must be an absolute path"),
    ([{"dest": "/x/a", "content": ""}, {"dest": "/x/./a", "content": ""}], "files[1].dest /x/a is also files[0].dest"),
    ([{"dest": "/x/a", "content": "", "validate": "visudo -cf"}], "files[0].validate must contain %s"),
])
def test_plan_names_the_bad_entry(files, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        install.plan(params(files))


def test_validator_refusal_leaves_every_file_and_attribute(tmp_path):
    settled, changed = tmp_path / "settled", tmp_path / "changed"
    settled.write_bytes(b"same\n")
    os.chmod(settled, 0o666)
    changed.write_bytes(b"old\n")
    seen = []

    def refuse(spec, staged):
        seen.append((spec["path"], open(staged, "rb").read(), stat.S_IMODE(os.stat(staged).st_mode)))
        raise _files.FileError("refused")

    specs = install.plan(params([{"dest": str(settled), "content": "same\n"},
                                 {"dest": str(changed), "content": "new\n", "mode": "0640"}], mode="0644"))
    with pytest.raises(_files.FileError, match="refused"):
        _files.write_files(make_module(), specs, validate=refuse)
    assert seen == [(str(changed), b"new\n", 0o640)]  # the staged copy, with the wanted mode
    assert changed.read_bytes() == b"old\n"
    assert stat.S_IMODE(settled.stat().st_mode) == 0o666  # not repaired by a refused run
    assert sorted(os.listdir(tmp_path)) == ["changed", "settled"]


def test_changed_files_and_diffs_leave_secrets_out(tmp_path):
    (tmp_path / "unit").write_text("old\n")
    (tmp_path / "same").write_text("same\n")
    os.chmod(tmp_path / "same", 0o644)
    specs = install.plan(params([{"dest": str(tmp_path / "unit"), "content": "new\n"},
                                 {"dest": str(tmp_path / "same"), "content": "same\n", "mode": "0644"},
                                 {"dest": str(tmp_path / "key"), "secret_content": "hunter2"}]))
    module = make_module()
    assert install.changed_files(module, specs) == [str(tmp_path / "unit"), str(tmp_path / "key")]
    before = install.read_before(specs)
    assert str(tmp_path / "key") not in before
    result = _files.write_files(module, specs)
    diffs = install.diffs(specs, before, result["written"])
    assert diffs == [{"before_header": str(tmp_path / "unit"), "after_header": str(tmp_path / "unit"),
                      "before": "old\n", "after": "new\n"}]
    assert "hunter2" not in repr(diffs)
    assert install.changed_files(module, specs) == []


def test_check_mode_writes_nothing_and_skips_the_validator(tmp_path):
    specs = install.plan(params([{"dest": str(tmp_path / "a"), "content": "a", "validate": "/bin/false %s"}]))

    def never(spec, staged):
        raise AssertionError("validator called in check mode")

    result = _files.write_files(make_module(check_mode=True), specs, validate=never)
    assert result["changed"] is True and result["written"] == [str(tmp_path / "a")]
    assert os.listdir(tmp_path) == []


def test_validation_error_is_cut_and_names_file():
    spec = {"path": "/etc/x", "validate": "check %s"}
    message = install.validation_error(spec, 3, "o" * 5000, "bad line 2")
    assert message.startswith("/etc/x: the validator 'check %s' refused the new content (exit 3): bad line 2")
    assert message.count("o") < 2100 and "nothing was written" in message
