# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one certificate sync decides: the installed state (``certificates.yml`` of the previous run), the
plan per certificate (install, keep, refuse, skip, remove), the files to write and the new
``certificates.yml``. Nothing here writes files."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio
from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_inspect import (
    DIGEST_LENGTH, CertError, CertSkipped, describe, inspect_pair, is_ca, load_chain)
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_options import SyncError
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_report import ident_of

CERT_MODE = "0644"
KEY_MODE = "0600"
CONFIG_MODE = "0644"
CONFIG_HEADER = (
    "# Managed by squaremcp.infra.traefik_cert_sync: written on every change, do not edit.\n"
    "# Each entry: <namespace>/<name>, leaf SHA-256 fingerprint, notAfter, domains.\n"
)
# <key>_<digest>.crt|key where <key> is "<namespace>_<name>" (Kubernetes) or "<name>" (directory).
MANAGED_FILE = re.compile(r"^(?P<key>[A-Za-z0-9_][A-Za-z0-9._-]*)_(?P<digest>[0-9a-f]{%d})\.(?P<ext>crt|key)$" % DIGEST_LENGTH)
# Temporary files _files.py leaves behind when a run is killed between staging and renaming.
STALE_TEMP = re.compile(r"^\.[A-Za-z0-9_][A-Za-z0-9._-]*_[0-9a-f]{%d}\.(crt|key)\..+\.tmp$" % DIGEST_LENGTH)
COMMENT_SAFE = re.compile(r"[^A-Za-z0-9.*_:/ -]")


@dataclass
class Installed:
    """What the current ``certificates.yml`` references: ``{key: {"cert_file", "key_file", "digest"}}``."""

    text: Optional[str] = None
    entries: Dict[str, Dict[str, str]] = field(default_factory=dict)
    default_key: Optional[str] = None
    foreign: List[str] = field(default_factory=list)  # what the file holds that this module did not write
    raw: Optional[bytes] = None  # the file's bytes as read: a write expects them unchanged


def read_installed(config_path):
    """Parse the module's own ``certificates.yml``; refuse to guess when it is unreadable."""
    try:
        raw = fileio.read_bytes(config_path, follow_symlinks=False)
    except fileio.FileError as exc:
        raise SyncError(str(exc))
    if raw is None:
        return Installed()
    installed = parse_installed(raw.decode("utf-8", "replace"), config_path)
    installed.raw = raw
    return installed


def parse_installed(text, config_path="certificates.yml"):
    """The :class:`Installed` state described by the text of a ``certificates.yml``."""
    try:
        data = _yaml.load(text) or {}
    except _yaml.yaml.YAMLError as exc:
        raise SyncError(
            "%s is not valid YAML (%s): it is written only by this module; restore it from a backup or delete it "
            "(refused certificates then lose their previous files)" % (config_path, _yaml.problem(exc))
        ) from None
    tls = data.get("tls") if isinstance(data, dict) else None
    listed = tls.get("certificates") if isinstance(tls, dict) else None
    if not isinstance(listed, list):
        raise SyncError("%s has no tls.certificates list: it is written only by this module; delete it to rebuild it" % config_path)
    entries, foreign = {}, []
    foreign += ["top-level key %s" % key for key in data if key != "tls"]
    foreign += ["tls.%s" % key for key in tls if key not in ("certificates", "stores")]
    for index, item in enumerate(listed):
        parsed = _managed(item.get("certFile")) if isinstance(item, dict) else None
        key_parsed = _managed(item.get("keyFile")) if isinstance(item, dict) else None
        if parsed and key_parsed and parsed[2] == "crt" and key_parsed == (parsed[0], parsed[1], "key") \
                and set(item) == {"certFile", "keyFile"}:
            entries[parsed[0]] = {"cert_file": parsed[0] + "_" + parsed[1] + ".crt",
                                  "key_file": parsed[0] + "_" + parsed[1] + ".key", "digest": parsed[1]}
        else:
            foreign.append("tls.certificates[%d]" % index)
    stores = tls.get("stores")
    default = _dig(tls, "stores", "default", "defaultCertificate")
    parsed = _managed(default.get("certFile")) if isinstance(default, dict) else None
    if stores is not None and (stores != {"default": {"defaultCertificate": default}} or not parsed):
        foreign.append("tls.stores")
    return Installed(text, entries, parsed[0] if parsed else None, foreign)


def _dig(data, *path):
    for step in path:
        if not isinstance(data, dict):
            return None
        data = data.get(step)
    return data


def _managed(path):
    """``(key, digest, ext)`` of a file name this module writes, else ``None``."""
    if not isinstance(path, str):
        return None
    match = MANAGED_FILE.match(os.path.basename(path))
    return (match.group("key"), match.group("digest"), match.group("ext")) if match else None


def installed_info(dest_dir, entry, now=None):
    """Describe the installed certificate file of ``entry`` (``None`` when it is gone or broken)."""
    try:
        data = fileio.read_bytes(os.path.join(dest_dir, entry["cert_file"]), follow_symlinks=False)
        return describe(load_chain(data)[0], now) if data else None
    except (fileio.FileError, CertError):
        return None


def split_key(key, namespaced):
    """``(namespace, name)`` of a file key; Kubernetes namespaces never contain ``_``."""
    if namespaced and "_" in key:
        namespace, name = key.split("_", 1)
        return namespace, name
    return "", key


@dataclass
class Plan:
    """Everything one run decided; nothing written yet."""

    results: List[Dict[str, Any]] = field(default_factory=list)  # the module's ``certificates`` return
    served: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # key -> {"files", "info", "namespace", "name"}
    files: List[Dict[str, Any]] = field(default_factory=list)  # _files.write_files specs (new cert and key files)
    config_text: str = ""
    default_key: Optional[str] = None
    prune: List[str] = field(default_factory=list)  # paths no longer referenced
    warnings: List[str] = field(default_factory=list)
    excluded: set = field(default_factory=set)  # keys never installed whatever they hold (sealing key, CA)


def _entry_result(namespace, name, action, reason=None, info=None, files=None, installed=None):
    info = info or {}
    return {
        "name": name,
        "namespace": namespace,
        "domains": info.get("domains", []),
        "not_after": info.get("not_after"),
        "days_left": info.get("days_left"),
        "fingerprint": info.get("fingerprint"),
        "action": action,
        "reason": reason,
        "cert_file": (files or {}).get("cert_file"),
        "key_file": (files or {}).get("key_file"),
        "installed": installed,
    }


def _summary(info):
    return {key: info[key] for key in ("fingerprint", "not_after", "days_left")} if info else None


def _source_info(item, now):
    """Best-effort facts about a refused item's leaf (for the report): ``None`` when unreadable."""
    try:
        chain = load_chain(item.cert_pem, item.labels[0]) if item.cert_pem else []
    except CertError:
        return None
    leaves = [cert for cert in chain if not is_ca(cert)]
    return describe((leaves or chain)[0], now) if chain else None


def make_plan(items, installed, options, now=None):
    """Decide per certificate; build the file list, the new config and the prune list."""
    if installed.foreign:
        raise SyncError(
            "%s holds content not written by this module (%s), which rewriting it would drop: move it to another "
            "file of Traefik's dynamic directory (Traefik merges them) and run again; nothing was changed"
            % (options.config_path, ", ".join(installed.foreign)))
    plan = Plan()
    seen = set()
    for item in sorted(items, key=lambda i: i.key):
        seen.add(item.key)
        previous = installed.entries.get(item.key)
        inspected, reason = None, item.problem
        if item.excluded:
            _exclude(plan, item, item.excluded, previous, None)
            continue
        if reason is None:
            try:
                inspected = inspect_pair(item.cert_pem, item.key_pem, now, item.labels)
            except CertSkipped as exc:
                _exclude(plan, item, str(exc), previous, _source_info(item, now))
                continue
            except CertError as exc:
                reason = str(exc)
        if inspected is not None and inspected.info["days_left"] < options.min_days_valid:
            note = "expires in %d days (%s), less than min_days_valid %d: renew it" % (
                inspected.info["days_left"], inspected.info["not_after"], options.min_days_valid)
            if options.on_expiring == "skip":
                _keep_previous(plan, options, item.namespace, item.name, item.key, previous, "skipped", note,
                               inspected.info, now)
                continue
            plan.warnings.append("%s %s" % (item.ident, note))
            _install(plan, options, item, inspected, previous, note)
            continue
        if inspected is not None:
            _install(plan, options, item, inspected, previous, None)
            continue
        _keep_previous(plan, options, item.namespace, item.name, item.key, previous, "refused", reason,
                       _source_info(item, now), now)
    vanished = sorted(set(installed.entries) - seen)
    if options.prune and vanished:
        _check_prune(vanished, len(seen - plan.excluded), installed, options)
    for key in vanished:
        namespace, name = split_key(key, options.namespaced)
        if options.prune:
            plan.results.append(_entry_result(namespace, name, "removed", "no longer in the source (prune)"))
        else:
            _keep_previous(plan, options, namespace, name, key, installed.entries[key], "kept",
                           "no longer in the source; kept because prune is false", None, now)
    plan.default_key = _default_key(plan, items, installed, options)
    plan.config_text = render_config(plan.served, options.container_cert_dir, plan.default_key)
    plan.prune = _unreferenced(options.dest_dir, plan.served)
    return plan


def _exclude(plan, item, reason, previous, info):
    """Never install ``item``; files an earlier version of this code installed for it are pruned."""
    if previous is not None:
        reason = "%s (its previously installed files are removed)" % reason
    plan.excluded.add(item.key)
    plan.results.append(_entry_result(item.namespace, item.name, "skipped", reason, info))


def _check_prune(vanished, usable, installed, options):
    """Refuse a run that would remove all (or too many) installed certificates at once.

    A typo in ``namespaces``, a wrong ``label_selector`` or an empty mount looks exactly like
    every secret being deleted; Traefik would then serve its default certificate everywhere.
    """
    names = ", ".join(ident_of(*split_key(key, options.namespaced)) for key in vanished[:10])
    names += ", ..." if len(vanished) > 10 else ""
    if not usable:
        if not options.allow_empty:
            raise SyncError(
                "the source (%s) returned no certificate while %d certificate(s) are installed (%s): refusing to remove them all; "
                "nothing was changed. Check the selection for a typo; if every certificate really is gone, run once "
                "with allow_empty=true" % (options.selection(), len(installed.entries), names))
        return
    if len(vanished) > options.max_prune_ratio * len(installed.entries):
        raise SyncError(
            "%d of the %d installed certificates are no longer in the source (%s): %s; removing more than "
            "max_prune_ratio %g of them at once is refused, nothing was changed. Check the selection; if they "
            "really are gone, run once with a higher max_prune_ratio (1 allows any)"
            % (len(vanished), len(installed.entries), options.selection(), names, options.max_prune_ratio))


def _install(plan, options, item, inspected, previous, note):
    files = {"cert_file": "%s_%s.crt" % (item.key, inspected.digest), "key_file": "%s_%s.key" % (item.key, inspected.digest)}
    if previous is None:
        action = "added"
    elif previous["digest"] == inspected.digest:
        action = "unchanged"
    else:
        action = "updated"
    common = {"owner": options.owner, "group": options.group}
    plan.files.append(dict(common, path=os.path.join(options.dest_dir, files["cert_file"]), content=inspected.cert_bytes, mode=CERT_MODE))
    plan.files.append(dict(common, path=os.path.join(options.dest_dir, files["key_file"]), content=inspected.key_bytes, mode=KEY_MODE))
    plan.served[item.key] = {"files": files, "info": inspected.info, "namespace": item.namespace, "name": item.name}
    plan.results.append(_entry_result(item.namespace, item.name, action, note, inspected.info, files))


def _keep_previous(plan, options, namespace, name, key, previous, action, reason, info, now):
    """Leave the previously installed version in place (when there is a usable one)."""
    installed = None
    if previous is not None:
        installed = installed_info(options.dest_dir, previous, now)
        if installed is not None and os.path.isfile(os.path.join(options.dest_dir, previous["key_file"])):
            plan.served[key] = {"files": previous, "info": installed, "namespace": namespace, "name": name}
            reason = "%s (the previous files stay in place)" % reason
        else:
            installed = None
            reason = "%s (the previously installed files are missing or unreadable: dropped)" % reason
    files = previous if installed is not None else None
    plan.results.append(_entry_result(namespace, name, action, reason, info, files, _summary(installed)))


def _default_key(plan, items, installed, options):
    wanted = options.default_certificate
    if not wanted:
        return None
    candidates = [key for key, entry in plan.served.items()
                  if wanted in (entry["name"], ident_of(entry["namespace"], entry["name"]))]
    if len(candidates) > 1:
        raise SyncError("default_certificate %s matches %s: use namespace/name" % (wanted, ", ".join(sorted(candidates))))
    if candidates:
        return candidates[0]
    if any(wanted in (item.name, item.ident) for item in items):
        return None  # refused and never installed: reported with the refusal
    raise SyncError("default_certificate %s is not among the synced certificates: fix the name (namespace/name) or the selection"
                    % wanted)


def _unreferenced(dest_dir, served):
    """Managed files (and stale temporary files) in ``dest_dir`` that the new config does not use."""
    referenced = set()
    for entry in served.values():
        referenced.update((entry["files"]["cert_file"], entry["files"]["key_file"]))
    try:
        names = os.listdir(dest_dir)
    except OSError:
        return []
    return sorted(os.path.join(dest_dir, name) for name in names
                  if name not in referenced and (MANAGED_FILE.match(name) or STALE_TEMP.match(name)))


# --------------------------------------------------------------------------------------------
# Rendering


def _comment(text):
    return COMMENT_SAFE.sub("?", text)


def render_config(served, container_cert_dir, default_key=None):
    """The ``tls`` section of Traefik's file provider, sorted by key so equal input gives equal bytes."""
    lines = [CONFIG_HEADER.rstrip("\n"), "tls:"]
    if not served:
        lines.append("  certificates: []")
    else:
        lines.append("  certificates:")
    for key in sorted(served):
        entry = served[key]
        info = entry["info"]
        lines.append("    # %s  sha256 %s  notAfter %s  %s" % (
            _comment(ident_of(entry["namespace"], entry["name"])), info["fingerprint"], info["not_after"],
            _comment(" ".join(info["domains"]))))
        lines.extend(_file_pair(container_cert_dir, entry["files"], "    - ", "      "))
    if default_key is not None:
        lines += ["  stores:", "    default:", "      defaultCertificate:"]
        lines.extend(_file_pair(container_cert_dir, served[default_key]["files"], "        ", "        "))
    return "\n".join(lines) + "\n"


def _file_pair(directory, files, first, rest):
    return [
        "%scertFile: %s" % (first, json.dumps(directory.rstrip("/") + "/" + files["cert_file"])),
        "%skeyFile: %s" % (rest, json.dumps(directory.rstrip("/") + "/" + files["key_file"])),
    ]
