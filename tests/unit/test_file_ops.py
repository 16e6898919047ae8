# -*- coding: utf-8 -*-
"""_files.py's two FileOps: ModuleFileOps (an AnsibleModule: the modules) and ProcessFileOps (a plain
process: the cert rotation timer's entry point). Every file behaviour the sync relies on, run through
both: the results must be the same, and what _files.py promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio


def ansible_module():
    with patch_module_args({}):
        return fileio.ModuleFileOps(AnsibleModule(argument_spec={}, supports_check_mode=True))


IMPLEMENTATIONS = {"ModuleFileOps": ansible_module, "ProcessFileOps": fileio.ProcessFileOps}


def attrs(path):
    st = os.stat(path)
    return st.st_mode & 0o7777, st.st_uid, st.st_gid


def write(path, data, mode, uid=0, gid=0):
    path.write_bytes(data)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


# Each scenario: prepare(directory) -> list of io.write_files specs; returns what must hold afterwards.
def _new_private_key(directory):
    return [{"path": str(directory / "k.key"), "content": b"key", "mode": "0600", "owner": "1234", "group": "4321"}]


def _new_public_cert(directory):
    return [{"path": str(directory / "c.crt"), "content": b"cert", "mode": "0644", "owner": "root", "group": "root"}]


def _rewrite_keeps_owner_and_mode(directory):
    write(directory / "m.prom", b"old", 0o640, 1234, 4321)
    return [{"path": str(directory / "m.prom"), "content": b"new"}]


def _rewrite_applies_requested_attributes(directory):
    write(directory / "certificates.yml", b"old", 0o600, 1234, 4321)
    return [{"path": str(directory / "certificates.yml"), "content": b"new", "mode": "0644", "owner": "0", "group": "0"}]


def _same_content_only_fixes_attributes(directory):
    write(directory / "c.crt", b"same", 0o600, 1234, 4321)
    os.utime(directory / "c.crt", (1_000_000_000, 1_000_000_000))
    return [{"path": str(directory / "c.crt"), "content": b"same", "mode": "0644", "owner": "root", "group": "root"}]


def _same_content_same_attributes(directory):
    write(directory / "c.crt", b"same", 0o644)
    os.utime(directory / "c.crt", (1_000_000_000, 1_000_000_000))
    return [{"path": str(directory / "c.crt"), "content": b"same", "mode": "0644", "owner": "root", "group": "root"}]


SCENARIOS = {
    "new-private-key": _new_private_key,
    "new-public-cert": _new_public_cert,
    "rewrite-keeps-owner-and-mode": _rewrite_keeps_owner_and_mode,
    "rewrite-applies-requested-attributes": _rewrite_applies_requested_attributes,
    "same-content-only-fixes-attributes": _same_content_only_fixes_attributes,
    "same-content-same-attributes": _same_content_same_attributes,
}


def outcome(implementation, scenario, directory, monkeypatch):
    """Run one scenario; return what an observer sees: result, files (content, mode, owner), renames, staged modes."""
    directory.mkdir()
    specs = SCENARIOS[scenario](directory)
    before = {spec["path"]: os.stat(spec["path"]) for spec in specs if os.path.exists(spec["path"])}
    module = IMPLEMENTATIONS[implementation]()
    staged_modes = []
    original = type(module).atomic_move

    def spy(self, src, dest, *args, **kwargs):
        staged_modes.append(os.stat(src).st_mode & 0o777)
        return original(self, src, dest, *args, **kwargs)

    monkeypatch.setattr(type(module), "atomic_move", spy)
    result = fileio.write_files(module, specs)
    files = {}
    for spec in specs:
        st = os.stat(spec["path"])
        old = before.get(spec["path"])
        files[os.path.basename(spec["path"])] = {
            "content": Path(spec["path"]).read_bytes(), "attrs": attrs(spec["path"]),
            "renamed": old is None or old.st_ino != st.st_ino, "mtime_kept": old is not None and old.st_mtime == st.st_mtime}
    leftovers = sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))
    return {"changed": result["changed"], "written": [os.path.basename(p) for p in result["written"]], "files": files,
            "staged_modes": staged_modes, "leftovers": leftovers}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other users needs root (the test machine and the edge host run as root)")
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_process_file_ops_behave_like_module_file_ops(tmp_path, monkeypatch, scenario):
    reference = outcome("ModuleFileOps", scenario, tmp_path / "ansible", monkeypatch)
    host = outcome("ProcessFileOps", scenario, tmp_path / "host", monkeypatch)
    assert host == reference
    # and what _files.py promises, so the comparison cannot pass by both being wrong
    expected = {
        "new-private-key": {"k.key": (0o600, 1234, 4321)},
        "new-public-cert": {"c.crt": (0o644, 0, 0)},
        "rewrite-keeps-owner-and-mode": {"m.prom": (0o640, 1234, 4321)},
        "rewrite-applies-requested-attributes": {"certificates.yml": (0o644, 0, 0)},
        "same-content-only-fixes-attributes": {"c.crt": (0o644, 0, 0)},
        "same-content-same-attributes": {"c.crt": (0o644, 0, 0)},
    }[scenario]
    assert {name: entry["attrs"] for name, entry in host["files"].items()} == expected
    assert host["leftovers"] == []
    if scenario.startswith("new-") or scenario.startswith("rewrite-"):
        assert host["changed"] and all(entry["renamed"] for entry in host["files"].values())
    if scenario == "new-private-key":
        assert host["staged_modes"] == [0o600]  # private from the first byte
    if scenario.startswith("same-content"):
        assert host["written"] == [] and all(entry["mtime_kept"] and not entry["renamed"] for entry in host["files"].values())
        assert host["changed"] == (scenario == "same-content-only-fixes-attributes")


def test_process_file_ops_refuse_symbolic_modes_with_every_file_untouched(tmp_path):
    target = tmp_path / "edge.pem"
    target.write_bytes(b"old")
    with pytest.raises(fileio.FileError, match="octal"):
        fileio.write_file(fileio.ProcessFileOps(), str(target), b"new", mode="u=rw,g=,o=")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["edge.pem"]
