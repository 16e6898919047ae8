# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Monitoring filter: a thin wrapper over module_utils/_monitoring.py (documented in monitoring_config.yml)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _plain(value):
    """Plain dict/list/str/int/float/bool/None copies of Ansible's (tagged, lazy) template values."""
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (str, bytes)):
        return str(value) if isinstance(value, str) else value.decode("utf-8", "replace")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Sequence):
        return [_plain(item) for item in value]
    raise AnsibleFilterError("squaremcp.infra.monitoring_config: cannot use a value of type %s" % type(value).__name__)


def monitoring_config(options):
    """The monitoring role's options -> {files, rule_files, secret_files, problems}."""
    # Imported here: Ansible imports every filter file of the collection in each task's worker.
    from ansible_collections.squaremcp.infra.plugins.module_utils._monitoring import build

    if not isinstance(options, Mapping):
        raise AnsibleFilterError("squaremcp.infra.monitoring_config expects the role's options as a mapping")
    try:
        plain = _plain(options)
        return build(plain).as_dict(str(plain.get("config_group") or ""))
    except KeyError as exc:
        raise AnsibleFilterError("squaremcp.infra.monitoring_config: option %s is missing" % exc)


class FilterModule(object):
    def filters(self):
        return {"monitoring_config": monitoring_config}
