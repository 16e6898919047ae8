#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: traefik_cert_sync
short_description: Install TLS certificates from Kubernetes secrets (or PEM files) for Traefik's file provider
version_added: 0.1.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Reads C(kubernetes.io/tls) Secrets through the C(kubernetes) client, or C(<name>.crt) + C(<name>.key) pairs from a
    directory, checks every pair and installs it for Traefik.
  - 'Checks per certificate: PEM parses, the key matches the certificate (RSA, ECDSA, EdDSA), the chain is leaf first
    (each certificate issued by the next one: names and signature), C(notBefore) is past and C(notAfter) is not.'
  - An expired, mismatched, unordered or unreadable pair is never installed and is reported by name with the reason;
    the files installed for that name by an earlier run stay in place and stay referenced.
  - 'Never installed, whatever the selection, and reported as V(skipped) with the reason: Secrets labelled
    C(sealedsecrets.bitnami.com/sealed-secrets-key) (the Sealed Secrets controller keeps its private sealing key as a
    C(kubernetes.io/tls) Secret; its key is not even decoded) and pairs whose certificate is a CA (basicConstraints
    C(CA:TRUE)) with its key, such as cert-manager CA issuer or webhook CA secrets. Files an earlier run installed
    for such a Secret are removed.'
  - Files are content-addressed (C(<namespace>_<name>_<digest>.crt|key), digest = first 16 hex digits of the SHA-256 of
    the certificate file), so every change gives Traefik new file names in the watched dynamic configuration.
    Keys are mode C(0600) from the first byte; certificates C(0644).
  - Writes the C(tls.certificates) list (and optionally C(tls.stores.default.defaultCertificate)) to its own dynamic
    file O(config_path), with paths as the Traefik container sees them (O(container_cert_dir)).
  - 'Order of writes for crash safety: new certificate and key files, then O(config_path) (atomic rename), then removal
    of files no longer referenced.'
  - An unchanged source writes nothing in O(dest_dir) and leaves O(config_path) untouched (same inode and mtime). Only
    O(metrics_path) and O(report_path), when set, are rewritten on every run, because they carry the time of the run;
    that is not reported as a change.
  - A run that would remove every installed certificate because the source returned none (a typo in O(namespaces),
    a wrong O(label_selector), an empty O(source_dir)), or more than O(max_prune_ratio) of them, fails and changes
    nothing; see O(allow_empty) and O(max_prune_ratio).
  - A lock file (O(lock_file)) keeps a timer run and a manual run from interleaving.
  - Key material never appears in the result, the diff, warnings or error messages.
options:
  source:
    description:
      - Where the certificates come from.
      - V(kubernetes) lists C(kubernetes.io/tls) Secrets (page by page; any API failure aborts the run before anything
        is written, so a partial list never looks like deleted secrets).
      - V(directory) reads C(<name>.crt) + C(<name>.key) pairs from O(source_dir) (hosts without Kubernetes, and
        migrating today's static files).
    type: str
    choices: [kubernetes, directory]
    default: kubernetes
  namespaces:
    description:
      - Namespaces to read secrets from.
      - With O(source=kubernetes) at least one of O(namespaces), O(label_selector), O(names) or O(all_namespaces=true)
        is required, so a forgotten option never installs every TLS Secret of the cluster.
      - Only for O(source=kubernetes).
    type: list
    elements: str
    default: []
  all_namespaces:
    description:
      - Read TLS Secrets of every namespace (optionally narrowed by O(label_selector) or O(names)).
      - The explicit opt-in for a cluster-wide read; excludes O(namespaces). Sealed Secrets keys and CA certificates are
        skipped even then.
      - Only for O(source=kubernetes).
    type: bool
    default: false
  label_selector:
    description:
      - Kubernetes label selector the secrets must match, for example C(squaremcp.com/edge=true).
      - Only for O(source=kubernetes).
    type: str
  names:
    description:
      - Only these certificates (C(name) or C(namespace/name); for O(source=directory) the file name without extension).
      - A listed name that does not exist is refused (the task fails) and its previous files stay in place.
      - With O(prune=true), installed certificates outside this list are removed.
    type: list
    elements: str
    default: []
  source_dir:
    description:
      - Directory holding C(<name>.crt) (leaf first, then the chain) and C(<name>.key) pairs.
      - Required with O(source=directory).
    type: path
  page_size:
    description:
      - Secrets per list request (Kubernetes C(limit)); the module follows C(continue) tokens.
    type: int
    default: 250
  dest_dir:
    description:
      - Directory on the host for the certificate and key files (created with mode C(0750) when missing).
      - Only files this module names (C(<key>_<16 hex>.crt|key)) are ever removed from it.
    type: path
    required: true
  config_path:
    description:
      - Traefik dynamic configuration file this module owns. A relative path is taken relative to the parent of
        O(dest_dir) (the Traefik configuration directory when O(dest_dir) is its C(certs) subdirectory).
      - Its directory must exist (it is Traefik's watched dynamic directory).
    type: path
    default: dynamic/certificates.yml
  container_cert_dir:
    description:
      - Path of O(dest_dir) inside the Traefik container, used in O(config_path). Defaults to O(dest_dir).
    type: str
  min_days_valid:
    description:
      - A certificate expiring in fewer days than this is "expiring"; O(on_expiring) says what happens to it.
    type: int
    default: 14
  on_expiring:
    description:
      - V(fail) installs it (a valid certificate beats none) and then fails the task naming it.
      - V(warn) installs it and warns.
      - V(skip) leaves it out; the previous files for that name, if any, stay in place.
      - Expiring certificates are listed in RV(expiring) either way.
    type: str
    choices: [fail, warn, skip]
    default: fail
  prune:
    description:
      - Remove certificates from O(config_path) (and their files) when their secret or file pair is gone.
      - Superseded files of a renewed certificate are always removed once the new configuration is in place.
    type: bool
    default: true
  allow_empty:
    description:
      - Allow a source that returns no certificate at all to remove every installed certificate (O(prune=true)).
      - By default such a run fails, names the certificates it would have removed and changes nothing.
    type: bool
    default: false
  max_prune_ratio:
    description:
      - The largest fraction (0 to 1) of the installed certificates one run may remove because their source is gone.
        A run that would remove more fails and changes nothing; run once with a higher value (V(1) allows any) when
        the certificates really are gone.
      - A source that returns no certificate at all is governed by O(allow_empty) instead.
    type: float
    default: 0.5
  default_certificate:
    description:
      - Name (C(name) or C(namespace/name)) of the certificate Traefik serves when no SNI matches
        (C(tls.stores.default.defaultCertificate)).
    type: str
  owner:
    description:
      - Owner of the written files (and of O(dest_dir) when it is created).
    type: str
  group:
    description:
      - Group of the written files (and of O(dest_dir) when it is created).
    type: str
  metrics_path:
    description:
      - When set, a node-exporter textfile (for example C(/var/lib/prometheus/node-exporter/squaremcp_certificates.prom))
        written atomically after every run, also failed ones, describing what Traefik serves.
      - 'Metrics: C(squaremcp_certificate_expiry_timestamp_seconds) per C(name), C(namespace), C(domain); days left are
        computed in PromQL as expiry minus the current time divided by 86400. Run state: C(squaremcp_certificate_sync_certificates),
        C(squaremcp_certificate_sync_expiring), C(squaremcp_certificate_sync_refused), C(squaremcp_certificate_sync_failed),
        C(squaremcp_certificate_sync_min_valid_seconds), C(squaremcp_certificate_sync_last_run_timestamp_seconds),
        C(squaremcp_certificate_sync_last_success_timestamp_seconds).'
      - Also a run that cannot start (bad options, missing Python library, lock timeout, unreadable O(config_path),
        uncreatable O(dest_dir)) writes it, with C(squaremcp_certificate_sync_failed 1) and the other series carried over
        from the previous file, so an alert can fire.
      - This file carries the run time, so it is rewritten on every run, also an unchanged one; that does not count as
        a change.
    type: path
  report_path:
    description:
      - When set, the RV(report) text is also written to this file after every run (also failed ones), atomically.
      - Like O(metrics_path) it is rewritten on every run, also an unchanged one, and that does not count as a change.
    type: path
  lock_file:
    description:
      - Lock file serialising runs. Defaults to C(.traefik_cert_sync.lock) in O(dest_dir).
    type: path
  lock_timeout:
    description:
      - Seconds to wait for another run to release O(lock_file) before failing.
    type: int
    default: 60
extends_documentation_fragment:
  - squaremcp.infra.k8s
  - squaremcp.infra._attributes
  - squaremcp.infra._attributes.ACTIONGROUP_K8S
requirements:
  - cryptography >= 3.3 (Python library)
  - PyYAML (Python library)
  - prometheus_client (Python library, Debian C(python3-prometheus-client)) when O(metrics_path) is set
notes:
  - The Kubernetes identity needs C(list) on C(secrets) in O(namespaces) (or cluster-wide with O(all_namespaces)).
  - The task fails (after installing every acceptable certificate) when a certificate is refused or, with
    O(on_expiring=fail), expiring. RV(certificates) then says per certificate what happened.
  - A run that cannot start (a O(source_dir) that does not exist, a missing O(kubeconfig)) creates nothing; a run
    that fails after creating O(dest_dir) removes it and its lock file again. An unchanged run does not modify the
    lock file.
  - Files are never written, chmod-ed or chown-ed through a symbolic link; a link in place of O(config_path), a
    managed file, O(lock_file), O(metrics_path) or O(report_path) fails the run.
attributes:
  check_mode:
    support: full
    details: Computes the same result and diff without writing, locking or creating anything.
  diff_mode:
    support: full
    details: Shows the change of O(config_path); entries carry names, fingerprints and dates, never key material.
  idempotent:
    support: full
    details: O(metrics_path) and O(report_path) carry the time of the run and are rewritten on every run; that is
      not reported as a change.
  platform:
    support: full
    details: Runs on the edge host (files are local to it); Kubernetes is reached through the kubeconfig.
seealso:
  - module: squaremcp.infra.traefik_routes
  - plugin: squaremcp.infra.cert_info
    plugin_type: filter
  - module: community.crypto.x509_certificate_info
"""

EXAMPLES = r"""
- name: Install cert-manager certificates of the edge namespace for Traefik
  squaremcp.infra.traefik_cert_sync:
    kubeconfig: /var/snap/microk8s/current/credentials/client.config
    namespaces: [edge, hermes]
    label_selector: squaremcp.com/edge=true
    dest_dir: /opt/traefik/certs
    container_cert_dir: /etc/traefik/certs
    default_certificate: edge/squaremcp-com-tls
    metrics_path: /var/lib/prometheus/node-exporter/squaremcp_certificates.prom
  register: cert_sync

- name: Every namespace, but only the secrets labelled for the edge (an explicit cluster-wide read)
  squaremcp.infra.traefik_cert_sync:
    kubeconfig: /var/snap/microk8s/current/credentials/client.config
    all_namespaces: true
    label_selector: squaremcp.com/edge=true
    dest_dir: /opt/traefik/certs
    container_cert_dir: /etc/traefik/certs

- name: Migrate today's hand-copied files (no Kubernetes)
  squaremcp.infra.traefik_cert_sync:
    source: directory
    source_dir: /home/garfield/letsencrypt/manual
    dest_dir: /opt/traefik/certs
    container_cert_dir: /etc/traefik/certs
    on_expiring: warn
"""

RETURN = r"""
certificates:
  description: One entry per certificate of the source or of the previous configuration, sorted by name.
  returned: success or failure after the source was read
  type: list
  elements: dict
  contains:
    name:
      description: Secret name (or file name without extension).
      type: str
      sample: squaremcp-com-tls
    namespace:
      description: Secret namespace; empty for O(source=directory).
      type: str
      sample: edge
    domains:
      description: DNS names of the subjectAltName (or the common name) of the source certificate.
      type: list
      elements: str
      sample: [squaremcp.com, www.squaremcp.com]
    not_after:
      description: notAfter of the source certificate (UTC, ISO 8601); null when it could not be parsed.
      type: str
      sample: "2027-02-23T12:00:00Z"
    days_left:
      description: Whole days until not_after (negative when expired).
      type: int
      sample: 89
    fingerprint:
      description: SHA-256 fingerprint of the source leaf certificate.
      type: str
      sample: "3f:0a:...:9c"
    action:
      description: What this run did.
      type: str
      choices: [added, updated, unchanged, skipped, refused, removed, kept]
    reason:
      description: Why it was refused, skipped, kept or removed (and what to do), or the expiry note; null otherwise.
      type: str
      sample: "the private key does not match the certificate (CN=shop.example.com): ... (the previous files stay in place)"
    cert_file:
      description: File name (in O(dest_dir)) of the certificate now referenced; null when none is.
      type: str
      sample: edge_squaremcp-com-tls_0f3c5e2a9b1d7c44.crt
    key_file:
      description: File name of the key now referenced; null when none is.
      type: str
    installed:
      description: For refused, skipped and kept entries, the previous certificate that stays in place (fingerprint,
        not_after, days_left); null when there is none.
      type: dict
expiring:
  description: Certificates (C(namespace/name)) whose best available version expires within O(min_days_valid) days.
  returned: success or failure after the source was read
  type: list
  elements: str
refused:
  description: Certificates (C(namespace/name)) that were refused.
  returned: success or failure after the source was read
  type: list
  elements: str
written:
  description: Paths written (or, in check mode, that would be written).
  returned: always
  type: list
  elements: str
removed:
  description: Paths removed (or, in check mode, that would be removed).
  returned: always
  type: list
  elements: str
config_path:
  description: Absolute path of the dynamic configuration file.
  returned: always
  type: str
  sample: /opt/traefik/dynamic/certificates.yml
report:
  description: A short human-readable report of the run (one line per certificate).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import certs, k8s


def main():
    module = AnsibleModule(argument_spec=certs.ARGUMENT_SPEC, required_if=certs.REQUIRED_IF, supports_check_mode=True)
    missing = []
    if not certs.HAS_CRYPTOGRAPHY:
        missing.append(("cryptography", certs.CRYPTOGRAPHY_IMPORT_ERROR))
    if module.params["source"] == "kubernetes" and not k8s.HAS_KUBERNETES:
        missing.append(("kubernetes", k8s.KUBERNETES_IMPORT_ERROR))
    if missing:
        library, error = missing[0]
        msg = missing_required_lib(library)
        certs.record_failure(module, module.params, msg)  # a run that cannot start still shows in the metrics
        module.fail_json(msg=msg, exception=error)
    try:
        outcome = certs.run(module, module.params, certs.source_reader(module.params))
    except certs.SyncError as exc:
        module.fail_json(msg=str(exc), changed=False)
    result = {key: outcome[key] for key in ("changed", "certificates", "expiring", "refused", "written", "removed",
                                            "config_path", "report")}
    if module._diff and "after" in outcome.get("diff", {}):
        result["diff"] = outcome["diff"]
    for warning in outcome["warnings"]:
        module.warn(warning)
    if outcome["failed"]:
        module.fail_json(msg=outcome["msg"], **result)
    module.exit_json(msg=outcome["msg"], **result)


if __name__ == "__main__":
    main()
