# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One runbook run as one report: JSON for tools, Markdown for people, a few lines for the screen.

:func:`build` compares the findings before and after a repair (resolved, still wrong, new) and with the previous
report of the same runbook, :func:`render_json` / :func:`render_markdown` turn it into text. Every value goes through
the collection's redaction first: a report never holds a secret value. Plain Python, unit-tested.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import typing as t

from ansible_collections.squaremcp.infra.plugins.module_utils import _runbook
from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileError, read_bytes
from ansible_collections.squaremcp.infra.plugins.module_utils._redact import redact

REPORT_VERSION = 1
# <runbook>-<UTC second>[-<n>].json: a second run within the same second gets -2, -3 ...
NAME_RE = re.compile(r"^(?P<runbook>[a-z0-9_]+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<seq>[1-9][0-9]{0,5}))?\.json$")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def paths(directory: str, runbook: str, moment: datetime.datetime) -> tuple[str, str]:
    """The report's JSON and Markdown paths: the first pair of which neither file (nor link) exists yet."""
    for seq in range(1, 1000):
        base = os.path.join(directory, "%s-%s%s" % (runbook, stamp(moment), "-%d" % seq if seq > 1 else ""))
        if not os.path.lexists(base + ".json") and not os.path.lexists(base + ".md"):
            break
    return base + ".json", base + ".md"


def previous_report(directory: str, runbook: str) -> dict[str, t.Any]:
    """The newest earlier report of ``runbook`` in ``directory``: {path, report} or {path, error} (malformed)."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return {}
    names = sorted((n for n in entries if _runbook_of(n) == runbook), key=_order, reverse=True)
    if not names:
        return {}
    path = os.path.join(directory, names[0])
    try:
        report = json.loads((read_bytes(path, follow_symlinks=False) or b"").decode("utf-8"))
        if not isinstance(report, dict) or not isinstance(report.get("findings"), list):
            raise ValueError("no findings list")
    except (FileError, ValueError) as exc:
        return {"path": path, "error": "%s is not a readable report (%s): it was not compared; move it away if it "
                                       "keeps failing" % (path, exc)}
    return {"path": path, "report": report}


def _order(name: str) -> tuple[str, int]:
    match = NAME_RE.match(name)
    return (match.group("stamp"), int(match.group("seq") or 1)) if match else ("", 0)


def _runbook_of(name: str) -> str | None:
    match = NAME_RE.match(name)
    return match.group("runbook") if match else None


def _ids(findings: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    return [f["id"] for f in findings]


def build(runbook: str, title: str, data: t.Mapping[str, t.Any], expected: t.Mapping[str, t.Any],
          data_after: t.Mapping[str, t.Any] | None = None, repair: t.Mapping[str, t.Any] | None = None,
          previous: t.Mapping[str, t.Any] | None = None, mode: str = "read-only", inventory: t.Sequence[str] = (),
          started: datetime.datetime | None = None, finished: datetime.datetime | None = None) -> dict[str, t.Any]:
    """The report of one run (redacted). ``repair``: {"requested", "steps": {step: [hosts]}, "errors": {host: msg}}."""
    repair = dict(repair or {})
    before = [f.as_dict() for f in _runbook.findings(data, expected)]
    after = [f.as_dict() for f in _runbook.findings(data_after, expected, repaired=True)] if data_after else None
    current = after if after is not None else before
    failing = [f for f in current if f["severity"] != _runbook.INFO]
    report: dict[str, t.Any] = {
        "version": REPORT_VERSION,
        "runbook": runbook,
        "title": title,
        "mode": mode,
        "inventory": list(inventory),
        "started": (started or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished": (finished or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ok": not failing,
        "findings": current,
        "repair": {"requested": bool(repair.get("requested")), "ran": data_after is not None,
                   "steps": repair.get("steps") or {}, "errors": repair.get("errors") or {}},
        "expected": expected,
        "collected": {"before": data} if data_after is None else {"before": data, "after": data_after},
    }
    if after is not None:
        before_ids, after_ids = set(_ids(before)), set(_ids(after))
        report["before"] = before
        report["resolved"] = [f for f in before if f["id"] not in after_ids]
        report["still_wrong"] = [f for f in after if f["id"] in before_ids and f["severity"] != _runbook.INFO]
        report["new"] = [f for f in after if f["id"] not in before_ids]
    report["previous"] = _against_previous(previous or {}, current)
    report["summary"] = summary_lines(report)
    return redact(report)


def _against_previous(previous: t.Mapping[str, t.Any], current: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    if not previous:
        return {}
    if previous.get("error"):
        return {"path": previous.get("path"), "error": previous["error"]}
    earlier = previous["report"]
    earlier_ids = set(_ids(f for f in earlier.get("findings", []) if isinstance(f, dict) and "id" in f))
    now_ids = set(_ids(current))
    return {"path": previous.get("path"), "finished": earlier.get("finished"),
            "new_since": sorted(now_ids - earlier_ids), "gone_since": sorted(earlier_ids - now_ids)}


def summary_lines(report: t.Mapping[str, t.Any], limit: int = 12) -> list[str]:
    """A few lines for the screen: the verdict, then the open problems with their fix."""
    current = report["findings"]
    failing = [f for f in current if f["severity"] != _runbook.INFO]
    if report["repair"]["ran"]:
        head = "%s after repair: %d of %d problem(s) resolved, %d still wrong, %d new" % (
            report["title"], len(report.get("resolved", [])), len([f for f in report.get("before", [])
                                                                   if f["severity"] != _runbook.INFO]),
            len(report.get("still_wrong", [])), len([f for f in report.get("new", []) if f["severity"] != "info"]))
    elif failing:
        head = "%s: %d problem(s) found" % (report["title"], len(failing))
    else:
        head = "%s: all clear" % report["title"]
    lines = [head]
    for finding in failing[:limit]:
        lines.append("[%s] %s: %s" % (finding["severity"], finding["host"], finding["summary"]))
    if len(failing) > limit:
        lines.append("... %d more in the report" % (len(failing) - limit))
    fixes = sorted({f["fix"] for f in failing if f["fix"]})
    for fix in fixes[:5]:
        lines.append("fix: %s" % fix)
    if report.get("previous", {}).get("error"):
        lines.append("note: %s" % report["previous"]["error"])
    return lines


def render_json(report: t.Mapping[str, t.Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


def _md(text: t.Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[list[t.Any]], head: list[str]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out + [""]


def _finding_rows(findings: t.Sequence[t.Mapping[str, t.Any]]) -> list[list[t.Any]]:
    return [[f["severity"], f["host"], f["kind"], f["summary"], f["fix"] or "-"] for f in findings]


def render_markdown(report: t.Mapping[str, t.Any]) -> str:
    """The report for people: verdict, what is wrong and how to fix it, what the repair changed, then the facts."""
    lines = ["# %s - %s" % (report["title"], report["finished"]), "",
             "Runbook `%s`, mode **%s**, inventory %s." % (report["runbook"], report["mode"],
                                                           ", ".join("`%s`" % i for i in report["inventory"]) or "-"),
             "", "**%s**" % report["summary"][0], ""]
    head = ["severity", "host", "kind", "what", "fix"]
    lines += ["## What is wrong now", ""] + _table(_finding_rows(report["findings"]), head)
    if report["repair"]["ran"]:
        lines += ["## Repair", "", "Steps run:"]
        lines += ["- %s on %s: %s" % (step, ", ".join(hosts), _runbook.REPAIR_STEPS.get(step, step))
                  for step, hosts in sorted(report["repair"]["steps"].items())] or ["- none"]
        lines += ["- error on %s: %s" % (host, _md(msg)) for host, msg in sorted(report["repair"]["errors"].items())]
        lines += ["", "### Resolved by the repair", ""] + _table(_finding_rows(report["resolved"]), head)
        lines += ["### Still wrong", ""] + _table(_finding_rows(report["still_wrong"]), head)
        lines += ["### New since the repair", ""] + _table(_finding_rows(report["new"]), head)
    elif report["repair"]["requested"]:
        lines += ["Repair was requested, but nothing needed it.", ""]
    previous = report.get("previous") or {}
    if previous.get("error"):
        lines += ["Previous report: %s" % previous["error"], ""]
    elif previous:
        lines += ["Since the previous report (%s): %d new, %d gone." % (
            previous.get("finished"), len(previous["new_since"]), len(previous["gone_since"])), ""]
    lines += _facts_markdown(report["collected"].get("after") or report["collected"]["before"])
    return "\n".join(lines).rstrip() + "\n"


def _facts_markdown(data: t.Mapping[str, t.Any]) -> list[str]:
    lines = ["## Facts collected", ""]
    for host, edge in sorted((data.get("edge") or {}).items()):
        traefik = edge.get("traefik") or {}
        container = edge.get("container") or {}
        lines += ["### Edge %s" % host, "",
                  "- Traefik container: %s, health %s" % (container.get("state") or "?", container.get("health") or "-"),
                  "- published ports (docker ps): %s" % (_md(edge.get("docker_ps") or "").strip() or "none"),
                  "- dashboard: insecure %s, API routers %s" % (
                      (traefik.get("dashboard") or {}).get("insecure"),
                      ", ".join((traefik.get("dashboard") or {}).get("routers") or []) or "none"), ""]
        lines += _table([[f["name"], "yes" if f["parses"] else "NO: " + f["error"], ", ".join(f["routers"])]
                         for f in traefik.get("files") or []], ["dynamic file", "parses", "routers"])
        lines += _table([[", ".join(c["domains"]) or "?", c["cert_file"], c["days_left"], c["error"] or ""]
                         for c in traefik.get("certificate_files") or []],
                        ["domains (file)", "file", "days left", "error"])
        lines += _table([[s["server_name"], ", ".join(s["domains"]), s["days_left"], s["error"]]
                         for s in (traefik.get("endpoint") or {}).get("served") or []],
                        ["server name (live)", "served for", "days left", "error"])
    for host, cluster in sorted((data.get("cluster") or {}).items()):
        lines += ["### Cluster (read on %s)" % host, "",
                  "- DaemonSet host ports: %s" % _md(json.dumps((cluster.get("daemonsets") or {}).get("daemonsets")
                                                                or {}, sort_keys=True)),
                  "- Ingresses no controller serves: %d" % len(cluster.get("mismatches") or []), ""]
    for host, stacks in sorted((data.get("stacks") or {}).items()):
        lines += ["### Stacks on %s" % host, ""]
        lines += _table([[s.get("project"), s.get("service"), s.get("state"), s.get("health"), s.get("restarts")]
                         for s in stacks.get("services") or []], ["stack", "service", "state", "health", "restarts"])
    for host, monitoring in sorted((data.get("monitoring") or {}).items()):
        lines += ["### Monitoring on %s" % host, ""]
        lines += ["- %s: %s" % (c, "ready" if (monitoring.get(c) or {}).get("ready") else "NOT ready")
                  for c in ("prometheus", "alertmanager") if monitoring.get(c)]
        lines += _table([[a.get("name"), a.get("severity"), a.get("state"), a.get("summary")]
                         for a in monitoring.get("alerts") or []], ["alert", "severity", "state", "summary"])
    return lines
