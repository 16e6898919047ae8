# -*- coding: utf-8 -*-
"""module_utils/certs.py: parsing, checks, plan, rendering (pure functions, no files but tmp_path)."""

from __future__ import annotations

import datetime
import os

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from ansible_collections.squaremcp.infra.plugins.module_utils import _cert_inspect as cert_inspect
from ansible_collections.squaremcp.infra.plugins.module_utils import _cert_sources as cert_sources
from ansible_collections.squaremcp.infra.plugins.module_utils import certs
from tests.certs_factory import GARBAGE, CertFactory, Pair, cert_pem, key_pem
from tests.metrics import samples
from tests.metrics import value as metric

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def factory():
    return CertFactory(now=NOW)


# ------------------------------------------------------------------------------------------
# inspect_pair: every kind of certificate the issue names


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_valid_pair_passes_and_is_described(factory, kind):
    pair = factory.valid("shop.example.com", kind=kind)
    inspected = certs.inspect_pair(pair.crt, pair.key_pem, NOW)
    info = inspected.info
    assert info["domains"] == ["shop.example.com", "www.shop.example.com"]
    assert info["days_left"] == 90
    assert info["not_after"] == "2027-02-23T12:00:00Z"
    assert info["fingerprint"] == pair.fingerprint
    assert info["public_key_type"] == kind.upper()
    assert info["issuer"] == "CN=SquareMCP Test Intermediate"
    # normalised output: the full chain, and an unencrypted PKCS#8 key for the same public key
    assert inspected.cert_bytes == pair.crt
    assert inspected.key_bytes.startswith(b"-----BEGIN PRIVATE KEY-----")
    reloaded = serialization.load_pem_private_key(inspected.key_bytes, None)
    assert cert_inspect.key_matches(pair.leaf, reloaded)


def test_traditional_key_encoding_gives_the_same_files(factory):
    pair = factory.valid(kind="rsa")
    pkcs1 = certs.inspect_pair(pair.crt, key_pem(pair.key, traditional=True), NOW)
    pkcs8 = certs.inspect_pair(pair.crt, key_pem(pair.key), NOW)
    assert pkcs1.key_bytes == pkcs8.key_bytes and pkcs1.digest == pkcs8.digest


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_wrong_key_is_refused(factory, kind):
    pair = factory.wrong_key(kind=kind)
    with pytest.raises(certs.CertError, match="private key does not match the certificate"):
        certs.inspect_pair(pair.crt, pair.key_pem, NOW)


def test_key_of_other_algorithm_is_refused(factory):
    pair = factory.valid(kind="ecdsa")
    with pytest.raises(certs.CertError, match="does not match"):
        certs.inspect_pair(pair.crt, key_pem(factory.key("rsa")), NOW)


def test_leaf_not_first_is_refused_with_its_position(factory):
    pair = factory.wrong_order()
    with pytest.raises(certs.CertError, match="not leaf-first.*number 2 of 2"):
        certs.inspect_pair(pair.crt, pair.key_pem, NOW)


def test_chain_with_an_issuer_that_did_not_sign_is_refused(factory):
    pair = factory.foreign_chain()
    with pytest.raises(certs.CertError, match="certificate 1 .* is not issued by certificate 2"):
        certs.inspect_pair(pair.crt, pair.key_pem, NOW)


def test_full_chain_with_root_passes(factory):
    pair = factory.valid()
    crt = pair.crt + cert_pem(factory.root)
    assert certs.inspect_pair(crt, pair.key_pem, NOW).info["domains"][0] == "shop.example.com"


def test_unrelated_intermediate_is_refused(factory):
    pair = factory.valid()
    crt = cert_pem(pair.leaf, factory.root)  # root did not issue the leaf
    with pytest.raises(certs.CertError, match="not issued by"):
        certs.inspect_pair(crt, pair.key_pem, NOW)


class _WithoutDirectVerify(object):
    """A certificate as cryptography < 40 (Debian bookworm's 38) shows it: no verify_directly_issued_by."""

    def __init__(self, cert):
        self._cert = cert

    def __getattr__(self, name):
        if name == "verify_directly_issued_by":
            raise AttributeError(name)
        return getattr(self._cert, name)


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_signature_check_without_verify_directly_issued_by(kind):
    factory = CertFactory(now=NOW)
    issuer_key = factory.key(kind, fresh=True)
    issuer = factory._sign(cert_inspect.x509.Name([]), cert_inspect.x509.Name([]), issuer_key.public_key(), issuer_key, -1, 10, ca=True)
    leaf = factory._sign(cert_inspect.x509.Name([]), issuer.subject, factory.key().public_key(), issuer_key, -1, 10)
    other_key = factory.key(kind, fresh=True)
    impostor = factory._sign(cert_inspect.x509.Name([]), cert_inspect.x509.Name([]), other_key.public_key(), other_key, -1, 10, ca=True)
    assert cert_inspect.issued_by(_WithoutDirectVerify(leaf), issuer)
    assert not cert_inspect.issued_by(_WithoutDirectVerify(leaf), impostor)


def test_expired_is_refused(factory):
    pair = factory.expired()
    with pytest.raises(certs.CertError, match=r"expired on 2026-11-23T12:00:00Z \(2 days ago\)"):
        certs.inspect_pair(pair.crt, pair.key_pem, NOW)


def test_not_yet_valid_is_refused(factory):
    pair = factory.not_yet_valid()
    with pytest.raises(certs.CertError, match="not valid before 2026-11-30"):
        certs.inspect_pair(pair.crt, pair.key_pem, NOW)


def test_expiring_passes_inspection_with_its_days(factory):
    pair = factory.expiring(days=3.5)
    assert certs.inspect_pair(pair.crt, pair.key_pem, NOW).info["days_left"] == 3


@pytest.mark.parametrize("crt, message", [
    (GARBAGE, "not valid base64"),
    (b"", "holds no PEM block"),
    (b"hello world", "holds no PEM block"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot be parsed"),
])
def test_garbage_certificate_is_refused(factory, crt, message):
    with pytest.raises(certs.CertError, match=message):
        certs.inspect_pair(crt, factory.valid().key_pem, NOW)


def test_text_around_blocks_and_foreign_blocks_are_refused(factory):
    pair = factory.valid()
    with pytest.raises(certs.CertError, match="text outside its PEM blocks"):
        certs.inspect_pair(b"junk\n" + pair.crt, pair.key_pem, NOW)
    with pytest.raises(certs.CertError, match="block 2 is a PRIVATE KEY"):
        certs.inspect_pair(cert_pem(pair.leaf) + pair.key_pem, pair.key_pem, NOW)


def test_unusable_keys_are_refused_without_echoing_them(factory):
    pair = factory.valid()
    encrypted = pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(certs.CertError, match="tls.key is encrypted"):
        certs.inspect_pair(pair.crt, encrypted, NOW)
    with pytest.raises(certs.CertError, match="exactly one PEM private key"):
        certs.inspect_pair(pair.crt, pair.crt, NOW)
    broken = pair.key_pem[:60] + b"AAAA" + pair.key_pem[64:]
    with pytest.raises(certs.CertError) as caught:
        certs.inspect_pair(pair.crt, broken, NOW)
    body = b"".join(pair.key_pem.splitlines()[1:-1]).decode()
    assert body[:20] not in str(caught.value)


# ------------------------------------------------------------------------------------------
# describe / cert_info


def test_cert_info_describes_leaf_and_counts_chain(factory):
    pair = factory.valid("api.example.com")
    info = cert_inspect.cert_info(pair.crt, NOW)
    assert info["subject"] == "CN=api.example.com"
    assert info["subject_alt_name"] == ["DNS:api.example.com", "DNS:www.api.example.com"]
    assert info["chain_length"] == 2 and info["expired"] is False and info["self_signed"] is False
    assert info["not_after_timestamp"] == int((NOW + datetime.timedelta(days=90)).timestamp())


def test_common_name_is_the_domain_without_san():
    factory = CertFactory(now=NOW)
    builder_pair = factory.issue(["legacy.example.com"])
    leaf = factory._sign(builder_pair.leaf.subject, factory.intermediate.subject, builder_pair.key.public_key(),
                         factory.inter_key, -1, 30)
    assert certs.describe(leaf, NOW)["domains"] == ["legacy.example.com"]


def test_days_left_truncates_toward_zero():
    assert cert_inspect.days_left(NOW + datetime.timedelta(days=2, hours=23), NOW) == 2
    assert cert_inspect.days_left(NOW - datetime.timedelta(hours=12), NOW) == 0
    assert cert_inspect.days_left(NOW - datetime.timedelta(days=1, hours=1), NOW) == -1


# ------------------------------------------------------------------------------------------
# directory source


def test_directory_source_pairs_and_problems(factory, tmp_path):
    factory.valid().write(str(tmp_path), "shop")
    (tmp_path / "lonely.crt").write_bytes(factory.valid().crt)
    (tmp_path / "bad name.crt").write_bytes(b"x")
    (tmp_path / "bad name.key").write_bytes(b"x")
    (tmp_path / "README").write_text("ignored")
    items = {item.name: item for item in certs.directory_source(str(tmp_path))}
    assert sorted(items) == ["bad name", "lonely", "shop"]
    assert items["shop"].problem is None and items["shop"].labels == ("shop.crt", "shop.key")
    assert "lonely.key is missing" in items["lonely"].problem
    assert "rename the pair" in items["bad name"].problem


def test_directory_source_names_filter_and_not_found(factory, tmp_path):
    factory.valid().write(str(tmp_path), "shop")
    factory.valid().write(str(tmp_path), "other")
    items = certs.directory_source(str(tmp_path), ["shop", "ghost"])
    assert [(i.name, i.problem is None) for i in items] == [("shop", True), ("ghost", False)]
    assert "not found in %s" % tmp_path in items[1].problem


def test_directory_source_missing_dir(tmp_path):
    with pytest.raises(certs.SyncError, match="is not a directory"):
        certs.directory_source(str(tmp_path / "nope"))


# ------------------------------------------------------------------------------------------
# installed state, plan, config rendering


def _options(tmp_path, **extra):
    params = {"dest_dir": str(tmp_path / "traefik" / "certs"), "container_cert_dir": "/etc/traefik/certs", "namespaces": ["edge"]}
    params.update(extra)
    return certs.Options(params)


def test_options_defaults(tmp_path):
    options = _options(tmp_path)
    assert options.config_path == str(tmp_path / "traefik" / "dynamic" / "certificates.yml")
    assert options.lock_file == str(tmp_path / "traefik" / "certs" / certs.LOCK_NAME)
    assert (options.min_days_valid, options.on_expiring, options.prune) == (14, "fail", True)
    assert _options(tmp_path, config_path="/x/c.yml").config_path == "/x/c.yml"
    with pytest.raises(certs.SyncError, match="on_expiring must be one of"):
        _options(tmp_path, on_expiring="ignore")


@pytest.mark.parametrize("scope", [{"namespaces": ["edge"]}, {"label_selector": "edge=yes"}, {"names": ["shop-tls"]},
                                   {"all_namespaces": True}, {"all_namespaces": True, "label_selector": "edge=yes"}])
def test_kubernetes_source_needs_an_explicit_selection(tmp_path, scope):
    base = {"dest_dir": str(tmp_path / "certs")}
    certs.Options(dict(base, **scope))
    with pytest.raises(certs.SyncError, match=r"no selection: set namespaces .* or set all_namespaces=true"):
        certs.Options(dict(base, namespaces=[], label_selector="", names=[], all_namespaces=False))
    with pytest.raises(certs.SyncError, match="all_namespaces=true and namespaces exclude each other"):
        certs.Options(dict(base, namespaces=["edge"], all_namespaces=True))
    assert certs.Options(dict(base, source="directory", source_dir=str(tmp_path))).selection() == "source_dir %s" % tmp_path
    with pytest.raises(certs.SyncError, match="max_prune_ratio must be between 0 and 1"):
        certs.Options(dict(base, max_prune_ratio=1.5, **scope))


def _item(pair, name, namespace="edge"):
    return certs.SourceItem(namespace, name, pair.crt, pair.key_pem)


def test_ca_certificate_with_its_key_is_skipped_never_installed(factory, tmp_path):
    ca = factory.ca()
    with pytest.raises(certs.CertSkipped, match=r"a CA certificate \(CN=SquareMCP Test Intermediate, basicConstraints CA:TRUE\)"):
        certs.inspect_pair(ca.crt, ca.key_pem, NOW)
    # a leaf behind its issuer is still "not leaf-first" (refused), not a CA secret
    with pytest.raises(certs.CertError, match="not leaf-first") as caught:
        certs.inspect_pair(factory.wrong_order().crt, factory.wrong_order().key_pem, NOW)
    assert not isinstance(caught.value, certs.CertSkipped)
    plan = certs.make_plan([_item(ca, "issuer-ca"), _item(factory.valid(), "shop")], certs.Installed(), _options(tmp_path), NOW)
    result = {r["name"]: r for r in plan.results}
    assert result["issuer-ca"]["action"] == "skipped" and result["issuer-ca"]["cert_file"] is None
    assert list(plan.served) == ["edge_shop"] and all("issuer-ca" not in f["path"] for f in plan.files)
    assert "issuer-ca" not in plan.config_text
    assert certs._expiring(plan, _options(tmp_path, min_days_valid=9999)) == ["edge/shop"]  # a skipped CA is never "expiring"


def test_sealed_secrets_key_is_skipped_by_label_without_decoding(factory):
    class Meta(object):
        namespace, name = "kube-system", "sealed-secrets-keyx7k2p"
        labels = {certs.SEALED_SECRETS_KEY_LABEL: "active"}

    class Secret(object):
        metadata = Meta()
        data = factory.sealing_key_secret()["data"]

    item = cert_sources._secret_item(Secret())
    assert item.excluded.startswith("the Sealed Secrets controller's private sealing key") and item.problem is None
    assert item.key_pem is None and item.cert_pem is None
    Meta.labels = {}
    assert cert_sources._secret_item(Secret()).excluded is None  # the same pair unlabelled is an ordinary certificate


def test_prune_guard_refuses_an_empty_source_and_large_drops(factory, tmp_path):
    pairs = {name: factory.valid("%s.example.com" % name) for name in "abcd"}
    options = _options(tmp_path)
    installed = certs.parse_installed(certs.make_plan([_item(p, n) for n, p in pairs.items()], certs.Installed(), options, NOW).config_text)
    with pytest.raises(certs.SyncError, match=r"the source \(namespaces edge\) returned no certificate while 4 certificate\(s\) "
                                              r"are installed \(edge/a, edge/b, edge/c, edge/d\).*allow_empty=true"):
        certs.make_plan([], installed, options, NOW)
    with pytest.raises(certs.SyncError, match="returned no certificate"):  # only things that are never installed
        certs.make_plan([certs.SourceItem("kube-system", "k", excluded="sealing key")], installed, options, NOW)
    emptied = certs.make_plan([], installed, _options(tmp_path, allow_empty=True), NOW)
    assert [r["action"] for r in emptied.results] == ["removed"] * 4 and emptied.served == {}
    with pytest.raises(certs.SyncError, match=r"3 of the 4 installed certificates are no longer in the source .*edge/b, edge/c, "
                                              r"edge/d; removing more than max_prune_ratio 0.5"):
        certs.make_plan([_item(pairs["a"], "a")], installed, options, NOW)
    half = certs.make_plan([_item(pairs["a"], "a"), _item(pairs["b"], "b")], installed, options, NOW)
    assert sorted(r["action"] for r in half.results) == ["removed", "removed", "unchanged", "unchanged"]
    assert len(certs.make_plan([_item(pairs["a"], "a")], installed, _options(tmp_path, max_prune_ratio=1), NOW).served) == 1
    kept = certs.make_plan([], installed, _options(tmp_path, prune=False), NOW)  # nothing would be removed: no guard
    assert {r["action"] for r in kept.results} == {"kept"}


def test_plan_renders_stable_sorted_config(factory, tmp_path):
    options = _options(tmp_path, default_certificate="edge/b")
    pairs = {"b": factory.valid("b.example.com"), "a": factory.valid("a.example.com", kind="rsa")}
    items = [_item(pairs["b"], "b"), _item(pairs["a"], "a")]
    plan = certs.make_plan(items, certs.Installed(), options, NOW)
    again = certs.make_plan(list(reversed(items)), certs.Installed(), options, NOW)
    assert plan.config_text == again.config_text
    data = yaml.safe_load(plan.config_text)
    listed = data["tls"]["certificates"]
    assert [os.path.basename(e["certFile"]).rsplit("_", 1)[0] for e in listed] == ["edge_a", "edge_b"]
    assert all(e["certFile"].startswith("/etc/traefik/certs/edge_") and e["keyFile"].endswith(".key") for e in listed)
    assert data["tls"]["stores"]["default"]["defaultCertificate"] == listed[1]
    assert [r["action"] for r in plan.results] == ["added", "added"]
    assert sorted(f["mode"] for f in plan.files) == ["0600", "0600", "0644", "0644"]
    assert pairs["a"].fingerprint in plan.config_text  # the comment names what is installed


def test_plan_against_installed_state(factory, tmp_path):
    options = _options(tmp_path)
    keep, renew, gone = factory.valid("keep.example.com"), factory.valid("renew.example.com"), factory.valid("gone.example.com")
    first = certs.make_plan([_item(keep, "keep"), _item(renew, "renew"), _item(gone, "gone")], certs.Installed(), options, NOW)
    installed = certs.parse_installed(first.config_text)
    renewed = factory.valid("renew.example.com")
    second = certs.make_plan([_item(keep, "keep"), _item(renewed, "renew")], installed, options, NOW)
    actions = {r["name"]: r["action"] for r in second.results}
    assert actions == {"keep": "unchanged", "renew": "updated", "gone": "removed"}
    kept = certs.make_plan([_item(keep, "keep")], installed, _options(tmp_path, prune=False), NOW)
    # prune=false keeps entries whose source is gone, but only while their files are readable
    assert {r["name"]: r["action"] for r in kept.results}["gone"] == "kept"
    assert "gone" not in [entry["name"] for entry in kept.served.values()]


def test_read_installed(tmp_path, factory):
    path = tmp_path / "certificates.yml"
    assert certs.read_installed(str(path)).entries == {}
    options = _options(tmp_path, default_certificate="a")
    plan = certs.make_plan([_item(factory.valid(), "a")], certs.Installed(), options, NOW)
    manual = "  certificates:\n    - certFile: /x/manual.crt\n      keyFile: /x/manual.key\n"
    path.write_text(plan.config_text.replace("  certificates:\n", manual))
    installed = certs.read_installed(str(path))
    assert list(installed.entries) == ["edge_a"] and installed.foreign == ["tls.certificates[0]"]
    assert installed.default_key == "edge_a"
    # content the module did not write is never dropped: the plan refuses, naming it
    with pytest.raises(certs.SyncError, match=r"holds content not written by this module \(tls.certificates\[0\]\)"):
        certs.make_plan([_item(factory.valid(), "a")], installed, options, NOW)
    path.write_text(plan.config_text + "  options:\n    modern: {minVersion: VersionTLS13}\nhttp: {}\n")
    assert certs.read_installed(str(path)).foreign == ["top-level key http", "tls.options"]
    path.write_text("tls: [unclosed\n")
    with pytest.raises(certs.SyncError, match="is not valid YAML.*written only by this module"):
        certs.read_installed(str(path))
    path.write_text("http: {}\n")
    with pytest.raises(certs.SyncError, match="has no tls.certificates list"):
        certs.read_installed(str(path))


def test_default_certificate_must_exist(factory, tmp_path):
    with pytest.raises(certs.SyncError, match="default_certificate edge/nope is not among"):
        certs.make_plan([_item(factory.valid(), "a")], certs.Installed(), _options(tmp_path, default_certificate="edge/nope"), NOW)


def test_empty_config_is_valid_traefik_yaml(tmp_path):
    text = certs.render_config({}, "/certs")
    assert yaml.safe_load(text) == {"tls": {"certificates": []}}


def test_config_comment_cannot_inject_yaml(factory, tmp_path):
    pair = factory.issue(["evil.example.com\nhttp:\n  routers: {}"])
    plan = certs.make_plan([_item(pair, "evil")], certs.Installed(), _options(tmp_path), NOW)
    assert list(yaml.safe_load(plan.config_text)) == ["tls"]


def test_managed_file_names():
    assert certs.MANAGED_FILE.match("edge_shop-tls_0123456789abcdef.crt")
    assert certs.MANAGED_FILE.match("shop.example.com_0123456789abcdef.key")
    assert not certs.MANAGED_FILE.match("shop.crt")
    assert not certs.MANAGED_FILE.match(certs.LOCK_NAME)
    assert certs.STALE_TEMP.match(".edge_shop_0123456789abcdef.key.k2j3h4.tmp")
    assert certs.split_key("edge_shop_tls", True) == ("edge", "shop_tls")
    assert certs.split_key("my_file", False) == ("", "my_file")


# ------------------------------------------------------------------------------------------
# metrics and report


def test_metrics_render_values_and_escaping(factory, tmp_path):
    pair = factory.valid("shop.example.com")
    served = {"edge_shop": {"files": {}, "info": certs.describe(pair.leaf, NOW), "namespace": "ed\"ge", "name": "shop"}}
    text = certs.render_metrics(served, ["edge/soon"], [], False, 14, NOW)
    expiry = int(pair.leaf.not_valid_after_utc.timestamp())
    assert metric(text, "squaremcp_certificate_expiry_timestamp_seconds", domain="shop.example.com", name="shop",
                  namespace='ed"ge') == expiry
    assert 'namespace="ed\\"ge"' in text  # escaped in the exposition
    assert metric(text, "squaremcp_certificate_sync_min_valid_seconds") == 1209600
    assert metric(text, "squaremcp_certificate_sync_expiring") == 1
    assert metric(text, "squaremcp_certificate_sync_failed") == 0
    assert metric(text, "squaremcp_certificate_sync_last_success_timestamp_seconds") == NOW.timestamp()
    failed = certs.render_metrics(served, [], ["x"], True, 14, NOW + datetime.timedelta(days=1), last_success=123.0)
    assert metric(failed, "squaremcp_certificate_sync_last_success_timestamp_seconds") == 123.0
    assert certs.previous_last_success(failed) == 123.0
    assert "last_success" not in certs.render_metrics({}, [], [], True, 14, NOW)


def test_failure_metrics_carry_over_everything_but_state_and_time(factory):
    pair = factory.valid("shop.example.com")
    served = {"edge_shop": {"files": {}, "info": certs.describe(pair.leaf, NOW), "namespace": "edge", "name": "shop"}}
    good = certs.render_metrics(served, [], [], False, 14, NOW)
    later = NOW + datetime.timedelta(days=1)
    failed = certs.render_failure_metrics(good + "garbage line\n", later)
    expected = dict(samples(good))
    expected[("squaremcp_certificate_sync_failed", ())] = 1
    expected[("squaremcp_certificate_sync_last_run_timestamp_seconds", ())] = later.timestamp()
    assert samples(failed) == expected
    assert certs.render_failure_metrics(failed, later) == failed  # stable over repeated failures
    nothing = certs.render_failure_metrics(None, later)
    assert samples(nothing) == {("squaremcp_certificate_sync_failed", ()): 1,
                                ("squaremcp_certificate_sync_last_run_timestamp_seconds", ()): later.timestamp()}


def test_validity_helpers_for_other_module_utils(factory):
    chain = cert_inspect.load_chain(factory.valid().crt)
    assert cert_inspect.not_after(chain[0]) == NOW + datetime.timedelta(days=90)
    assert cert_inspect.not_before(chain[0]) == NOW - datetime.timedelta(days=1)
    assert cert_inspect.not_after(chain[0]).tzinfo is not None


def test_report_names_each_certificate(factory, tmp_path):
    plan = certs.make_plan([_item(factory.valid(), "a"), _item(factory.expired(), "old")], certs.Installed(), _options(tmp_path), NOW)
    report = certs.render_report({"certificates": plan.results, "expiring": ["edge/old"], "refused": ["edge/old"],
                                  "failed": True, "run_at": "now"})
    lines = report.splitlines()
    assert lines[0].startswith("traefik_cert_sync now: FAILED; 2 certificate(s), 1 added, 1 refused")
    assert lines[1].startswith("  added     edge/a [shop.example.com www.shop.example.com] notAfter")
    assert "refused   edge/old" in lines[2] and "expired on" in lines[2]


def test_pair_helper_round_trip(factory):
    pair = factory.valid()
    assert Pair(pair.leaf, pair.key, pair.chain).crt == pair.crt
