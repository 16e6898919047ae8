# -*- coding: utf-8 -*-
"""The host role's daemon.json validator (roles/host/files/docker_daemon_json_check.py)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest
import yaml

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "host" / "files" / "docker_daemon_json_check.py"
_SPEC = importlib.util.spec_from_file_location("docker_daemon_json_check", SCRIPT)
check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check)

DEFAULTS_FILE = SCRIPT.parents[1] / "defaults" / "main.yml"
# The role's daemon.json defaults, as dockerd receives them.
ROLE_DEFAULTS = yaml.safe_load(DEFAULTS_FILE.read_text())["host_docker_daemon_options"]


def problems(**changes):
    config = dict(ROLE_DEFAULTS, **{key.replace("_", "-"): value for key, value in changes.items()})
    return check.check_config(config)


def test_role_defaults_pass():
    assert ROLE_DEFAULTS["metrics-addr"] == "127.0.0.1:9323" and ROLE_DEFAULTS["live-restore"] is True
    assert check.check_config(ROLE_DEFAULTS) == []


def test_empty_object_passes():
    assert check.check_text("{}") == []


@pytest.mark.parametrize("text, expected", [
    ('{"live-restore": true,}', "not valid JSON"),
    ("", "not valid JSON"),
    ("[]", "top level must be a JSON object"),
])
def test_syntax_and_shape(text, expected):
    found = check.check_text(text)
    assert len(found) == 1 and expected in found[0]


def test_unknown_key_is_refused_with_its_name():
    found = problems(metrics_address="127.0.0.1:9323")
    assert len(found) == 1 and "'metrics-address'" in found[0] and "unknown key" in found[0]


@pytest.mark.parametrize("key, value, kind", [
    ("live-restore", "true", "a boolean"),
    ("live-restore", 1, "a boolean"),
    ("shutdown-timeout", True, "an integer"),
    ("mtu", 1500.5, "an integer"),
    ("metrics-addr", 9323, "a string"),
    ("dns", "1.1.1.1", "a list of strings"),
    ("features", {"buildkit": "true"}, "an object of booleans"),
])
def test_value_types(key, value, kind):
    found = check.check_config({key: value})
    assert found == ["%r must be %s, not %s" % (key, kind, json.dumps(value))]


def test_log_opts_values_must_be_strings():
    found = problems(log_opts={"max-size": "10m", "max-file": 5})
    assert len(found) == 1 and "'log-opts' must be an object of strings" in found[0]


@pytest.mark.parametrize("opts, expected", [
    ({"max-size": "ten megs"}, "max-size 'ten megs'"),
    ({"max-file": "0"}, "max-file '0'"),
    ({"max-file": "three"}, "max-file 'three'"),
    ({"compress": "yes"}, "compress 'yes'"),
    ({"max-sise": "10m"}, "'max-sise' is not an option of the json-file log driver"),
])
def test_log_opts_formats(opts, expected):
    found = problems(log_opts=opts)
    assert len(found) == 1 and expected in found[0]


@pytest.mark.parametrize("size", ["10m", "1g", "512k", "100", "1.5MB", "10 MiB"])
def test_log_sizes_docker_accepts(size):
    assert problems(log_opts={"max-size": size, "max-file": "3", "compress": "true"}) == []


def test_other_log_drivers_keep_their_own_options():
    assert problems(log_driver="journald", log_opts={"tag": "{{.Name}}", "labels": "app"}) == []
    found = problems(log_driver="local", log_opts={"tag": "x"})
    assert len(found) == 1 and "local log driver" in found[0]


@pytest.mark.parametrize("addr", ["127.0.0.1:9323", "0.0.0.0:9323", ":9323", "[::1]:9323", "localhost:9323"])
def test_metrics_addr_valid(addr):
    assert problems(metrics_addr=addr) == []


@pytest.mark.parametrize("addr, expected", [
    ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:0", "HOST:PORT"),
    ("127.0.0.1:70000", "HOST:PORT"),
    ("::1:9323", "brackets"),
    ("[::zz]:9323", "not an IPv6 address"),
])
def test_metrics_addr_invalid(addr, expected):
    found = problems(metrics_addr=addr)
    assert len(found) == 1 and expected in found[0]


def test_enums():
    assert problems(log_level="info") == []
    found = problems(log_level="verbose")
    assert len(found) == 1 and "'log-level' must be one of" in found[0]


def test_hosts_clashes_with_the_service_flag():
    found = problems(hosts=["unix:///var/run/docker.sock"])
    assert len(found) == 1 and "-H fd://" in found[0] and "drop-in" in found[0]


def test_address_pools():
    assert problems(default_address_pools=[{"base": "10.200.0.0/16", "size": 24}]) == []
    found = problems(default_address_pools=[
        {"base": "10.200.0.0/16", "size": 8},
        {"base": "nonsense", "size": 24},
        {"base": "10.201.0.0/16", "size": 24, "gateway": "x"},
    ])
    assert found == [
        "default-address-pools[0]: size 8 must be an integer between 16 and 32",
        "default-address-pools[1]: base 'nonsense' is not a CIDR such as 10.200.0.0/16",
        "default-address-pools[2]: unknown key 'gateway' (only base and size)",
    ]


def test_every_problem_is_reported_at_once():
    found = check.check_config({"live-restore": "yes", "bogus": 1, "debug": 0})
    assert len(found) == 3


def run_cli(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_cli_exit_codes(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(ROLE_DEFAULTS))
    bad = tmp_path / "bad.json"
    bad.write_text('{"live-restore": "true", "log-opts": {"max-file": 3}}')
    assert run_cli(str(good)).returncode == 0
    result = run_cli(str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "%s: 'live-restore' must be a boolean, not \"true\"" % bad,
        "%s: 'log-opts' must be an object of strings, not {\"max-file\": 3}" % bad,
    ]
    assert run_cli().returncode == 2
    assert run_cli(str(tmp_path / "missing.json")).returncode == 2
