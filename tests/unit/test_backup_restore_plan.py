# -*- coding: utf-8 -*-
"""The parts of a restore's plan that need no container (module_utils/_backup_restore.py): how a
directory on the host compares with a snapshot's listing, the swap that keeps the directory (and its
bind mounts), git fsck of bare repositories, and the choice of the run."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_restore as restore


def tree(root, files):
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return restore._listing_of_tree(str(root))


def test_empty_equal_and_differs(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert restore._compare_trees(restore._listing_of_tree(str(tmp_path / "empty")), {"a": ("file", 1)})[0] == "empty"
    saved = tree(tmp_path / "saved", {"acme.json": "{}", "notes/a.md": "a"})
    assert restore._compare_trees(tree(tmp_path / "live", {"acme.json": "{}", "notes/a.md": "a"}), saved) == ("equal", [])
    state, why = restore._compare_trees(tree(tmp_path / "newer", {"acme.json": "{}", "notes/a.md": "ab", "notes/b.md": "b"}),
                                        saved)
    assert state == "differs"
    assert why == ["1 path(s) only on the host: notes/b.md", "1 path(s) different size: notes/a.md"]


def test_snapshot_listing_is_relative_to_the_backed_up_directory():
    nodes = [{"path": "/var/lib/traefik/acme", "type": "dir"},
             {"path": "/var/lib/traefik/acme/acme.json", "type": "file", "size": 2},
             {"path": "/var/lib/traefik/other", "type": "dir"}]
    assert restore._listing_of_snapshot(nodes, "/var/lib/traefik/acme") == {"acme.json": ("file", 2)}


def test_the_swap_keeps_the_directory_and_moves_the_old_content_aside(tmp_path):
    target, staged, old = tmp_path / "acme", tmp_path / "staged", tmp_path / "old"
    tree(target, {"acme.json": "new host's"})
    tree(staged, {"acme.json": "restored", "extra/file": "x"})
    inode = os.stat(target).st_ino
    restore._swap_content(str(target), str(staged), str(old))
    assert os.stat(target).st_ino == inode  # a bind mount of the directory keeps seeing it
    assert (target / "acme.json").read_text() == "restored" and (target / "extra" / "file").exists()
    assert (old / "acme.json").read_text() == "new host's"


def test_git_fsck_finds_bare_repositories_and_damage(tmp_path):
    repo = tmp_path / "git" / "repositories" / "ops" / "infra.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    (work / "f").write_text("x\n")
    subprocess.run(["git", "-C", str(work), "add", "f"], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "m"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True, capture_output=True)
    assert restore.git_fsck(str(tmp_path / "git")) == []
    assert restore.git_fsck(str(tmp_path / "work" / "nothing-here")) == [
        "no bare git repository found below %s" % (tmp_path / "work" / "nothing-here")]
    loose = [p for p in (repo / "objects").rglob("*") if p.is_file() and len(p.parent.name) == 2]
    loose[0].chmod(0o644)
    loose[0].write_bytes(b"damaged")
    problems = restore.git_fsck(str(tmp_path / "git"))
    assert len(problems) == 1 and problems[0].startswith("git fsck repositories/ops/infra.git:")


class Snapshots(object):
    """What select_run asks a repository (restic's own answers are tested in tests/integration)."""

    def __init__(self, snapshots):
        self.items = snapshots
        self.repository = type("R", (), {"display": "local (/var/backups/restic/h)"})()

    def snapshots(self, tags=(), host=None):
        return [s for s in self.items if set(tags) <= set(s["tags"])]


def snapshot(id_, run, *tags, time="2026-12-0%dT03:15:00Z"):
    return {"id": id_ * 64, "short_id": id_ * 8, "time": time % int(run[-1]), "tags": ["squaremcp", "run=%s" % run] + list(tags)}


RUNS = [snapshot("a", "20261201T031500Z1", "manifest", "complete"), snapshot("b", "20261201T031500Z1", "source=db"),
        snapshot("c", "20261202T031500Z2", "manifest", "complete"), snapshot("d", "20261203T031500Z3", "manifest", "partial"),
        snapshot("e", "20261204T031500Z4", "source=db")]


def test_latest_is_the_newest_complete_run_and_runs_are_found_by_id_or_any_snapshot():
    repo = Snapshots(RUNS)
    assert restore.select_run(repo, "h", "latest")["id"] == "c" * 64
    assert restore.select_run(repo, "h", "20261203T031500Z3")["id"] == "d" * 64
    assert restore.select_run(repo, "h", "bbbbbbbb")["id"] == "a" * 64  # a data snapshot of run 1
    with pytest.raises(restore.RestoreError, match="snapshot eeeeeeee belongs to run 20261204T031500Z4, which has no "
                                                   "manifest"):
        restore.select_run(repo, "h", "eeeeeeee")
    with pytest.raises(restore.RestoreError, match=r"snapshot 'ffffffff' not found in repository local .* \(newest runs: "
                                                   r"20261203T031500Z3 partial, 20261202T031500Z2, 20261201T031500Z1\)"):
        restore.select_run(repo, "h", "ffffffff")
    with pytest.raises(restore.RestoreError, match="holds no complete backup run of host h"):
        restore.select_run(Snapshots([RUNS[3]]), "h", "latest")


def test_maintenance_flags_are_never_written_through_a_link_and_others_flags_stay(tmp_path):
    flags, outside = tmp_path / "maintenance", tmp_path / "outside"
    flags.mkdir()
    outside.mkdir()
    os.symlink(str(outside / "created"), str(flags / "linked"))  # dangling: open() would create outside/created
    (flags / "someone").write_text("kept\n")
    config = type("Config", (), {"maintenance_dir": str(flags)})()
    outcome = restore.RestoreOutcome(repository="local", host="h", run="r1")
    with restore._maintenance(config, ["linked", "someone", "ours"], outcome):
        assert (flags / "ours").read_text() == "restic_restore of run r1\n"
    assert sorted(os.listdir(str(flags))) == ["linked", "someone"] and (flags / "someone").read_text() == "kept\n"
    assert os.listdir(str(outside)) == []
    assert outcome.warnings == ["the maintenance flag %s is a symbolic link: not written through it (remove the link)"
                                % (flags / "linked")]


def test_only_a_snapshot_with_a_bare_repository_needs_fsck(tmp_path):
    # An empty Gitea volume (no repository yet) restores and verifies; one with a repository is fsck'ed.
    repo = tmp_path / "gitea" / "git" / "repositories" / "ops" / "infra.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "no-repo" / "conf").mkdir(parents=True)
    (tmp_path / "no-repo" / "conf" / "HEAD").write_text("not a repository\n")
    assert restore.holds_bare_repository(restore._listing_of_tree(str(tmp_path / "gitea")))
    assert not restore.holds_bare_repository(restore._listing_of_tree(str(tmp_path / "empty")))
    assert not restore.holds_bare_repository(restore._listing_of_tree(str(tmp_path / "no-repo")))
