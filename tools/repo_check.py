# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository check: no plaintext Kubernetes Secret manifest and no private key outside test fixtures.

Scans every text file git knows about, whatever its name (tracked, plus new files that are not
ignored, so a mistake is caught before it is committed); files with a NUL byte are binary and skipped:

* plaintext Secrets: any mapping with ``kind: Secret`` and a ``data`` or ``stringData`` value that is
  not empty, not a Jinja expression (``{{ vault_... }}``, rendered from the vault at run time) and not
  an inline ``!vault`` value, also inside other documents (e.g. a ``kubernetes.core.k8s`` task's
  ``definition``).
  - YAML, JSON and Jinja template files (by name) are parsed whole (multi-document). One that cannot be
    parsed even after masking Jinja is reported when it has a ``kind: Secret`` line and a
    ``data:``/``stringData:`` line: a security check errs on the side of asking.
  - Every other file that mentions ``kind: Secret`` (``hermes-k8s.yaml.bak``, ``notes.txt``, a file
    without extension, Markdown, a script) is parsed whole as YAML too; when that finds no Secret, the
    YAML block around each ``kind: Secret`` line (a manifest in a Markdown fence, a heredoc, a string in
    code) is parsed on its own. Blocks that do not parse as YAML (code, prose) are not reported.
* private keys: PEM ``... PRIVATE KEY`` blocks (PKCS#1/#8, EC, encrypted, OpenSSH) with a body, and
  PuTTY key files, in any text file.

Never reported: ansible-vault encrypted files, ``SealedSecret`` objects, and the paths in ALLOWLIST.
Output names files, documents and key names, never values. Exit status 0 clean, 1 findings.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys

import yaml

# Explicit allowlist: (glob, why). Nothing else is exempt.
ALLOWLIST = (
    ("tests/fixtures/*", "test fixtures: example manifests and throwaway keys with obviously fake values"),
    ("tests/integration/test_ingress_class.py", "canary Secrets that prove ingress diffs never show Secret values"),
    ("tests/unit/test_ingress_manifests.py", "canary Secrets that prove ingress diffs never show Secret values"),
    ("tests/integration/test_bad_input_ingress_class.py", "a canary Secret that proves refusals never show its value"),
)

YAML_SUFFIXES = (".yml", ".yaml", ".json", ".yml.j2", ".yaml.j2", ".json.j2", ".j2")
MAX_BYTES = 5 * 1024 * 1024
VAULT_HEADER = b"$ANSIBLE_VAULT;"
PRIVATE_KEY_RE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----"
    r"[A-Za-z0-9+/=\s:,.\\\-]{40,}?"
    r"-----END \1PRIVATE KEY-----"
)
PUTTY_RE = re.compile(r"^PuTTY-User-Key-File-\d+: ", re.MULTILINE)
JINJA_EXPR_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
JINJA_STMT_RE = re.compile(r"\{%-?.*?-?%\}|\{#.*?#\}", re.DOTALL)
JINJA_PLACEHOLDER = "__jinja_expression__"
SECRET_LINE_RE = re.compile(r"^\s*(-\s+)?[\"']?kind[\"']?\s*:\s*[\"']?Secret[\"']?\s*,?\s*$", re.MULTILINE)
DATA_LINE_RE = re.compile(r"^\s*(-\s+)?[\"']?(data|stringData)[\"']?\s*:", re.MULTILINE)
SECRET_MENTION_RE = re.compile(r"[\"']?\bkind[\"']?\s*:\s*[\"']?Secret\b")  # block, flow or JSON style
BLOCK_KEY_RE = re.compile(r"^\s*[\"']?[A-Za-z0-9_.$/-]+[\"']?\s*:(\s|$)")  # "key:" opening a YAML line


class _VaultValue(str):
    """An inline ``!vault`` value: encrypted, never plaintext."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!vault", lambda loader, node: _VaultValue(loader.construct_scalar(node)))
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def allowed(path):
    return any(fnmatch.fnmatch(path, pattern) for pattern, _why in ALLOWLIST)


def repo_files(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout
    return sorted({name for name in out.decode("utf-8", "surrogateescape").split("\0") if name})


def _templated(value):
    """True for a value rendered at run time: only Jinja expressions (and whitespace)."""
    return isinstance(value, str) and JINJA_PLACEHOLDER in value and not value.replace(JINJA_PLACEHOLDER, "").strip()


def _plaintext_keys(values):
    if not isinstance(values, dict):
        return []
    return sorted(str(key) for key, value in values.items()
                  if value not in (None, "") and not isinstance(value, _VaultValue) and not _templated(value))


def _secrets(node):
    """Every mapping in ``node`` (recursively) that is a Kubernetes Secret."""
    if isinstance(node, dict):
        if node.get("kind") == "Secret" and str(node.get("apiVersion", "v1")) in ("v1", JINJA_PLACEHOLDER):
            yield node
        for value in node.values():
            yield from _secrets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secrets(value)


def mask_jinja(text):
    """``text`` with Jinja statements dropped and expressions replaced by a placeholder."""
    text = JINJA_STMT_RE.sub("", text)
    return JINJA_EXPR_RE.sub(JINJA_PLACEHOLDER, text)


def parse_documents(text):
    """The YAML documents in ``text`` (Jinja masked), or None when it is not YAML."""
    masked = mask_jinja(text) if "{{" in text or "{%" in text or "{#" in text else text
    try:
        return list(yaml.load_all(masked, Loader=_Loader))
    except yaml.YAMLError:
        return None


def plaintext_secrets(documents):
    """``(document number, "namespace/name", "data keys ...")`` for every Secret holding plaintext values."""
    found = []
    for index, document in enumerate(documents, 1):
        for secret in _secrets(document):
            keys = {field: _plaintext_keys(secret.get(field)) for field in ("data", "stringData")}
            keys = {field: names for field, names in keys.items() if names}
            if not keys:
                continue
            metadata = secret.get("metadata") if isinstance(secret.get("metadata"), dict) else {}
            where = ("%s/%s" % (metadata.get("namespace", "?"), metadata.get("name", "?"))).replace(
                JINJA_PLACEHOLDER, "{{...}}")
            fields = "; ".join("%s keys %s" % (field, ", ".join(names)) for field, names in sorted(keys.items()))
            found.append((index, where, fields))
    return found


FIX = ("seal it (squaremcp.infra.sealed_secret or playbooks/runbooks/seal_plaintext_secrets.yml), remove the "
       "file from git and rotate the values")


def secret_findings(path, text):
    """Findings of a file parsed whole (YAML by name, or any file that parses as YAML)."""
    documents = parse_documents(text)
    if documents is None:
        if SECRET_LINE_RE.search(text) and DATA_LINE_RE.search(text):
            return ["%s: cannot be parsed, and it has a 'kind: Secret' with data/stringData: move the values "
                    "into a SealedSecret (or fix the file)" % path]
        return []
    return ["%s: document %d: plaintext Secret %s (%s): %s" % (path, index, where, fields, FIX)
            for index, where, fields in plaintext_secrets(documents)]


def _in_block(line, indent):
    """True when ``line`` continues a YAML mapping whose keys start at column ``indent``."""
    if not line.strip():
        return True
    current = len(line) - len(line.lstrip(" "))
    return current > indent or (current == indent and bool(BLOCK_KEY_RE.match(line)))


def embedded_blocks(text):
    """``(line number, YAML text)`` of the mapping around each ``kind: Secret`` line: the lines at its
    indentation that look like ``key:`` and everything indented deeper, dedented."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not SECRET_LINE_RE.match(line):
            continue
        body = line.lstrip(" ")
        if body.startswith("-"):  # "- kind: Secret": the mapping starts after the dash
            line = line.replace("-", " ", 1)
        indent = len(line) - len(line.lstrip(" "))
        start, end = index, index + 1
        while start > 0 and _in_block(lines[start - 1], indent):
            start -= 1
        while end < len(lines) and _in_block(lines[end], indent):
            end += 1
        block = lines[start:index] + [line] + lines[index + 1:end]
        yield start + 1, "\n".join(text_line[indent:] for text_line in block) + "\n"


def embedded_secret_findings(path, text):
    """Findings of a file that is not YAML by name: parsed whole, else block by block."""
    documents = parse_documents(text)
    if documents is not None and plaintext_secrets(documents):
        return secret_findings(path, text)
    findings = []
    for line, block in embedded_blocks(text):
        documents = parse_documents(block)
        if documents is None:  # code or prose around a "kind: Secret" line, not a manifest
            continue
        findings += ["%s:%d: embedded plaintext Secret %s (%s): %s" % (path, line, where, fields, FIX)
                     for _index, where, fields in plaintext_secrets(documents)]
    return findings


def key_findings(path, text):
    findings = []
    for match in PRIVATE_KEY_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        findings.append("%s:%d: %sPRIVATE KEY block: remove it from the repository (and replace the key: it "
                        "is compromised once pushed)" % (path, line, match.group(1)))
    for match in PUTTY_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        findings.append("%s:%d: PuTTY private key file: remove it from the repository" % (path, line))
    return findings


def check_file(root, path):
    full = os.path.join(root, path)
    if not os.path.isfile(full) or os.path.islink(full) or os.path.getsize(full) > MAX_BYTES:
        return []
    with open(full, "rb") as handle:
        content = handle.read()
    if content.lstrip().startswith(VAULT_HEADER) or b"\0" in content:
        return []
    text = content.decode("utf-8", "replace")
    findings = key_findings(path, text)
    if path.endswith(YAML_SUFFIXES):
        findings += secret_findings(path, text)
    elif SECRET_MENTION_RE.search(text):
        findings += embedded_secret_findings(path, text)
    return findings


def check(root):
    findings = []
    for path in repo_files(root):
        if not allowed(path):
            findings += check_file(root, path)
    return findings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="repository to check (default: this checkout)")
    parser.add_argument("--json", action="store_true", help="print the findings as a JSON list")
    args = parser.parse_args(argv)
    findings = check(args.root)
    if args.json:
        print(json.dumps(findings, indent=2))
    else:
        for finding in findings:
            print(finding)
        print("repo-check: %s (allowlist: %s)" % (
            "%d finding(s)" % len(findings) if findings else "no plaintext Secret and no private key",
            ", ".join(pattern for pattern, _why in ALLOWLIST)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
