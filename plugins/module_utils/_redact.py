# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secret values in text and structures (drift reports, runbook reports): PEM private keys, values
of keys that name a secret, htpasswd and crypt hashes, passwords in URLs, Kubernetes Secret data.

Linear-time regular expressions (bounded repetitions, look-behinds): a diff of any size costs one pass.
"""

from __future__ import annotations

import re
import typing as t

REDACTED = "<redacted>"

_SECRET_KEY = (r"[A-Za-z0-9_.-]{0,40}(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|credential"
               r"|authorization|bearer)[A-Za-z0-9_.-]{0,40}")
_PEM_KEY_RE = re.compile(r"(-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----).*?(-----END \2PRIVATE KEY-----)", re.DOTALL)
_PEM_OPEN_RE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:(?!-----END )[\s\S])+\Z")  # cut off
_KEY_VALUE_RE = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<key>[\"']?%s[\"']?)(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?P<value>(?![|>][-+0-9]*[ \t]*$)[^\s][^\n]*)" % _SECRET_KEY, re.IGNORECASE | re.MULTILINE)
_HASH_RE = re.compile(r"(?<![^\s\"'])(?P<name>[^\s:\"']{1,64}):"
                      r"(?P<hash>\$(?:2[aby]|apr1|[156])\$[^\s:\"']+|\{SHA\}[A-Za-z0-9+/=]+)")
_URL_PASSWORD_RE = re.compile(r"(?<![a-z0-9+.-])(?P<head>[a-z][a-z0-9+.-]{0,30}://[^/\s:@]{1,256}:)"
                              r"(?P<password>[^@\s/]+)(?P<at>@)", re.IGNORECASE)
_SECRET_KEY_RE = re.compile(r"^%s$" % _SECRET_KEY, re.IGNORECASE)
# Keys that name where a secret is, not the secret (secretName, password_file, tokenPath ...).
_REFERENCE_SUFFIXES = ("name", "ref", "file", "path", "dir", "mode", "enabled")


def _secret_key(key: str) -> bool:
    key = key.strip("\"'").lower()
    return bool(_SECRET_KEY_RE.match(key)) and not key.endswith(_REFERENCE_SUFFIXES)


def redact_text(text: str) -> str:
    """``text`` with every value that looks secret replaced by ``<redacted>``."""
    text = _PEM_KEY_RE.sub(lambda m: "%s\n%s\n%s" % (m.group(1), REDACTED, m.group(3)), text)
    text = _PEM_OPEN_RE.sub(lambda m: m.group(0).split("\n", 1)[0] + "\n" + REDACTED, text)
    text = _URL_PASSWORD_RE.sub(lambda m: m.group("head") + REDACTED + m.group("at"), text)
    text = _HASH_RE.sub(lambda m: m.group("name") + ":" + REDACTED, text)
    return _KEY_VALUE_RE.sub(_redact_value, text)


def _redact_value(match: re.Match) -> str:
    key, value = match.group("key"), match.group("value")
    # 'name': <prose> is how Ansible quotes a variable in a message; 'name': 'value' is a mapping entry.
    if not _secret_key(key) or (key[:1] in "'\"" and value[:1] not in "'\"0123456789"):
        return match.group(0)
    return key + match.group("sep") + _quoted_redacted(value)


def _quoted_redacted(value: str) -> str:
    """A quoted value (or number) loses what is inside the quotes and keeps the rest of the line; anything else
    is redacted to the end of the line."""
    quote = value[:1]
    if quote in ("'", '"'):
        end = value.find(quote, 1)
        return quote + REDACTED + (value[end:] if end > 0 else quote)
    number = re.match(r"[0-9][0-9.]*", value)
    if number and value[number.end():number.end() + 1] in (",", "}", "]", ""):
        return REDACTED + value[number.end():]
    return REDACTED + ("," if value.rstrip().endswith(",") else "")


def redact(value: t.Any, _key: str = "") -> t.Any:
    """Deep copy of ``value`` with secrets redacted: strings through :func:`redact_text`, the values of
    mapping keys that name a secret, and the ``data``/``stringData`` of Kubernetes Secrets."""
    if isinstance(value, str):
        return REDACTED if _key and _secret_key(_key) and value else redact_text(value)
    if isinstance(value, dict):
        secret_kind = value.get("kind") == "Secret"
        out = {}
        for key, item in value.items():
            if secret_kind and key in ("data", "stringData") and isinstance(item, dict):
                out[key] = {name: REDACTED for name in item}
            else:
                out[key] = redact(item, str(key))
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, _key) for item in value]
    return value
