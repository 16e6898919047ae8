# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filter json_query: a JMESPath expression over plain data (documented in json_query.yml)."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError


def json_query(data, expression):
    """The JMESPath ``expression`` evaluated on ``data`` (first turned into plain JSON types)."""
    try:
        import jmespath  # imported when the filter runs: Ansible loads every filter file to find one filter
    except ImportError:
        raise AnsibleFilterError("squaremcp.infra.json_query needs the Python library jmespath on the control host "
                                 "(pip install jmespath)")
    try:
        plain = json.loads(json.dumps(data))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("squaremcp.infra.json_query: the input is not JSON data: %s" % exc)
    try:
        return jmespath.search(expression, plain)
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleFilterError("squaremcp.infra.json_query: %s in %r" % (exc, expression))


class FilterModule(object):
    def filters(self):
        return {"json_query": json_query}
