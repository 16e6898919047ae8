# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Traefik file-provider files: load a file or a directory as Traefik reads it, merge the entries a
task declares into a file, render it stably, redact its secrets for diffs, and check a file on disk
(what the traefik role's checker runs). Nothing here writes files.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_checks import check_static
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import HTTP_MIDDLEWARE_KINDS, redact_shape
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_references import Context, names_of, validate

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11 on the target
    tomllib = None  # type: ignore[assignment]

HAS_YAML = _yaml.HAS_YAML
HEADER = "# Managed by squaremcp.infra.traefik_routes: edits here are overwritten on the next run.\n"
KINDS = ("routers", "services", "middlewares")
EXTENSIONS = (".yml", ".yaml", ".toml")


class TraefikConfigError(Exception):
    """Configuration problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _need_yaml() -> None:
    if not HAS_YAML:
        raise TraefikConfigError(["PyYAML is missing on this host: install python3-yaml (Debian) or PyYAML"])


def load_text(text: str, name: str) -> Any:
    """Parse one file's text (YAML, or TOML by extension); raise TraefikConfigError naming the file.
    Duplicate keys are refused; messages never quote the file's lines."""
    _need_yaml()
    if name.lower().endswith(".toml"):
        if tomllib is None:
            raise TraefikConfigError(["%s: cannot read TOML without Python 3.11 (tomllib)" % name])
        try:
            return tomllib.loads(text)
        except ValueError as exc:
            raise TraefikConfigError(["%s does not parse as TOML: %s" % (name, exc)]) from None
    try:
        return _yaml.load(text)
    except _yaml.yaml.YAMLError as exc:
        raise TraefikConfigError(["%s does not parse as YAML: %s" % (name, _yaml.problem(exc))]) from None


def load_file(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise TraefikConfigError(["cannot read %s: %s" % (path, exc.strerror or exc)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraefikConfigError(["%s is not UTF-8 text" % path]) from None
    return load_text(text, path)


def directory_files(directory: str, exclude: Sequence[str] = ()) -> List[str]:
    """Files Traefik's file provider reads in ``directory``, in its order: .yml/.yaml/.toml files (a link to
    a file is read), subdirectories recursively (a link to a directory is not followed, as in Traefik)."""
    excluded = set(os.path.realpath(p) for p in exclude)
    found: List[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return found
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            found.extend(directory_files(entry.path, exclude))
        elif os.path.splitext(entry.name)[1].lower() in EXTENSIONS and os.path.realpath(entry.path) not in excluded:
            found.append(entry.path)
    return found


def load_directory(directory: str, exclude: Sequence[str] = ()) -> Dict[str, Any]:
    """{path: document} for the other files of the directory; every unparsable one is a problem."""
    docs: Dict[str, Any] = {}
    problems: List[str] = []
    for path in directory_files(directory, exclude):
        try:
            docs[path] = load_file(path)
        except TraefikConfigError as exc:
            problems.extend("%s (Traefik drops every file-provider route while a file is broken: fix or remove it)"
                            % p for p in exc.problems)
    if problems:
        raise TraefikConfigError(problems)
    return docs


_INT_KEYS = ("priority", "weight", "port", "status", "amount", "attempts", "responseCode", "stsSeconds",
             "accessControlMaxAge", "maxBodySize", "burst", "depth", "rejectStatusCode")


def normalize(value: Any) -> Any:
    """Deep copy without nulls; integer-looking strings under integer keys become integers."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            item = normalize(item)
            if key in _INT_KEYS and isinstance(item, str) and re.match(r"^-?\d+$", item.strip()):
                item = int(item)
            out[str(key)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    return value


def http_entries(doc: Any) -> Dict[str, Dict[str, Any]]:
    """{kind: {name: entry}} of the http routers/services/middlewares of a document."""
    return {kind: dict(names_of(doc, "http", kind)) for kind in KINDS}


def merge(current_doc: Any, wanted: Dict[str, Any], state: str = "present",
          prune: bool = False) -> Tuple[Dict[str, Any], Dict[str, Dict[str, List[str]]]]:
    """Apply ``wanted`` ({kind: {name: entry}} or, for absent, {kind: [names]}) to a document.

    Returns (new document, changes) where changes is {kind: {"added": [...], "updated": [...],
    "removed": [...]}}. Other sections of the document (tcp, udp, tls, http.serversTransports)
    are kept as they are.
    """
    current = http_entries(current_doc)
    new = {kind: ({} if prune and state == "present" else dict(current[kind])) for kind in KINDS}
    for kind in KINDS:
        given = wanted.get(kind)
        if given is None:
            continue
        if state == "present":
            for name, entry in given.items():
                new[kind][str(name)] = normalize(entry)
        else:
            for name in given:
                new[kind].pop(str(name), None)
    changes = {}
    for kind in KINDS:
        before, after = current[kind], new[kind]
        changes[kind] = {
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "updated": sorted(n for n in set(after) & set(before) if after[n] != before[n]),
        }
    # Shallow copies: entries are replaced, never modified in place, so the input stays intact.
    doc = dict(current_doc) if isinstance(current_doc, dict) else {}
    http = dict(doc["http"]) if isinstance(doc.get("http"), dict) else {}
    for kind in KINDS:
        if new[kind]:
            http[kind] = new[kind]
        else:
            http.pop(kind, None)
    if http:
        doc["http"] = http
    else:
        doc.pop("http", None)
    return doc, changes


def render(doc: Any) -> str:
    """Stable text of a document: header, sorted keys, block style; identical input gives identical bytes."""
    _need_yaml()
    body = _yaml.dump_sorted(doc or {}, width=4096, indent=2)
    return HEADER + body


def foreign_comments(text: str) -> List[int]:
    """Lines of ``text`` with a comment the module did not write (its header is its own)."""
    if text.startswith(HEADER) and "#" not in text[len(HEADER):]:
        return []  # the module's own file: no scan needed
    lines = _yaml.comment_lines(text)
    return [line for line in lines if not (line == 1 and text.startswith(HEADER))]


def redact(doc: Any) -> Tuple[Any, bool]:
    """Copy of ``doc`` with every secret-bearing middleware key redacted (for diffs), and whether there was one."""
    middlewares = names_of(doc, "http", "middlewares")
    if not middlewares:
        return doc, False
    found = False
    redacted = {}
    for name, middleware in middlewares.items():
        redacted[name], hidden = redact_shape(middleware, HTTP_MIDDLEWARE_KINDS)
        found |= hidden
    out = dict(doc)
    out["http"] = dict(doc["http"], middlewares=redacted)
    return out, found


def relocate(problems: Sequence[str], where: str, origins: Mapping[str, str],
             given: Mapping[str, Sequence[str]]) -> List[str]:
    """Problems located by the inventory variable an entry came from: ``routes.yml: http.routers.ab.rule: ...``
    becomes ``traefik_routes_routers.ab.rule: ...`` when router ``ab`` came from ``origins["routers"]``
    (``given``: the names each option declared). Other problems keep the file's location."""
    out = []
    for problem in problems:
        for kind, origin in origins.items():
            head = "%s: http.%s" % (where, kind)
            if not origin or not problem.startswith(head):
                continue
            rest = problem[len(head):]
            if rest.startswith(": "):
                problem = origin + rest
                break
            name = max((n for n in given.get(kind, ()) if rest.startswith("." + n) and rest[len(n) + 1:][:1] in (
                ".", ":", "[")), key=len, default=None)
            if name is not None:
                problem = "%s.%s%s" % (origin, name, rest[len(name) + 1:])
                break
        out.append(problem)
    return out


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraefikConfigError(["cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc)]) from None


def check_path(mode: str, path: str, directory: Optional[str] = None, name: Optional[str] = None,
               static: Optional[str] = None) -> List[str]:
    """Problems of one file on disk: ``mode`` is ``static`` or ``dynamic`` (what the role's checker runs)."""
    try:
        doc = load_text(_read_text(path), name or path)
    except TraefikConfigError as exc:
        return exc.problems
    if mode == "static":
        return check_static(doc)
    try:
        exclude = [os.path.join(directory, name)] if directory and name else [path]
        others = load_directory(directory, exclude=exclude) if directory else {}
        static_doc = load_file(static) if static else None
    except TraefikConfigError as exc:
        return exc.problems
    previous = None
    if directory and os.path.isfile(exclude[0]) and os.path.realpath(exclude[0]) != os.path.realpath(path):
        try:
            previous = load_file(exclude[0])  # the file this one replaces: what the other files may rely on
        except TraefikConfigError:
            previous = None
    return validate(doc, Context(others, static_doc), where=name or os.path.basename(path), previous=previous)
