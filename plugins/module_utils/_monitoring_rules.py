# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus rule files of the monitoring role: the alert contract and the `for:` overrides.

The role ships plain rule files (``roles/monitoring/files/rules/*.rules.yml``) and accepts more from
the inventory. Before anything is written, every file must parse, every alert must carry a
``severity`` label (``warning`` or ``critical``) and a ``summary`` annotation, and no alert name may
be defined twice. PromQL itself is checked by ``promtool`` when the file is put in place.

A file is deployed byte for byte, unless ``monitoring_alert_for`` shortens or lengthens the ``for:``
of one of its alerts (the Molecule scenario does, so a page arrives in seconds): that file is
re-serialised with the new durations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

try:  # the controller always has PyYAML (Ansible needs it); module_utils must import without it
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

SEVERITIES = ("warning", "critical")
RULE_SUFFIX = ".rules.yml"
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_duration(text: Any) -> Optional[float]:
    """Seconds in a Prometheus duration (``1h30m``, ``500ms``, ``0s``); None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    return sum(int(value) * unit for value, unit in zip(match.groups(), _UNITS) if value)


@dataclass
class RuleSource:
    """One rule file: its deployed name, where it came from (for messages) and its text."""

    name: str
    origin: str
    text: str


@dataclass
class RuleFiles:
    """The files to deploy (name -> text), every alert name with its file, and the problems found."""

    files: Dict[str, str] = field(default_factory=dict)
    alerts: Dict[str, str] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)


def _check_alert(rule: Mapping[str, Any], where: str, problems: List[str]) -> None:
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    if not isinstance(labels, dict) or labels.get("severity") not in SEVERITIES:
        problems.append("%s: labels.severity must be one of %s (got %r)"
                        % (where, " or ".join(SEVERITIES), labels.get("severity") if isinstance(labels, dict) else labels))
    if not isinstance(annotations, dict) or not str(annotations.get("summary") or "").strip():
        problems.append("%s: annotations.summary is missing: say what is wrong and where, for the person paged" % where)
    if "for" in rule and parse_duration(rule["for"]) is None:
        problems.append("%s: for: %r is not a Prometheus duration (e.g. 5m)" % (where, rule["for"]))


def _alerts_of(source: RuleSource, problems: List[str]) -> Tuple[Optional[dict], List[Tuple[str, dict]]]:
    """Parse one file; (document, [(alert name, rule)]) or (None, []) after recording why not."""
    try:
        document = yaml.safe_load(source.text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = " at line %d" % (mark.line + 1) if mark is not None else ""
        problems.append("%s: not valid YAML%s (%s)" % (source.origin, line, getattr(exc, "problem", None) or exc))
        return None, []
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list) or not groups:
        problems.append("%s: a rule file is a mapping with a non-empty `groups:` list" % source.origin)
        return None, []
    alerts = []
    for index, group in enumerate(groups):
        rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(rules, list) or not group.get("name"):
            problems.append("%s: groups[%d] needs a name and a `rules:` list" % (source.origin, index))
            continue
        for rule in rules:
            if not isinstance(rule, dict) or ("alert" in rule) == ("record" in rule):
                problems.append("%s: group %s: every rule has exactly one of `alert:` or `record:`" % (source.origin, group["name"]))
                continue
            if "alert" in rule:
                where = "%s: alert %s" % (source.origin, rule["alert"])
                if not isinstance(rule["alert"], str) or not _NAME.match(rule["alert"]):
                    problems.append("%s: the alert name must be a metric-style name" % where)
                    continue
                _check_alert(rule, where, problems)
                alerts.append((rule["alert"], rule))
    return document, alerts


def build_rule_files(sources: List[RuleSource], for_overrides: Mapping[str, str],
                     overrides_variable: str = "monitoring_alert_for") -> RuleFiles:
    """Check ``sources`` against the alert contract and apply the ``for:`` overrides."""
    result = RuleFiles()
    if yaml is None:
        result.problems.append("PyYAML is missing on the controller: install it (Ansible itself needs it)")
        return result
    documents = []
    for source in sources:
        if not source.name.endswith(RULE_SUFFIX) or "/" in source.name or source.name.startswith("."):
            result.problems.append("%s: the file name must end in %s (Prometheus loads rules/*%s)" % (source.origin, RULE_SUFFIX, RULE_SUFFIX))
            continue
        if source.name in {doc[0].name for doc in documents}:
            result.problems.append("%s: a rule file named %s is already loaded (%s): rename one"
                                   % (source.origin, source.name, next(d[0].origin for d in documents if d[0].name == source.name)))
            continue
        document, alerts = _alerts_of(source, result.problems)
        if document is None:
            continue
        for name, _rule in alerts:
            if name in result.alerts:
                result.problems.append("alert %s is defined twice: in %s and in %s; Prometheus would evaluate both and page "
                                       "twice: keep one" % (name, result.alerts[name], source.origin))
            else:
                result.alerts[name] = source.origin
        documents.append((source, document, alerts))
    for name, duration in sorted((for_overrides or {}).items()):
        if name not in result.alerts:
            result.problems.append("%s: no alert named %s in the rule files (known: %s)"
                                   % (overrides_variable, name, ", ".join(sorted(result.alerts)) or "none"))
        elif parse_duration(duration) is None:
            result.problems.append("%s.%s: %r is not a Prometheus duration (e.g. 30s, 5m)" % (overrides_variable, name, duration))
    if result.problems:
        return result
    for source, document, alerts in documents:
        changed = False
        for name, rule in alerts:
            if name in (for_overrides or {}):
                rule["for"] = for_overrides[name]
                changed = True
        if changed:
            header = ("# %s with the `for:` durations of %s (the role's source keeps the comments).\n"
                      % (source.name, overrides_variable))
            result.files[source.name] = header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False,
                                                                width=1000, allow_unicode=True)
        else:
            result.files[source.name] = source.text
    return result
