# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runbook filters over module_utils/_runbook.py (documented in runbook_findings.yml and runbook_repair_steps.yml)."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils._runbook"


def _module():
    """module_utils/_runbook.py, imported when a filter runs: Ansible loads every filter file of the collection in each
    task's worker to find one filter, so an import here would slow down every task that uses any of them."""
    return importlib.import_module(_IMPLEMENTATION)


def runbook_findings(data, expected, repaired=False):
    """Collected data + what the inventory expects -> findings (list of dicts)."""
    if not isinstance(data, dict) or not isinstance(expected, dict):
        raise AnsibleFilterError("runbook_findings: give the collected data and the expectations as dicts")
    try:
        return [f.as_dict() for f in _module().findings(data, expected, repaired)]
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise AnsibleFilterError("runbook_findings: unexpected collected data (%s)" % exc)


def runbook_data(collected, phase, targets):
    """{host: runbook_collected} of the targeted hosts -> the collected data of ``phase``."""
    if not isinstance(collected, dict) or not isinstance(targets, list):
        raise AnsibleFilterError("runbook_data: give {host: runbook_collected} and the list of targeted hosts")
    return _module().assemble(collected, phase, targets)


def runbook_edge_expectations(host_vars):
    """One edge host's variables -> what its Traefik should hold (routers per file, managed files, container)."""
    if not hasattr(host_vars, "get"):
        raise AnsibleFilterError("runbook_edge_expectations: give the host's variables (hostvars[host])")
    return _module().edge_expectations(host_vars)


def runbook_collects_stacks(host_vars):
    """One Docker host's variables -> whether the runbooks read and restore its stacks."""
    if not hasattr(host_vars, "get"):
        raise AnsibleFilterError("runbook_collects_stacks: give the host's variables (hostvars[host])")
    return _module().collects_stacks(host_vars)


def runbook_http_ready(url, answers):
    """A component's URL and {url: uri result} of the /-/ready probes -> {url, ready, error}."""
    if not isinstance(answers, dict):
        raise AnsibleFilterError("runbook_http_ready: give {url: uri result}")
    return _module().http_ready(url, answers)


def runbook_repair_steps(findings):
    """Findings -> {step: [hosts]} the repair runs."""
    if not isinstance(findings, list):
        raise AnsibleFilterError("runbook_repair_steps: give a list of findings")
    return _module().repair_steps(findings)


def runbook_quarantine_files(findings, host, managed_files):
    """Files of ``host`` the repair moves to quarantine (hand-added route files no role owns)."""
    if not isinstance(findings, list):
        raise AnsibleFilterError("runbook_quarantine_files: give a list of findings")
    return _module().quarantine_files(findings, host, managed_files or [])


class FilterModule(object):
    def filters(self):
        return {"runbook_collects_stacks": runbook_collects_stacks, "runbook_data": runbook_data,
                "runbook_edge_expectations": runbook_edge_expectations,
                "runbook_findings": runbook_findings, "runbook_http_ready": runbook_http_ready,
                "runbook_repair_steps": runbook_repair_steps,
                "runbook_quarantine_files": runbook_quarantine_files}
