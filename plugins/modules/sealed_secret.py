#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sealed_secret
short_description: Seal a Kubernetes Secret for the Sealed Secrets controller, write and/or apply it
version_added: 0.1.0
description:
  - Seals the values of a Kubernetes Secret with the public certificate of the Bitnami Sealed Secrets
    controller, in pure Python (RSA-OAEP SHA-256 + AES-256-GCM, the controller's own format), so no
    C(kubeseal) binary is needed and no value is ever written in the clear.
  - Writes the resulting C(SealedSecret) manifest to O(dest) (safe to commit) and/or creates or updates
    the C(SealedSecret) object in the cluster (O(apply=true)).
  - Sealing is randomised. To keep runs idempotent the module records a keyed digest (HMAC-SHA256 with
    O(digest_key)) of the input in the annotation C(squaremcp.infra/sealed-digest) and reuses an existing
    object or file with the same digest. A changed value, key, name, namespace, scope, type or certificate
    re-seals. A plain hash of the values is never stored.
  - Without O(digest_key) every run re-seals, reports a change and warns.
  - With O(apply=true) the cluster is updated first; O(dest) and O(certificate_dest) are only written
    once the object is in place, so a failed apply leaves every file untouched.
  - With O(certificate_only=true) nothing is sealed; the module gets the controller's certificate, checks it
    (RSA, not expired), returns its details and writes it to O(certificate_dest) (like C(kubeseal --fetch-cert)).
  - Messages, check mode and diff show key names and digests, never values.
  - 'The certificate must be the controller''s own: exactly one RSA certificate of at least 2048 bits, valid now.
    Bundles (a CA-first chain, several certificates), a private key beside it, weak keys and certificates that are
    not valid yet or any more are refused.'
  - Every file is checked before the cluster object changes, and written once it is in place, all or none.
options:
  name:
    description:
      - Name of the Secret (and of the C(SealedSecret)). Required unless O(certificate_only=true).
    type: str
  namespace:
    description:
      - Namespace of the Secret. Required unless O(certificate_only=true); with O(scope=cluster-wide) it is
        only where the C(SealedSecret) object lives.
    type: str
  certificate_only:
    description:
      - Only get and check the controller's certificate, return it and write it to O(certificate_dest) (when
        given). O(name), O(namespace), O(data), O(string_data), O(dest), O(apply) and O(digest_key) are not
        used and must not be given.
    type: bool
    default: false
  scope:
    description:
      - Where the sealed values may be opened. V(strict) binds them to O(namespace) and O(name),
        V(namespace-wide) to O(namespace), V(cluster-wide) to any name and namespace.
    type: str
    choices: [strict, namespace-wide, cluster-wide]
    default: strict
  data:
    description:
      - Values encoded in base64, as in a Secret's C(data). Use it for binary values.
    type: dict
  string_data:
    description:
      - Values as text, as in a Secret's C(stringData). A key may not be in both O(data) and O(string_data).
    type: dict
  type:
    description:
      - Type of the Secret the controller creates. Well-known types are checked for their required keys.
    type: str
    default: Opaque
  labels:
    description: Labels of the Secret the controller creates.
    type: dict
  annotations:
    description:
      - Annotations of the Secret the controller creates. The scope annotations are set from O(scope).
    type: dict
  certificate:
    description:
      - The controller's certificate (PEM), for example from C(kubeseal --fetch-cert).
      - Without O(certificate) and O(certificate_path) the certificate is fetched from the controller
        through the API server's service proxy (C(v1/cert.pem)), like C(kubeseal) does.
    type: str
  certificate_path:
    description: Path of a file holding the controller's certificate (PEM).
    type: path
  certificate_dest:
    description:
      - Also write the certificate the values were sealed with (PEM, public) to this file, for offline
        sealing (like C(kubeseal --fetch-cert)). Its directory must exist.
    type: path
  controller_name:
    description: Name of the controller's Service (the Helm chart calls it C(sealed-secrets)).
    type: str
    default: sealed-secrets-controller
  controller_namespace:
    description: Namespace of the controller's Service.
    type: str
    default: kube-system
  dest:
    description:
      - Write the C(SealedSecret) manifest (YAML) to this file, atomically. Its directory must exist.
      - A file that also holds other documents keeps them byte for byte; only this SealedSecret's document is
        replaced. A file that does not parse, holds other documents but not this SealedSecret, or holds it twice
        is refused and left untouched; so is a symbolic link.
    type: path
  mode:
    description:
      - Mode of O(dest) when it is written. O(owner), O(group) and the SELinux options apply to O(dest) too.
    type: raw
    default: "0644"
  backup:
    description: Keep a timestamped copy of O(dest) (and of O(certificate_dest)) before it is replaced.
    type: bool
    default: false
  apply:
    description:
      - Create or update the C(SealedSecret) object in the cluster (API C(bitnami.com/v1alpha1)).
      - Only the scope and digest annotations and the C(spec) are managed; other metadata is kept.
    type: bool
    default: false
  digest_key:
    description:
      - Secret key (at least 16 characters, from the vault) for the keyed digest that makes runs idempotent.
      - Keep it stable; changing it re-seals everything once.
    type: str
extends_documentation_fragment:
  - ansible.builtin.files
  - squaremcp.infra.k8s
  - squaremcp.infra._attributes
  - squaremcp.infra._attributes.ACTIONGROUP_K8S
attributes:
  check_mode:
    support: full
    details: Nothing is written or applied; the result says what would change.
  diff_mode:
    support: full
    details:
      - Shows key names, scope, type, labels, annotations and digests before and after, never values.
      - For O(certificate_dest), the SHA-256, subject and expiry of the certificate before and after.
  idempotent:
    support: partial
    details: With O(digest_key); without it every run seals anew and reports a change (with a warning).
  platform:
    support: full
    details: Runs where the certificate, O(dest) and the kubeconfig are.
requirements:
  - cryptography >= 38.0 (Python library; Debian 12 ships 38.0.4)
  - PyYAML (Python library)
notes:
  - The controller renews its key regularly (30 days by default). Old SealedSecrets keep working, and
    with a new certificate the module re-seals (the certificate is part of the digest).
  - Ansible masks every O(data)/O(string_data) value wherever it occurs in the result, even inside other
    strings. A very short value (a few characters) can therefore occur inside the returned RV(manifest),
    RV(sealed_secret) or RV(certificate) and be masked there; the module warns when that happens. Files
    written by the module itself (O(dest), O(certificate_dest)) are never affected, so use them (and
    M(ansible.builtin.fetch)) rather than the returned text to store manifests.
  - The module never needs the controller's private key. Back up the controller's key Secrets with the
    role C(squaremcp.infra.sealed_secrets); without them no SealedSecret can be opened again.
seealso:
  - name: Sealed Secrets
    description: The controller and C(kubeseal).
    link: https://github.com/bitnami-labs/sealed-secrets
author:
  - SquareMCP platform team (@squaremcp)
"""

EXAMPLES = r"""
- name: Seal the Hermes secrets, keep the manifest in git and apply it
  squaremcp.infra.sealed_secret:
    name: hermes-secrets
    namespace: hermes-mcp
    string_data:
      SMTP_PASSWORD: "{{ vault_hermes_smtp_password }}"
      DATABASE_URL: "{{ vault_hermes_database_url }}"
    digest_key: "{{ vault_sealed_secrets_digest_key }}"
    kubeconfig: /var/snap/microk8s/current/credentials/client.config
    dest: /srv/platform/kubernetes/sealed/hermes-mcp/hermes-secrets.yaml
    apply: true

- name: Seal offline with a certificate file (no cluster access), namespace-wide
  squaremcp.infra.sealed_secret:
    name: registry-pull
    namespace: hermes-mcp
    scope: namespace-wide
    type: kubernetes.io/dockerconfigjson
    string_data:
      .dockerconfigjson: "{{ vault_registry_dockerconfig | to_json }}"
    certificate_path: files/sealed-secrets-cert.pem
    digest_key: "{{ vault_sealed_secrets_digest_key }}"
    dest: kubernetes/sealed/hermes-mcp/registry-pull.yaml
  delegate_to: localhost

- name: Fetch the controller's certificate for offline sealing (nothing is sealed)
  squaremcp.infra.sealed_secret:
    certificate_only: true
    kubeconfig: /var/snap/microk8s/current/credentials/client.config
    certificate_dest: /var/lib/squaremcp/sealed-secrets/sealed-secrets-cert.pem
  register: sealed_secrets_cert
"""

RETURN = r"""
changed:
  description: Whether the file or the cluster object was (or, in check mode, would be) changed.
  type: bool
  returned: always
resealed:
  description: Whether the values were encrypted anew (false when an object with the same digest was reused).
  type: bool
  returned: unless O(certificate_only=true)
digest:
  description: The keyed digest recorded in the annotation C(squaremcp.infra/sealed-digest); null without O(digest_key).
  type: str
  returned: unless O(certificate_only=true)
  sample: hmac-sha256:5d41402abc4b2a76b9719d911017c592ae0a3b1f2e6e9c7d3c5a1b0e9f8d7c6b
keys:
  description: The sealed key names (never the values).
  type: list
  elements: str
  returned: unless O(certificate_only=true)
  sample: [DATABASE_URL, SMTP_PASSWORD]
certificate:
  description: The certificate the values were (or, with O(certificate_only=true), would be) sealed with.
  type: dict
  returned: always
  contains:
    sha256:
      description: SHA-256 of the certificate (DER).
      type: str
    not_after:
      description: Expiry (UTC, ISO 8601).
      type: str
    subject:
      description: Subject (RFC 4514).
      type: str
    key_size:
      description: RSA key size in bits.
      type: int
    pem:
      description: The certificate (public).
      type: str
sealed_secret:
  description: The C(SealedSecret) object (encrypted values only; safe to log and commit).
  type: dict
  returned: unless O(certificate_only=true)
manifest:
  description: The YAML text written (or that would be written) to O(dest).
  type: str
  returned: unless O(certificate_only=true)
dest:
  description: The manifest file.
  type: str
  returned: when O(dest) is set
certificate_dest:
  description: The certificate file.
  type: str
  returned: when O(certificate_dest) is set
backup_file:
  description: The backup of the previous O(dest).
  type: str
  returned: when O(backup=true) and O(dest) was replaced
applied:
  description: Whether the cluster object was (or would be) created or updated.
  type: bool
  returned: when O(apply=true)
"""

import contextlib
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _sealed_cluster as cluster
from ansible_collections.squaremcp.infra.plugins.module_utils import k8s, sealing
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_inspect import CRYPTOGRAPHY_IMPORT_ERROR
from ansible_collections.squaremcp.infra.plugins.module_utils._files import (
    FileError, lock_directory, read_bytes, write_files)
from ansible_collections.squaremcp.infra.plugins.module_utils._sealed_manifest import DestFile, ManifestFileError

NO_DIGEST_KEY_WARNING = (
    "no digest_key: the Secret was sealed anew and reported changed, and will be on every run. Give "
    "digest_key (a long random string from the vault) to keep unchanged secrets untouched."
)


CERTIFICATE_ONLY_UNUSED = ("name", "namespace", "data", "string_data", "dest", "apply", "digest_key")

MASKING_WARNING = (
    "a secret value is so short that it occurs inside the returned manifest or certificate, where Ansible "
    "masks it: the returned text is damaged. Use dest / certificate_dest (written by the module, never masked)."
)


def argument_spec():
    spec = dict(
        name=dict(type="str"),
        namespace=dict(type="str"),
        certificate_only=dict(type="bool", default=False),
        scope=dict(type="str", default="strict", choices=list(sealing.SCOPES)),
        data=dict(type="dict", no_log=True),
        string_data=dict(type="dict", no_log=True),
        type=dict(type="str", default="Opaque"),
        labels=dict(type="dict"),
        annotations=dict(type="dict"),
        certificate=dict(type="str"),
        certificate_path=dict(type="path"),
        certificate_dest=dict(type="path"),
        controller_name=dict(type="str", default=sealing.DEFAULT_CONTROLLER_NAME),
        controller_namespace=dict(type="str", default=sealing.DEFAULT_CONTROLLER_NAMESPACE),
        dest=dict(type="path"),
        mode=dict(type="raw", default="0644"),
        backup=dict(type="bool", default=False),
        apply=dict(type="bool", default=False),
        digest_key=dict(type="str", no_log=True),
    )
    spec.update(k8s.KUBE_ARGUMENT_SPEC)
    return spec


class SealedSecretModule(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self._client = None

    @property
    def needs_cluster(self):
        return self.params["apply"] or not (self.params["certificate"] or self.params["certificate_path"])

    def client(self):
        if self._client is None:
            self._client = k8s.api_client(self.params["kubeconfig"], self.params["context"])
        return self._client

    def certificate(self):
        params = self.params
        if params["certificate"]:
            return sealing.load_certificate(params["certificate"], source="the certificate option")
        if params["certificate_path"]:
            content = read_bytes(params["certificate_path"])
            if content is None:
                raise sealing.SealingError(
                    "certificate_path %s does not exist: fetch the controller's certificate there first, or omit "
                    "the option to fetch it from the controller" % params["certificate_path"]
                )
            return sealing.load_certificate(content, source=params["certificate_path"])
        pem = cluster.fetch_certificate(self.client(), params["controller_name"], params["controller_namespace"],
                                        timeout=params["request_timeout"])
        return sealing.load_certificate(
            pem, source="the certificate served by %s/%s" % (params["controller_namespace"], params["controller_name"]))

    def certificate_file(self, certificate, diffs):
        """The file spec of certificate_dest (when given), its diff recorded."""
        path = self.params["certificate_dest"]
        if not path:
            return []
        if os.path.isdir(path) and not os.path.islink(path):
            raise FileError("certificate_dest %s is a directory: give the path of the certificate file" % path)
        current = read_bytes(path, follow_symlinks=False)
        diffs.append(dict(before=sealing.certificate_summary(current), after=sealing.certificate_summary(certificate.pem),
                          before_header=path, after_header=path))
        return [{"path": path, "content": certificate.pem.encode("ascii"), "mode": "0644", "expect": current}]

    def certificate_only(self):
        unused = [option for option in CERTIFICATE_ONLY_UNUSED if self.params[option] not in (None, False)]
        if unused:
            raise sealing.SealingError(
                "certificate_only seals nothing, so %s cannot be used with it: drop %s, or drop certificate_only"
                % (", ".join(unused), "them" if len(unused) > 1 else "it"))
        certificate = self.certificate()
        result, diffs = dict(changed=False, certificate=certificate.info()), []
        files = self.certificate_file(certificate, diffs)
        if files:
            result["changed"] = write_files(self.module, files)["changed"]
            result["certificate_dest"] = files[0]["path"]
        if self.module._diff and diffs:
            result["diff"] = diffs[0]
        return result

    def dest_file(self):
        """``(DestFile, raw bytes)`` of dest, or ``(None, None)``."""
        path = self.params["dest"]
        if not path:
            return None, None
        if os.path.isdir(path) and not os.path.islink(path):
            raise FileError("dest %s is a directory: give the path of the manifest file" % path)
        raw = read_bytes(path, follow_symlinks=False)
        return DestFile.read(path, raw, self.params["name"], self.params["namespace"]), raw

    def run(self):
        params = self.params
        if params["certificate_only"]:
            return self.certificate_only()
        certificate = self.certificate()
        request = sealing.SealRequest(
            name=params["name"], namespace=params["namespace"], certificate=certificate,
            data=params["data"], string_data=params["string_data"], scope=params["scope"],
            secret_type=params["type"], labels=params["labels"], annotations=params["annotations"],
            digest_key=params["digest_key"],
        )
        stored = None
        if params["apply"]:
            stored = cluster.read_sealed_secret(self.client(), params["name"], params["namespace"],
                                                timeout=params["request_timeout"])
        dest, raw = self.dest_file()
        desired, resealed = request.manifest(stored, dest.existing if dest else None)
        result = dict(changed=False, resealed=resealed, digest=request.digest, keys=sorted(request.values),
                      certificate=certificate.info(), sealed_secret=desired)
        diffs, files = [], []
        after = sealing.summary(desired)
        if dest:
            content = dest.content(desired)
            files.append({"path": dest.path, "content": content, "mode": params["mode"], "owner": params["owner"],
                          "group": params["group"], "expect": raw})
            result.update(dest=dest.path, manifest=content.decode("utf-8"))
            diffs.append(dict(before=sealing.summary(dest.existing), after=after, before_header=dest.path,
                              after_header=dest.path))
        else:
            result["manifest"] = DestFile("", params["name"], params["namespace"]).content(desired).decode("utf-8")
        files += self.certificate_file(certificate, diffs)
        if params["certificate_dest"]:
            result["certificate_dest"] = params["certificate_dest"]
        # Every file is checked before the cluster changes, and written only once the object is in place: a
        # refused file or a failed apply leaves the cluster and every file as they were.
        write_files(self.module, files, backup=params["backup"], check_only=True)
        if params["apply"]:
            applied = cluster.needs_update(stored, desired)
            if applied and not self.module.check_mode:
                cluster.apply_sealed_secret(self.client(), stored, desired, timeout=params["request_timeout"])
            result["applied"] = applied
            result["changed"] |= applied
            header = "SealedSecret %s/%s" % (params["namespace"], params["name"])
            diffs.insert(len(diffs) - bool(params["certificate_dest"]),
                         dict(before=sealing.summary(stored), after=after, before_header=header, after_header=header))
        written = write_files(self.module, files, backup=params["backup"])
        result["changed"] |= written["changed"]
        if dest and written["backups"].get(dest.path):
            result["backup_file"] = written["backups"][dest.path]
        if request.digest is None and (params["dest"] or params["apply"]):
            self.module.warn(NO_DIGEST_KEY_WARNING)
        if sealing.masked_by_no_log(self.module.no_log_values, result["manifest"], certificate.pem):
            self.module.warn(MASKING_WARNING)
        if self.module._diff and diffs:
            result["diff"] = diffs if len(diffs) > 1 else diffs[0]
        return result


def _refused_digest_key(module):
    """A digest_key shorter than allowed is refused before anything else. It is never used, so Ansible need not
    mask it: masking a few characters would garble the message wherever they occur (a name, a namespace)."""
    key = module.params["digest_key"]
    if key is None or len(key) >= sealing.DIGEST_KEY_MIN_LENGTH:
        return
    module.no_log_values.discard(key)
    arguments = dict(module.params, digest_key="VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    for option in ("data", "string_data"):
        if arguments[option]:
            arguments[option] = dict.fromkeys(arguments[option], "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    where = "%s/%s" % (module.params["namespace"], module.params["name"])
    module.fail_json(msg="%s: digest_key is shorter than %d characters: use a long random string from the vault (e.g. "
                         "openssl rand -hex 32)" % (where, sealing.DIGEST_KEY_MIN_LENGTH),
                     invocation={"module_args": arguments})


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("certificate", "certificate_path")],
        required_if=[("certificate_only", False, ("name", "namespace"))],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    if not sealing.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    if not sealing.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=sealing.YAML_IMPORT_ERROR)
    if not module.params["certificate_only"]:
        _refused_digest_key(module)
    runner = SealedSecretModule(module)
    if runner.needs_cluster and not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes") + " (needed to fetch the certificate or apply)",
                         exception=k8s.KUBERNETES_IMPORT_ERROR)
    dest = module.params["dest"] or module.params["certificate_dest"]
    try:
        with lock_directory(dest) if dest else contextlib.nullcontext():  # two runs on one manifest take turns
            result = runner.run()
    except (sealing.SealingError, k8s.KubeError, FileError, ManifestFileError) as exc:
        params = module.params
        where = ("certificate of %s/%s" % (params["controller_namespace"], params["controller_name"])
                 if params["certificate_only"] else "%s/%s" % (params["namespace"], params["name"]))
        module.fail_json(msg="%s: %s" % (where, exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
