# -*- coding: utf-8 -*-
"""squaremcp.infra.sealed_secret through ansible-playbook on localhost: the manifest file (dest).

One playbook run per test scenario keeps this fast; every result is written to a JSON file the test
reads. The canary value is in every input and must appear nowhere in results, stdout or stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.fixtures.sealed_secrets import controller

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CANARY = "canary-Pl41nText-9c2d"
DIGEST_KEY = "integration-digest-key-0123456789"


def run_playbook(tmp_path, tasks, extra_vars=None, check=False, diff=True, name="play"):
    """Run ``tasks`` on localhost; return (completed process, {registered name: result})."""
    results = tmp_path / ("%s-results.json" % name)
    playbook = tmp_path / ("%s.yml" % name)
    play = [{
        "name": "sealed_secret integration",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": tasks + [{
            "name": "Save results",
            "ansible.builtin.copy": {
                "dest": str(results),
                "mode": "0600",
                "content": "{{ {%s} | to_json }}" % ", ".join(
                    "'%s': %s | default(None)" % (t["register"], t["register"]) for t in tasks if "register" in t),
            },
            "check_mode": False,
            "diff": False,
        }],
    }]
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
               ANSIBLE_DEPRECATION_WARNINGS="0", TMPDIR=str(tmp_path))
    args = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-v", str(playbook)]
    if extra_vars:
        extra = tmp_path / ("%s-vars.json" % name)
        extra.write_text(json.dumps(extra_vars))
        args += ["-e", "@%s" % extra]
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    data = json.loads(results.read_text()) if results.exists() else {}
    return proc, data


def seal_task(register, ignore_errors=False, **args):
    args = {key: value for key, value in args.items() if value is not None}
    task = {"name": "Seal %s" % register, "squaremcp.infra.sealed_secret": args, "register": register}
    if ignore_errors:
        task["ignore_errors"] = True
    return task


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("certs")
    key, cert = controller.key_pair(2048)
    _other, other_cert = controller.key_pair(2048)
    _ec, ec_cert = controller.key_pair(kind="ec")
    _old, expired_cert = controller.key_pair(2048, expired=True)
    paths = {}
    for name, pem in (("cert", cert), ("other", other_cert), ("ec", ec_cert), ("expired", expired_cert)):
        paths[name] = str(base / ("%s.pem" % name))
        with open(paths[name], "w") as handle:
            handle.write(pem)
    paths["key"] = key
    return paths


def no_canary(proc, data):
    for text in (proc.stdout, proc.stderr, json.dumps(data)):
        assert CANARY not in text


def test_dest_written_idempotent_check_mode_and_reseal(tmp_path, keys):
    dest = str(tmp_path / "hermes-secrets.yaml")
    common = dict(name="hermes-secrets", namespace="hermes", certificate_path=keys["cert"], dest=dest,
                  digest_key="{{ digest_key }}", labels={"app": "hermes"})
    relabelled = dict(common)
    relabelled["labels"] = {"app": "hermes", "tier": "api"}
    values = {"SMTP_PASSWORD": CANARY, "DATABASE_URL": "postgres://hermes:%s@db/hermes" % CANARY}
    tasks = [
        seal_task("first", string_data="{{ values }}", **common),
        {"name": "Remember the file", "ansible.builtin.stat": {"path": dest, "checksum_algorithm": "sha256"},
         "register": "stat1"},
        seal_task("second", string_data="{{ values }}", **common),
        seal_task("labels_only", string_data="{{ values }}", **relabelled),
        {"name": "Check mode with a new value", "check_mode": True,
         **seal_task("check", string_data="{{ values | combine({'SMTP_PASSWORD': 'new-' ~ canary}) }}", **common)},
        {"name": "Remember the file again", "ansible.builtin.stat": {"path": dest, "checksum_algorithm": "sha256"},
         "register": "stat2"},
        seal_task("changed", string_data="{{ values | combine({'SMTP_PASSWORD': 'new-' ~ canary}) }}", backup=True,
                  **common),
    ]
    proc, data = run_playbook(tmp_path, tasks, dict(values=values, digest_key=DIGEST_KEY, canary=CANARY))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    no_canary(proc, data)

    assert data["first"]["changed"] and data["first"]["resealed"]
    assert data["first"]["keys"] == ["DATABASE_URL", "SMTP_PASSWORD"]
    assert not data["second"]["changed"] and not data["second"]["resealed"]
    assert data["labels_only"]["changed"] and not data["labels_only"]["resealed"]
    assert data["check"]["changed"] and data["check"]["resealed"]
    assert data["stat2"]["stat"]["checksum"] != data["stat1"]["stat"]["checksum"]  # labels_only rewrote it
    assert data["check"]["diff"]["before"]["keys"] == ["DATABASE_URL", "SMTP_PASSWORD"]
    assert data["check"]["diff"]["before"]["digest"] != data["check"]["diff"]["after"]["digest"]
    assert data["changed"]["changed"] and data["changed"]["resealed"]
    assert os.path.exists(data["changed"]["backup_file"])

    with open(dest) as handle:
        manifest = yaml.safe_load(handle.read().split("\n", 2)[2])
    opened = controller.unseal(keys["key"], manifest)
    assert opened == {"SMTP_PASSWORD": ("new-" + CANARY).encode(), "DATABASE_URL": values["DATABASE_URL"].encode()}
    assert manifest["spec"]["template"]["metadata"]["labels"] == {"app": "hermes"}
    assert data["changed"]["sealed_secret"] == manifest
    assert CANARY not in open(dest).read()


def test_without_digest_key_every_run_reseals_and_warns(tmp_path, keys):
    dest = str(tmp_path / "plain.yaml")
    args = dict(name="api-key", namespace="hermes", certificate_path=keys["cert"], dest=dest,
                string_data={"API_KEY": CANARY})
    proc, data = run_playbook(tmp_path, [seal_task("one", **args), seal_task("two", **args)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    no_canary(proc, data)
    for run in ("one", "two"):
        assert data[run]["changed"] and data[run]["resealed"] and data[run]["digest"] is None
        assert any("no digest_key" in warning for warning in data[run]["warnings"])


def test_no_dest_no_apply_returns_the_manifest_only(tmp_path, keys):
    proc, data = run_playbook(tmp_path, [seal_task("only", name="a", namespace="b", certificate_path=keys["cert"],
                                                   string_data={"K": CANARY}, digest_key=DIGEST_KEY)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not data["only"]["changed"]
    assert controller.unseal(keys["key"], yaml.safe_load(data["only"]["manifest"].split("\n", 2)[2])) == {
        "K": CANARY.encode()}
    assert data["only"]["certificate"]["pem"].startswith("-----BEGIN CERTIFICATE-----")


FAILURES = [
    ("bad key name", dict(string_data={"bad key": CANARY}), "invalid Secret key name"),
    ("expired certificate", dict(certificate_path="expired"), "expired on"),
    ("EC certificate", dict(certificate_path="ec"), "only seals with RSA"),
    ("missing certificate file", dict(certificate_path="/nonexistent/cert.pem"), "does not exist"),
    ("bad base64", dict(string_data=None, data={"TOKEN": CANARY + "%%"}), "not valid base64"),
    ("too big", dict(string_data={"BIG": "{{ canary ~ ('x' * 1048576) }}"}), "over Kubernetes' limit"),
    ("short digest key", dict(digest_key="{{ canary[:8] }}"), "digest_key is shorter"),
    ("missing directory", dict(dest="/nonexistent-dir/out.yaml"), "does not exist"),
    ("bad scope annotation", dict(annotations={"sealedsecrets.bitnami.com/namespace-wide": "true"}),
     "managed by the module"),
    ("certificate and certificate_path", dict(certificate="{{ lookup('file', cert) }}"), "mutually exclusive"),
]


def test_failures_name_the_problem_leave_files_untouched_and_never_show_values(tmp_path, keys):
    dest = tmp_path / "existing.yaml"
    dest.write_text("--- {kept: true}\n")
    tasks = []
    for index, (_case, change, _message) in enumerate(FAILURES):
        args = dict(name="hermes-secrets", namespace="hermes", certificate_path=keys["cert"], dest=str(dest),
                    string_data={"SMTP_PASSWORD": CANARY}, digest_key=DIGEST_KEY)
        args.update(change)
        if args["certificate_path"] in keys:
            args["certificate_path"] = keys[args["certificate_path"]]
        tasks.append(seal_task("fail%d" % index, ignore_errors=True, **args))
    proc, data = run_playbook(tmp_path, tasks, dict(canary=CANARY, cert=keys["cert"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    no_canary(proc, data)
    for index, (case, _change, message) in enumerate(FAILURES):
        result = data["fail%d" % index]
        assert result["failed"], case
        assert message in result["msg"], (case, result["msg"])
    assert dest.read_text() == "--- {kept: true}\n"


def test_files_survive_no_log_masking_of_short_values(tmp_path, keys):
    """Ansible masks a no_log value wherever it occurs in the result: a 1-character value occurs in
    any base64 text, so the returned manifest is damaged. The files the module writes are not."""
    dest, cert_dest = tmp_path / "short.yaml", tmp_path / "cert.pem"
    proc, data = run_playbook(tmp_path, [seal_task(
        "short", name="flags", namespace="hermes", certificate_path=keys["cert"], dest=str(dest),
        certificate_dest=str(cert_dest), digest_key=DIGEST_KEY, string_data={"ENABLED": "A", "TOKEN": CANARY})])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    no_canary(proc, data)
    assert any("Use dest / certificate_dest" in warning for warning in data["short"]["warnings"])
    assert "********" in data["short"]["manifest"]  # what the warning is about
    manifest = yaml.safe_load(dest.read_text())
    assert controller.unseal(keys["key"], manifest) == {"ENABLED": b"A", "TOKEN": CANARY.encode()}
    assert cert_dest.read_text() == open(keys["cert"]).read()
