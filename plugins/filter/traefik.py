# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Traefik filters: thin wrappers over module_utils/_traefik_rules.py and _traefik_keys.py (documented in
traefik_rule.yml, traefik_rule_hosts.yml and traefik_htpasswd_problems.yml beside this file)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# module_utils are imported in the filters: Ansible imports every filter file of the collection in each task's worker.


def traefik_rule(hosts=None, path_prefixes=None, paths=None, methods=None, headers=None):
    """Hosts (+ paths, path prefixes, methods, headers) -> one valid Traefik v3 rule string."""
    from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import RuleError, build_rule

    try:
        return build_rule(hosts=hosts, path_prefixes=path_prefixes, paths=paths, methods=methods, headers=headers)
    except RuleError as exc:
        raise AnsibleFilterError("squaremcp.infra.traefik_rule: %s" % exc)


def traefik_rule_hosts(rule, tcp=False):
    """The host names a v3 rule matches (Host, or HostSNI for tcp=true), in order."""
    from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import RuleError, rule_hosts

    try:
        return rule_hosts(rule, tcp=tcp)
    except RuleError as exc:
        raise AnsibleFilterError("squaremcp.infra.traefik_rule_hosts: %r: %s" % (rule, exc))


def traefik_htpasswd_problems(lines):
    """One message per basicAuth users line that is not name:hash (bcrypt, apr1 or SHA1); no secret in them."""
    from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import htpasswd_problems

    if not isinstance(lines, (list, tuple)):
        raise AnsibleFilterError("squaremcp.infra.traefik_htpasswd_problems: give a list of htpasswd lines")
    return htpasswd_problems(lines)


class FilterModule(object):
    def filters(self):
        return {"traefik_rule": traefik_rule, "traefik_rule_hosts": traefik_rule_hosts,
                "traefik_htpasswd_problems": traefik_htpasswd_problems}
