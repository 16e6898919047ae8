# -*- coding: utf-8 -*-
"""certs.run() with a real AnsibleModule on a temporary Traefik tree (directory source)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import certs
from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio
from tests.certs_factory import CertFactory, EdgeTree, snapshot
from tests.metrics import samples
from tests.metrics import value as metric


def make_module(check_mode=False):
    with patch_module_args({"_ansible_check_mode": check_mode, "_ansible_diff": True}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


@pytest.fixture(scope="module")
def factory():
    return CertFactory()


class Tree(EdgeTree):
    """``src/`` (the directory source) and ``traefik/{certs,dynamic}`` (what Traefik reads)."""

    def run(self, check_mode=False, fetch=None, now=None, **extra):
        params = self.options(**extra)
        fetch = fetch or (lambda: certs.directory_source(params["source_dir"], params.get("names")))
        return certs.run(make_module(check_mode), params, fetch, now=now)


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path)


def _expiry_metric(text, domain):
    """The expiry sample of ``domain`` as the ISO time the module reports."""
    for (name, labels), stamp in samples(text).items():
        if name == "squaremcp_certificate_expiry_timestamp_seconds" and dict(labels)["domain"] == domain:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
    return None


def _by_name(outcome):
    return {cert["name"]: cert for cert in outcome["certificates"]}


def test_first_run_installs_second_run_writes_nothing(tree, factory, monkeypatch):
    factory.valid("shop.example.com").write(str(tree.src), "shop")
    factory.valid("api.example.com", kind="rsa").write(str(tree.src), "api")
    first = tree.run()
    assert first["changed"] and not first["failed"], first["msg"]
    assert [c["action"] for c in first["certificates"]] == ["added", "added"]
    assert tree.files() == sorted([c["cert_file"] for c in first["certificates"]] + [c["key_file"] for c in first["certificates"]])
    assert tree.referenced() == sorted(c["cert_file"] for c in first["certificates"])
    for cert in first["certificates"]:
        assert (tree.certs / cert["key_file"]).stat().st_mode & 0o777 == 0o600
        assert (tree.certs / cert["cert_file"]).stat().st_mode & 0o777 == 0o644
    # the lock file (it records the holder's pid) is the only file a run always touches
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tree.certs.iterdir() if p.name != certs.LOCK_NAME}
    before_config = (tree.config.stat().st_ino, tree.config.stat().st_mtime_ns)

    def no_write(*_args, **_kwargs):
        raise AssertionError("an unchanged source must not write")

    monkeypatch.setattr(fileio, "_stage", lambda path, *a: no_write() if not path.endswith(".prom") else STAGE(path, *a))
    second = tree.run()
    assert not second["changed"] and not second["failed"]
    assert [c["action"] for c in second["certificates"]] == ["unchanged", "unchanged"]
    assert second["written"] == [] and second["removed"] == []
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tree.certs.iterdir() if p.name != certs.LOCK_NAME} == before
    assert (tree.config.stat().st_ino, tree.config.stat().st_mtime_ns) == before_config


STAGE = fileio._stage


def test_keys_are_private_from_the_first_byte(tree, factory, monkeypatch):
    factory.valid().write(str(tree.src), "shop")
    seen = []
    original = AnsibleModule.atomic_move

    def spy(self, src, dest, unsafe_writes=False, keep_dest_attrs=True):
        staged = os.stat(src).st_mode & 0o777
        original(self, src, dest, unsafe_writes=unsafe_writes, keep_dest_attrs=keep_dest_attrs)
        seen.append((os.path.basename(dest), staged, os.stat(dest).st_mode & 0o777))

    monkeypatch.setattr(AnsibleModule, "atomic_move", spy)
    tree.run()
    keys = [entry for entry in seen if entry[0].endswith(".key")]
    assert keys and all(staged == 0o600 and moved == 0o600 for _name, staged, moved in keys)


def test_renewal_replaces_files_and_config_then_prunes_old_pair(tree, factory):
    factory.valid("shop.example.com").write(str(tree.src), "shop")
    old = _by_name(tree.run())["shop"]
    factory.valid("shop.example.com").write(str(tree.src), "shop")  # renewed: new cert, same name
    renewed = tree.run()
    new = _by_name(renewed)["shop"]
    assert new["action"] == "updated" and new["cert_file"] != old["cert_file"]
    assert tree.referenced() == [new["cert_file"]]
    assert tree.files() == [new["cert_file"], new["key_file"]]
    assert sorted(os.path.basename(p) for p in renewed["removed"]) == [old["cert_file"], old["key_file"]]
    assert old["fingerprint"] in renewed["diff"]["before"] and new["fingerprint"] in renewed["diff"]["after"]


@pytest.mark.parametrize("kind", ["wrong_key", "expired", "wrong_order", "garbage", "foreign_chain", "not_yet_valid"])
def test_refused_renewal_keeps_previous_files_byte_identical(tree, factory, kind):
    factory.valid("shop.example.com").write(str(tree.src), "shop")
    factory.valid("api.example.com").write(str(tree.src), "api")
    tree.run()
    good = snapshot(str(tree.traefik))
    getattr(factory, kind)().write(str(tree.src), "shop")
    outcome = tree.run()
    assert outcome["failed"] and outcome["refused"] == ["shop"]
    shop = _by_name(outcome)["shop"]
    assert shop["action"] == "refused" and "the previous files stay in place" in shop["reason"]
    assert "shop: " in outcome["msg"]
    assert shop["installed"]["days_left"] >= 89
    assert snapshot(str(tree.traefik)) == good
    # the good certificate of the same run is still handled
    assert _by_name(outcome)["api"]["action"] == "unchanged"
    assert metric(tree.metrics.read_text(), "squaremcp_certificate_sync_failed") == 1
    assert _expiry_metric(tree.metrics.read_text(), "shop.example.com") == shop["installed"]["not_after"]


def test_refused_without_previous_is_not_installed(tree, factory):
    factory.wrong_key().write(str(tree.src), "mixed")
    factory.valid().write(str(tree.src), "shop")
    outcome = tree.run()
    assert outcome["failed"] and outcome["refused"] == ["mixed"]
    assert _by_name(outcome)["mixed"]["cert_file"] is None
    assert [name.rsplit("_", 1)[0] for name in tree.referenced()] == ["shop"]


def test_on_expiring_fail_warn_skip(tree, factory):
    factory.expiring(days=3.5).write(str(tree.src), "soon")
    failed = tree.run()
    assert failed["failed"] and failed["expiring"] == ["soon"] and "on_expiring=fail" in failed["msg"]
    assert _by_name(failed)["soon"]["action"] == "added"  # a valid certificate beats none
    assert metric(tree.metrics.read_text(), "squaremcp_certificate_sync_expiring") == 1
    warned = tree.run(on_expiring="warn")
    assert not warned["failed"] and warned["expiring"] == ["soon"] and "soon expires in 3 days" in warned["warnings"][0]
    factory.expiring(days=5.5).write(str(tree.src), "soon")
    skipped = tree.run(on_expiring="skip")
    soon = _by_name(skipped)["soon"]
    assert soon["action"] == "skipped" and soon["installed"]["days_left"] == 3 and soon["days_left"] == 5
    assert not skipped["changed"]
    assert tree.run(min_days_valid=2)["expiring"] == []


def test_prune_false_keeps_entries_of_vanished_sources(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    factory.valid("api.example.com").write(str(tree.src), "api")
    tree.run()
    for ext in ("crt", "key"):
        (tree.src / ("api." + ext)).unlink()
    kept = tree.run(prune=False)
    assert _by_name(kept)["api"]["action"] == "kept" and not kept["changed"]
    pruned = tree.run()
    assert _by_name(pruned)["api"]["action"] == "removed" and len(pruned["removed"]) == 2
    assert [name.rsplit("_", 1)[0] for name in tree.referenced()] == ["shop"]


def test_check_mode_writes_nothing_and_predicts(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    predicted = tree.run(check_mode=True)
    assert predicted["changed"] and len(predicted["written"]) == 3 and not tree.certs.exists()
    assert not tree.config.exists() and not tree.metrics.exists()
    assert "shop_" in predicted["diff"]["after"]
    tree.run()
    factory.valid().write(str(tree.src), "shop")
    state = snapshot(str(tree.root))
    renewal = tree.run(check_mode=True)
    assert renewal["changed"] and len(renewal["removed"]) == 2
    assert snapshot(str(tree.root)) == state


def test_crash_between_files_and_config_keeps_old_config_then_recovers(tree, factory, monkeypatch):
    factory.valid().write(str(tree.src), "shop")
    tree.run()
    referenced = tree.referenced()
    factory.valid().write(str(tree.src), "shop")
    calls = []
    real = fileio.write_files

    def fail_on_config(module, files, backup=False):
        calls.append([f["path"] for f in files])
        if any(f["path"] == str(tree.config) for f in files):
            raise fileio.FileError("disk full (simulated)")
        return real(module, files, backup)

    monkeypatch.setattr(fileio, "write_files", fail_on_config)
    outcome = tree.run()
    assert outcome["failed"] and "disk full" in outcome["msg"] and "still references the previous files" in outcome["msg"]
    assert tree.referenced() == referenced
    for name in referenced:  # the referenced pair is intact
        assert (tree.certs / name).exists() and (tree.certs / name.replace(".crt", ".key")).exists()
    assert len(tree.files()) == 4  # new pair written, old pair not pruned
    monkeypatch.setattr(fileio, "write_files", real)
    recovered = tree.run()
    assert not recovered["failed"] and len(tree.files()) == 2 and tree.referenced() != referenced


def test_stale_temporary_files_are_removed(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    tree.run()
    stale = tree.certs / ".edge_shop_0123456789abcdef.key.abc123.tmp"
    stale.write_bytes(b"left by a killed run")
    unrelated = tree.certs / "notes.txt"
    unrelated.write_text("not ours")
    outcome = tree.run()
    assert str(stale) in outcome["removed"] and not stale.exists() and unrelated.exists()


def test_source_failure_writes_failed_metrics_from_installed_state(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    tree.run()
    success = certs.previous_last_success(tree.metrics.read_text())
    state = snapshot(str(tree.traefik))

    def broken():
        raise certs.SyncError("listing TLS secrets failed: HTTP 500 (simulated); nothing was changed")

    time.sleep(0.01)
    outcome = tree.run(fetch=broken)
    assert outcome["failed"] and "HTTP 500" in outcome["msg"] and outcome["report"].splitlines()[1].startswith("  error:")
    metrics = tree.metrics.read_text()
    assert metric(metrics, "squaremcp_certificate_sync_failed") == 1
    assert certs.previous_last_success(metrics) == success
    assert _expiry_metric(metrics, "shop.example.com") == _by_name(tree.run())["shop"]["not_after"]
    assert snapshot(str(tree.traefik)) == state


def test_corrupt_config_stops_before_any_write(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    tree.config.write_text("tls: [\n")
    state = snapshot(str(tree.traefik))
    with pytest.raises(certs.SyncError, match="not valid YAML"):
        tree.run()
    assert {k: v for k, v in snapshot(str(tree.traefik)).items() if not k.endswith(".lock")} == state


def _cannot_start(case, tree, monkeypatch, held):
    """Cause ``case`` (a way a run fails before it can read the installed state); return (options, message)."""
    if case == "corrupt-certificates-yml":
        tree.config.write_text("tls: [\n")
        return {}, "is not valid YAML"
    if case == "bad-option":
        return {"min_days_valid": -1}, "min_days_valid must be 0 or more"
    if case == "no-selection":
        return {"source": "kubernetes", "namespaces": []}, "no selection"
    if case == "dest-dir-under-a-file":
        (tree.root / "a-file").write_text("x")
        return {"dest_dir": str(tree.root / "a-file" / "certs"), "config_path": str(tree.config)}, "cannot create dest_dir"
    if case == "missing-library":
        monkeypatch.setattr(certs, "HAS_YAML", False)
        return {}, "the Python library PyYAML is missing"
    if case == "lock-timeout":
        held.append(fileio.FileLock(str(tree.certs / certs.LOCK_NAME)).acquire())  # flock: another open file conflicts
        return {"lock_timeout": 0.2}, "another run holds the lock"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["corrupt-certificates-yml", "bad-option", "no-selection", "dest-dir-under-a-file",
                                  "missing-library", "lock-timeout"])
def test_run_that_cannot_start_still_writes_failed_metrics_and_report(tree, factory, monkeypatch, case):
    factory.valid("shop.example.com").write(str(tree.src), "shop")
    report = tree.root / "report.txt"
    assert not tree.run(report_path=str(report))["failed"]
    good_metrics = tree.metrics.read_text()
    held = []
    extra, fragment = _cannot_start(case, tree, monkeypatch, held)
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    try:
        with pytest.raises(certs.SyncError, match=fragment):
            tree.run(now=later, report_path=str(report), **extra)
    finally:
        for lock in held:
            lock.release()
    # failed 1 and this run's time; expiry per certificate, counts and last success carried over
    expected = dict(samples(good_metrics))
    expected[("squaremcp_certificate_sync_failed", ())] = 1
    expected[("squaremcp_certificate_sync_last_run_timestamp_seconds", ())] = later.timestamp()
    assert samples(tree.metrics.read_text()) == expected
    assert "FAILED" in report.read_text() and fragment in report.read_text()


def test_run_that_cannot_start_in_check_mode_writes_nothing(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    tree.run()
    tree.config.write_text("tls: [\n")
    state = snapshot(str(tree.root))
    with pytest.raises(certs.SyncError, match="not valid YAML"):
        tree.run(check_mode=True)
    assert snapshot(str(tree.root)) == state


def test_unwritable_metrics_path_is_named_in_the_error(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    with pytest.raises(certs.SyncError, match=r"min_days_valid must be 0 or more.*\(metrics not written: directory .*/nope "
                                              r"does not exist"):
        tree.run(min_days_valid=-1, metrics_path=str(tree.root / "nope" / "m.prom"))


def test_empty_source_refused_state_byte_identical_then_allowed(tree, factory):
    for name in ("shop", "api"):
        factory.valid("%s.example.com" % name).write(str(tree.src), name)
    tree.run()
    good = snapshot(str(tree.traefik))
    for path in list(tree.src.iterdir()):
        path.unlink()
    refused = tree.run()
    assert refused["failed"] and not refused["changed"] and "returned no certificate while 2 certificate(s) are installed" in refused["msg"]
    assert snapshot(str(tree.traefik)) == good
    metrics = tree.metrics.read_text()
    assert metric(metrics, "squaremcp_certificate_sync_failed") == 1 and metric(metrics, "squaremcp_certificate_sync_certificates") == 2
    assert _expiry_metric(metrics, "shop.example.com") is not None
    emptied = tree.run(allow_empty=True)
    assert not emptied["failed"] and emptied["changed"] and tree.files() == [] and tree.referenced() == []


def test_ca_secret_installed_by_an_earlier_version_is_removed(tree, factory):
    factory.valid("shop.example.com").write(str(tree.src), "shop")
    factory.valid("issuer.example.com").write(str(tree.src), "issuer")
    tree.run()
    factory.ca().write(str(tree.src), "issuer")  # what the old code installed: a CA with its key
    outcome = tree.run()
    issuer = _by_name(outcome)["issuer"]
    assert not outcome["failed"] and issuer["action"] == "skipped" and "(its previously installed files are removed)" in issuer["reason"]
    assert [name.split("_")[0] for name in tree.files()] == ["shop", "shop"] and len(outcome["removed"]) == 2
    assert "1 skipped (never installed)" in outcome["msg"]
    ca_key = b"".join(factory.ca().key_pem.splitlines()[1:-1])
    assert all(ca_key not in (tree.certs / name).read_bytes() for name in tree.files())


def test_missing_config_directory_fails_before_writing_files(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    outcome = tree.run(config_path=str(tree.root / "missing" / "certificates.yml"))
    assert outcome["failed"] and "does not exist: create it first" in outcome["msg"]
    assert not tree.certs.exists()  # the directory this failed run created is gone again, lock file and all


def test_lock_held_by_another_process(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    tree.certs.mkdir(parents=True)
    lock = str(tree.certs / certs.LOCK_NAME)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print('locked', flush=True); time.sleep(30)",
         lock], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(certs.SyncError, match=r"another run holds the lock .*\(pid %d\)" % holder.pid):
            tree.run(lock_timeout=1)
        assert tree.files() == [] and not tree.config.exists()
    finally:
        holder.kill()
        holder.wait()
    assert not tree.run()["failed"]


def test_results_never_carry_key_material(tree, factory):
    pairs = {"shop": factory.valid(), "mixed": factory.wrong_key(), "bad": factory.wrong_order()}
    for name, pair in pairs.items():
        pair.write(str(tree.src), name)
    outcome = tree.run()
    blob = json.dumps(outcome) + tree.config.read_text() + tree.metrics.read_text()
    for pair in pairs.values():
        body = b"".join(pair.key_pem.splitlines()[1:-1]).decode()
        for start in range(0, len(body) - 16, 16):
            assert body[start:start + 16] not in blob


def test_default_certificate_written_and_changed(tree, factory):
    factory.valid("a.example.com").write(str(tree.src), "a")
    factory.valid("b.example.com").write(str(tree.src), "b")
    tree.run(default_certificate="a")
    data = yaml.safe_load(tree.config.read_text())
    assert os.path.basename(data["tls"]["stores"]["default"]["defaultCertificate"]["certFile"]).startswith("a_")
    switched = tree.run(default_certificate="b")
    assert switched["changed"] and switched["written"] == [str(tree.config)]


def test_report_file_is_written_every_run_without_counting_as_change(tree, factory):
    factory.valid().write(str(tree.src), "shop")
    report = tree.root / "report.txt"
    first = tree.run(report_path=str(report))
    assert report.read_text() == first["report"] and "1 added" in first["report"]
    second = tree.run(report_path=str(report))
    assert not second["changed"] and report.read_text() == second["report"] and "1 unchanged" in second["report"]
    assert not tree.run(check_mode=True, report_path=str(tree.root / "check.txt"))["changed"]
    assert not (tree.root / "check.txt").exists()
