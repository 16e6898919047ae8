# -*- coding: utf-8 -*-
"""What a role still has to install (module_utils/_packages.py): packages from real dpkg-query output, files from
find's."""

from __future__ import annotations

import hashlib

from ansible_collections.squaremcp.infra.plugins.module_utils import _packages

# dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' on a Debian 12 Docker host: docker.io
# installed, bookworm's docker-compose 1.29, keepalived removed with its configuration kept ("rc").
OUTPUT = ("ii \tdocker.io\t20.10.24+dfsg1-1+deb12u1\n"
          "ii \tdocker-compose\t1.29.2-3\n"
          "rc \tkeepalived\t1:2.2.7-1+b2\n"
          "ii \tpython3-yaml\t6.0-3+b2\n")


def test_the_query_asks_by_name_once_each():
    argv = _packages.query_argv(["python3-yaml", "docker-compose=2*", "docker-compose"])
    assert argv == ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n", "docker-compose",
                    "python3-yaml"]


def test_installed_packages_are_not_missing():
    assert _packages.missing(OUTPUT, ["docker.io", "python3-yaml"]) == []


def test_a_version_glob_that_does_not_match_the_installed_version_is_missing():
    assert _packages.missing(OUTPUT, ["docker.io", "docker-compose=2*"]) == ["docker-compose=2*"]
    assert _packages.missing(OUTPUT, ["docker-compose=1.29*"]) == []


def test_an_exact_pin_other_than_the_installed_version_is_missing():
    assert _packages.missing(OUTPUT, ["docker.io=20.10.24+dfsg1-1+deb12u1"]) == []
    assert _packages.missing(OUTPUT, ["docker.io=20.10.24+dfsg1-1+deb12u2"]) == ["docker.io=20.10.24+dfsg1-1+deb12u2"]
    assert _packages.missing(OUTPUT, ["docker.io=20.10.24"]) == ["docker.io=20.10.24"]


def test_held_packages_are_installed_broken_ones_go_to_apt():
    output = ("hi \tjq\t1.6-2.1\n"       # held, installed
              "iU \tcurl\t7.88.1-10\n"   # unpacked, not configured
              "iHR\tgit\t1:2.39.2-1\n"   # half-installed, reinstall required
              "un \tnano\t\n")           # known, never installed
    assert _packages.missing(output, ["jq", "curl", "git", "nano"]) == ["curl", "git", "nano"]


def test_spec_forms_the_query_cannot_judge_go_to_apt():
    # apt's other spec forms (a minimum version, an architecture): never skipped, apt decides.
    assert _packages.missing(OUTPUT, ["docker.io>=20", "python3-yaml:amd64"]) == ["docker.io>=20", "python3-yaml:amd64"]


def test_removed_and_unknown_packages_are_missing():
    assert _packages.missing(OUTPUT, ["keepalived", "logrotate", "python3-yaml"]) == ["keepalived", "logrotate"]
    assert _packages.missing("", ["jq"]) == ["jq"]


def _found(path, content, mode="0644", owner="root", group="root"):
    """One entry of ansible.builtin.find's files list (get_checksum: true) as the module reports it."""
    return {"path": str(path), "mode": mode, "pw_name": owner, "gr_name": group,
            "checksum": hashlib.sha1(content).hexdigest()}


def test_only_files_that_are_missing_or_differ_are_copied(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name, content in {"a.py": b"a = 1\n", "b.py": b"b = 2\n", "c.py": b"c = 3\n", "d.py": b"d\n"}.items():
        (src / name).write_bytes(content)
    found = [_found("/opt/lib/a.py", b"a = 1\n"),                 # in place
             _found("/opt/lib/b.py", b"b = 2"),                   # content differs (no final newline)
             _found("/opt/lib/c.py", b"c = 3\n", mode="0600"),    # mode differs
             _found("/opt/lib/x.py", b"d\n")]                     # another file with d.py's content
    names = ["d.py", "c.py", "b.py", "a.py"]
    assert _packages.files_to_copy(names, str(src), found, "/opt/lib/") == ["d.py", "c.py", "b.py"]
    assert _packages.files_to_copy(["a.py"], str(src), [_found("/opt/lib/a.py", b"a = 1\n", owner="app")],
                                   "/opt/lib") == ["a.py"]
    assert _packages.files_to_copy(["a.py"], str(src), found, "/opt/lib") == []


def test_group_and_owner_are_compared_unless_unmanaged(tmp_path):
    (tmp_path / "a.py").write_bytes(b"a = 1\n")
    regrouped = [_found("/opt/lib/a.py", b"a = 1\n", group="staff")]
    assert _packages.files_to_copy(["a.py"], str(tmp_path), regrouped, "/opt/lib") == ["a.py"]
    assert _packages.files_to_copy(["a.py"], str(tmp_path), regrouped, "/opt/lib", group=None) == []
    chmodded = [_found("/opt/lib/a.py", b"a = 1\n", mode="0755", owner="app")]
    assert _packages.files_to_copy(["a.py"], str(tmp_path), chmodded, "/opt/lib", mode=None) == ["a.py"]
    assert _packages.files_to_copy(["a.py"], str(tmp_path), chmodded, "/opt/lib", mode=None, owner=None) == []


def test_a_destination_find_does_not_list_is_copied(tmp_path):
    # find (file_type: file) lists no link and nothing under a missing directory: copy decides for those.
    (tmp_path / "a.py").write_bytes(b"a = 1\n")
    assert _packages.files_to_copy(["a.py"], str(tmp_path), [], "/opt/lib") == ["a.py"]


def test_only_directories_that_are_missing_or_differ_are_created():
    entries = [{"path": "/etc/app", "mode": "0755"}, {"path": "/etc/app/dynamic", "mode": "0755"},
               {"path": "/var/lib/app/", "mode": "0700"}, {"path": "/var/log/app", "mode": "0755"},
               {"path": "/opt/app", "mode": "0755"}, {"path": "/srv/app", "mode": "0755"}]
    assert _packages.stat_argv(entries[:2]) == ["stat", "--format=%a:%U:%G:%F:%n", "/etc/app", "/etc/app/dynamic"]
    # stat --format=%a:%U:%G:%F:%n: /opt/app absent (stat prints nothing for it), /srv/app a link
    lines = ["755:root:root:directory:/etc/app", "2755:root:root:directory:/etc/app/dynamic",
             "700:root:root:directory:/var/lib/app", "755:app:root:directory:/var/log/app",
             "777:root:root:symbolic link:/srv/app"]
    assert _packages.directories_to_create(entries, lines, owner="root", group="root") == [
        entries[1], entries[3], entries[4], entries[5]]
    # plain paths with the task's mode; owner not managed
    assert _packages.directories_to_create(["/etc/app", "/var/log/app"], lines, mode="0755") == []
    assert _packages.directories_to_create(["/etc/app", "/var/lib/app"], lines, mode="0755") == ["/var/lib/app"]


# systemctl show --property=Id --property=UnitFileState --property=ActiveState nonexist.service sshd docker
# systemd-timesyncd squaremcp-stack@fetcherpay.service squaremcp-backup.timer, in the lab's Debian 12 container
# (systemd 252): an unknown unit still gets a block; sshd is an alias (its Id is ssh.service); timesyncd cannot run in a
# container.
SHOW = ("Id=nonexist.service\nActiveState=inactive\nUnitFileState=\n\n"
        "Id=ssh.service\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=docker.service\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=systemd-timesyncd.service\nActiveState=inactive\nUnitFileState=enabled\n\n"
        "Id=squaremcp-stack@fetcherpay.service\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=squaremcp-backup.timer\nActiveState=active\nUnitFileState=enabled\n")


def test_the_units_query_asks_each_unit():
    assert _packages.units_argv(["docker", {"name": "backup.timer", "enabled": False}]) == [
        "systemctl", "show", "--property=Id", "--property=UnitFileState", "--property=ActiveState", "docker", "backup.timer"]


def test_units_enabled_and_active_need_no_module():
    assert _packages.units_to_change(["ssh", "docker", "squaremcp-stack@fetcherpay.service", "squaremcp-backup.timer"],
                                     SHOW) == []


def test_units_not_as_wanted_or_unknown_go_to_the_module():
    assert _packages.units_to_change(["nonexist", "systemd-timesyncd", "other.timer", "sshd"], SHOW) == [
        "nonexist", "systemd-timesyncd", "other.timer", "sshd"]  # sshd: asked under an alias, the module decides
    assert _packages.units_to_change([{"name": "systemd-timesyncd", "active": None}], SHOW) == []
    assert _packages.units_to_change([{"name": "squaremcp-backup.timer", "enabled": False, "active": False}],
                                     SHOW) == ["squaremcp-backup.timer"]
    assert _packages.units_to_change([{"name": "nonexist", "enabled": None, "active": False}], SHOW) == []


def test_units_without_output_all_go_to_the_module():
    assert _packages.units_to_change(["ssh", "docker"], "") == ["ssh", "docker"]
    assert _packages.units_to_change(["ssh"], None) == ["ssh"]
