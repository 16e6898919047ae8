# -*- coding: utf-8 -*-
"""Which packages a role still has to install (module_utils/_packages.py), from real dpkg-query output."""

from __future__ import annotations

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


def test_removed_and_unknown_packages_are_missing():
    assert _packages.missing(OUTPUT, ["keepalived", "logrotate", "python3-yaml"]) == ["keepalived", "logrotate"]
    assert _packages.missing("", ["jq"]) == ["jq"]
