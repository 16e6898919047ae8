# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML as the modules read files they change: safe, duplicate keys refused, and error messages
that never quote the source line (it may hold a secret value)."""

from __future__ import annotations

import traceback
from typing import Any, Dict, List

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
    _LOADER_BASE: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    DUMPER: Any = getattr(yaml, "CSafeDumper", None) or yaml.SafeDumper
except ImportError:  # pragma: no cover - reported by the callers
    yaml = None  # type: ignore[assignment]
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
    _LOADER_BASE = object
    DUMPER = None


class UniqueKeyLoader(_LOADER_BASE):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: Any, node: Any, deep: bool = False) -> Dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: Dict[Any, int] = {}
    for key_node, _value_node in node.value:
        # Scalar keys compare by tag and text (cheap); anything else is constructed.
        key = (key_node.tag, key_node.value) if isinstance(key_node, yaml.ScalarNode) else \
            loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                "found duplicate key %r (first at line %d)" % (
                    key[1] if isinstance(key, tuple) else key, seen[key] + 1), key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


if HAS_YAML:
    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str) -> Any:
    """One document; ``yaml.YAMLError`` for broken YAML and duplicate keys."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # nosec B506 - a SafeLoader subclass


def load_all(text: str) -> List[Any]:
    """Every document of a stream; ``yaml.YAMLError`` as :func:`load`."""
    return list(yaml.load_all(text, Loader=UniqueKeyLoader))  # nosec B506 - a SafeLoader subclass


def _lines_of(text: str, start: int, end: int) -> List[tuple]:
    """(offset, text) of each line piece of ``text[start:end]``."""
    pieces, offset = [], start
    for piece in text[start:end].split("\n"):
        pieces.append((offset, piece))
        offset += len(piece) + 1
    return pieces


def comment_lines(text: str) -> List[int]:
    """1-based numbers of the lines holding a comment (``#`` outside every scalar, found with the scanner)."""
    lines: List[int] = []
    position = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            # Between two tokens there is only blank space and comments.
            for offset, line_text in _lines_of(text, position, token.start_mark.index):
                if "#" in line_text:
                    line = text.count("\n", 0, offset) + 1
                    if line not in lines:
                        lines.append(line)
            position = max(position, token.end_mark.index)
    except yaml.YAMLError:
        return lines
    return lines


def problem(exc: Exception) -> str:
    """A YAML error as ``what (line L, column C)``, without the quoted source line PyYAML adds."""
    parts = []
    for text, mark in ((getattr(exc, "context", None), getattr(exc, "context_mark", None)),
                       (getattr(exc, "problem", None), getattr(exc, "problem_mark", None))):
        if text:
            parts.append("%s%s" % (text, " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""))
    return "; ".join(parts) or type(exc).__name__
