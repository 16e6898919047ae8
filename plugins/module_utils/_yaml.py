# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML as the modules read files they change: safe, duplicate keys refused, and error messages
that never quote the source line (it may hold a secret value)."""

from __future__ import annotations

import io
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


class _Unusual(Exception):
    """Something the event walk leaves to PyYAML's own loader or dumper."""


_STR_TAG = "tag:yaml.org,2002:str"


def _scalar(loader: Any, event: Any) -> Any:
    if event.anchor is not None or event.tag is not None:
        raise _Unusual()
    tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _STR_TAG:
        return event.value
    construct = loader.yaml_constructors.get(tag)
    if construct is None:  # merge (<<) and value (=) keys, unknown tags
        raise _Unusual()
    return construct(loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))


def _collection(loader: Any, event: Any) -> Any:
    kind = type(event)
    if kind is yaml.ScalarEvent:
        return _scalar(loader, event)
    if event.anchor is not None or event.tag is not None or kind not in (yaml.MappingStartEvent,
                                                                         yaml.SequenceStartEvent):
        raise _Unusual()  # aliases, anchors, explicit tags
    if kind is yaml.SequenceStartEvent:
        items = []
        event = loader.get_event()
        while not isinstance(event, yaml.SequenceEndEvent):
            items.append(_collection(loader, event))
            event = loader.get_event()
        return items
    mapping: Dict[Any, Any] = {}
    event = loader.get_event()
    while not isinstance(event, yaml.MappingEndEvent):
        if not isinstance(event, yaml.ScalarEvent):
            raise _Unusual()  # a collection as key
        key = _scalar(loader, event)
        if key in mapping:
            raise _Unusual()  # a duplicate: the full loader says where
        mapping[key] = _collection(loader, loader.get_event())
        event = loader.get_event()
    return mapping


def _load_events(loader: Any) -> Any:
    """The one document of the stream, built straight from the parser's events."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # document start
    data = _collection(loader, loader.get_event())
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        raise _Unusual()  # a second document
    return data


def load(text: str) -> Any:
    """One document; ``yaml.YAMLError`` for broken YAML and duplicate keys.

    Plain documents (no anchors, aliases, tags, merge keys or duplicate keys) are built from libyaml's
    events, which skips composing a node per value (about three times faster on large files); anything
    else, and every error, goes through the full loader, so results and messages are PyYAML's."""
    loader = UniqueKeyLoader(text)
    try:
        return _load_events(loader)
    except Exception:  # pylint: disable=broad-except  # anything unusual or broken: the full loader decides
        pass
    finally:
        loader.dispose()
    return yaml.load(text, Loader=UniqueKeyLoader)  # nosec B506 - a SafeLoader subclass


def load_all(text: str) -> List[Any]:
    """Every document of a stream; ``yaml.YAMLError`` as :func:`load`."""
    return list(yaml.load_all(text, Loader=UniqueKeyLoader))  # nosec B506 - a SafeLoader subclass


def comment_lines(text: str) -> List[int]:
    """1-based numbers of the lines holding a comment (``#`` outside every scalar, found with the scanner;
    libyaml's when PyYAML has it, and no scan at all for a text without ``#``)."""
    lines: List[int] = []
    if "#" not in text:
        return lines
    position, counted, line = 0, 0, 1
    try:
        for token in yaml.scan(text, Loader=_LOADER_BASE):
            # Between two tokens there is only blank space and comments.
            start = token.start_mark.index
            if "#" in text[position:start]:
                offset = position
                for piece in text[position:start].split("\n"):
                    if "#" in piece:
                        line += text.count("\n", counted, offset)
                        counted = offset
                        if not lines or lines[-1] != line:
                            lines.append(line)
                    offset += len(piece) + 1
            position = max(position, token.end_mark.index)
    except yaml.YAMLError:
        return lines
    return lines


def _node(dumper: Any, data: Any, seen: set) -> Any:
    """The node SafeRepresenter makes for ``data`` (sorted keys, block style); _Unusual for other types and for
    an object met twice (PyYAML would write an anchor)."""
    kind = type(data)
    if kind is str:
        return yaml.ScalarNode(_STR_TAG, data)
    if kind is dict or kind is list:
        if id(data) in seen:
            raise _Unusual()
        seen.add(id(data))
        if kind is list:
            return yaml.SequenceNode("tag:yaml.org,2002:seq", [_node(dumper, item, seen) for item in data],
                                     flow_style=False)
        try:
            keys = sorted(data)
        except TypeError:
            raise _Unusual() from None
        pairs = [(_node(dumper, key, seen), _node(dumper, data[key], seen)) for key in keys]
        return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=False)
    if kind in (bool, int, float) or data is None:
        return dumper.represent_data(data)
    raise _Unusual()


def dump_sorted(data: Any, width: int = 80, indent: int = 2) -> str:
    """``yaml.dump(data, Dumper=DUMPER, sort_keys=True, default_flow_style=False, allow_unicode=True, ...)``, the
    same text; for plain data (dicts, lists, scalars) the nodes are made here, without the representer's
    per-object bookkeeping."""
    options = dict(default_flow_style=False, allow_unicode=True, width=width, indent=indent)
    stream = io.StringIO()
    dumper = DUMPER(stream, sort_keys=True, **options)
    try:
        node = _node(dumper, data, set())
        dumper.open()
        dumper.serialize(node)
        dumper.close()
    except _Unusual:
        return yaml.dump(data, Dumper=DUMPER, sort_keys=True, **options)
    finally:
        dumper.dispose()
    return stream.getvalue()


def problem(exc: Exception) -> str:
    """A YAML error as ``what (line L, column C)``, without the quoted source line PyYAML adds."""
    parts = []
    for text, mark in ((getattr(exc, "context", None), getattr(exc, "context_mark", None)),
                       (getattr(exc, "problem", None), getattr(exc, "problem_mark", None))):
        if text:
            parts.append("%s%s" % (text, " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""))
    return "; ".join(parts) or type(exc).__name__
