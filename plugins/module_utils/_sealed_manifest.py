# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest file a SealedSecret is written to (``sealed_secret``'s ``dest``).

A file that holds only this SealedSecret (or nothing) is the module's to rewrite. A file that also
holds other documents keeps them byte for byte: only the text of this SealedSecret's document is
replaced. A file the module cannot place its document in without losing something -- it does not
parse, holds another SealedSecret but not this one, or this one twice -- is refused, never
overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml

KIND = "SealedSecret"
HEADER = (
    "# SealedSecret written by squaremcp.infra.sealed_secret. Safe to commit: only the Sealed Secrets\n"
    "# controller can open it. Edit the input and run again instead of editing this file.\n"
)


class ManifestFileError(Exception):
    """The file cannot take the SealedSecret without losing content; the message says what to do."""


class _Dumper(_yaml.yaml.SafeDumper if _yaml.HAS_YAML else object):  # type: ignore[misc]
    pass


def render(manifest: Dict[str, Any], header: bool = True) -> str:
    """YAML text of ``manifest`` (stable, one document, long values never folded)."""
    text = _yaml.yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 20,
                           allow_unicode=True, explicit_start=header)
    return HEADER + text if header else text


def _metadata(doc: Dict[str, Any]) -> Dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _describe(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "a %s" % type(doc).__name__
    meta = _metadata(doc)
    return "%s %s/%s" % (doc.get("kind") or "(no kind)", meta.get("namespace") or "-", meta.get("name") or "-")


@dataclass
class DestFile:
    """``dest`` as read: this SealedSecret's current object (or None) and where its text is."""

    path: str
    name: str
    namespace: str
    text: str = ""
    existing: Optional[Dict[str, Any]] = None
    span: Optional[tuple] = None  # (start, end) of this SealedSecret's document text when others are kept
    others: List[str] = field(default_factory=list)  # the other documents, described

    @classmethod
    def read(cls, path: str, content: Optional[bytes], name: str, namespace: str) -> "DestFile":
        dest = cls(path, name, namespace)
        if not content:
            return dest
        try:
            dest.text = content.decode("utf-8")
            nodes = list(_yaml.yaml.compose_all(dest.text, Loader=_yaml.yaml.SafeLoader))
            docs = _yaml.load_all(dest.text)
        except UnicodeDecodeError:
            raise ManifestFileError("dest %s is not UTF-8 text and was left untouched: give a file of its own" % path) \
                from None
        except _yaml.yaml.YAMLError as exc:
            raise ManifestFileError("dest %s does not parse as YAML (%s) and was left untouched: fix it, or give a "
                                    "file of its own" % (path, _yaml.problem(exc))) from None
        ours = [(node, doc) for node, doc in zip(nodes, docs) if dest._is_ours(doc)]
        dest.others = [_describe(doc) for doc in docs if doc is not None and not dest._is_ours(doc)]
        if len(ours) > 1:
            raise ManifestFileError("dest %s holds %d SealedSecrets %s/%s: keep one of them and run again (file left "
                                    "untouched)" % (path, len(ours), namespace, name))
        if not ours and dest.others:
            raise ManifestFileError(
                "dest %s holds no SealedSecret %s/%s but %s: the module does not add a document to a file it does not "
                "own; give a file of its own (file left untouched)" % (path, namespace, name, ", ".join(dest.others)))
        if ours:
            node, dest.existing = ours[0]
            if dest.others:
                dest.span = (node.start_mark.index, _content_end(dest.text, node))
        return dest

    def _is_ours(self, doc: Any) -> bool:
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            return False
        meta = _metadata(doc)
        return (meta.get("name"), meta.get("namespace")) == (self.name, self.namespace)

    def content(self, manifest: Dict[str, Any]) -> bytes:
        """The new file: ``manifest`` alone, or spliced in place of the old document with the others kept."""
        if self.span is None:
            return render(manifest).encode("utf-8")
        start, end = self.span
        return (self.text[:start] + render(manifest, header=False) + self.text[end:]).encode("utf-8")


def _content_end(text: str, node: Any) -> int:
    """Index just past the line of the last value of a block node (what follows, comments included, is kept)."""
    while isinstance(node, (_yaml.yaml.MappingNode, _yaml.yaml.SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(node, _yaml.yaml.MappingNode) else last
    end = text.find("\n", max(node.end_mark.index - 1, 0))
    return len(text) if end < 0 else end + 1
