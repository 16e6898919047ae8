# -*- coding: utf-8 -*-
"""module_utils/_backup_opened.py: when a recorded opening of a repository still proves it exists."""

from __future__ import annotations

import os

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_opened as opened


def test_fingerprint_and_proof(tmp_path):
    path = tmp_path / "password"
    path.write_text("secret")
    current = opened.fingerprint([str(path)])
    assert current[0][0] == str(path) and "secret" not in repr(current)
    record = {"fingerprint": current, "opened": 1000.0}
    assert opened.proven(record, current, 1000.0 + 3599, 3600)
    assert not opened.proven(record, current, 1000.0 + 3600, 3600)  # too old
    assert not opened.proven(record, current, 999.0, 3600)  # recorded in the future: the clock moved back
    assert not opened.proven(record, current, 1001.0, 0)  # reopen_after 0: always open
    assert not opened.proven(None, current, 1001.0, 3600)
    os.utime(path, ns=(0, 5))
    assert not opened.proven(record, opened.fingerprint([str(path)]), 1001.0, 3600)
    missing = opened.fingerprint([str(tmp_path / "gone")])
    assert missing == [[str(tmp_path / "gone"), None]]
    assert not opened.proven({"fingerprint": missing, "opened": 1000.0}, missing, 1001.0, 3600)


def test_load_ignores_what_it_did_not_write(tmp_path):
    assert opened.load(str(tmp_path)) == {}
    (tmp_path / opened.FILE_NAME).write_text("[1, 2]")
    assert opened.load(str(tmp_path)) == {}
    (tmp_path / opened.FILE_NAME).write_text("not json")
    assert opened.load(str(tmp_path)) == {}
    (tmp_path / opened.FILE_NAME).write_text('{"local": {"opened": 1}, "bad": 3}')
    assert opened.load(str(tmp_path)) == {"local": {"opened": 1}}
    os.unlink(tmp_path / opened.FILE_NAME)
    os.symlink(tmp_path / "elsewhere", tmp_path / opened.FILE_NAME)
    assert opened.load(str(tmp_path)) == {}  # a link is never followed
