#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: traefik_routes
short_description: Manage Traefik v3 routers, services and middlewares in one file of the file provider's directory
version_added: 0.1.0
description:
  - Declares HTTP routers, services and middlewares (Traefik's own key names) in one YAML file of the directory
    that Traefik's file provider watches, and validates the result before anything is written.
  - Validation covers the Traefik v3 rule syntax (known matchers, one backtick-quoted value per matcher, balanced
    parentheses, C(&&) C(||) C(!)); v2 forms such as two values in one C(Host) matcher or C(HostRegexp) with
    C({name:regexp}) placeholders are refused with the v3 spelling in the message, and so is C(Host) with a C(*)
    (v3 compares the literal name; the message gives the C(HostRegexp) to use).
  - It also checks that every service, middleware and TLS options reference resolves (in this file, in another file
    of the same directory, or as C(name@provider)), that no router, service or middleware name is defined in two files
    of the directory (Traefik silently keeps the first), that removing or changing an entry does not break a reference
    from another file of the directory (a router there that still uses a service or middleware of this file), that
    services have at least one server URL that parses, that no router reaches the Traefik API (C(api@internal))
    without an authentication middleware and TLS, and that no key is unknown to Traefik v3.
  - An existing file that does not parse, or any other file of the directory that does not parse, is reported and
    nothing is written.
  - The file is written atomically (temporary file in the same directory, then rename) with sorted keys, so diffs
    stay small; an unchanged run does not touch the file.
  - Runs on the same directory (two plays, a timer and a person) take turns on a lock on the directory, and a file
    that changed on disk while the module worked is not overwritten, so no update is lost.
  - A failed run changes nothing and reports nothing as added, updated or removed; every problem is reported once,
    located by the inventory variable (O(origin)) or the file it comes from.
  - Other sections of the file (C(tcp), C(udp), C(tls), C(http.serversTransports)) are kept as they are.
author:
  - SquareMCP platform team (@squaremcp)
requirements:
  - PyYAML on the target (Debian C(python3-yaml))
options:
  path:
    description:
      - The file to manage, inside the file provider's directory, for example C(/opt/traefik/dynamic/routes.yml).
      - A symbolic link is refused, because the module replaces a regular file and never writes, chmods or chowns
        through a link.
      - Every other C(.yml), C(.yaml) and C(.toml) file of its directory (and of its subdirectories) is read to resolve
        references and to find duplicate names.
    type: path
    required: true
  routers:
    description:
      - HTTP routers, name -> definition (C(rule), C(service), C(entryPoints), C(middlewares), C(priority), C(tls) with
        C(certResolver), C(domains), C(options)).
      - With O(state=absent), the names to remove (a list, or a mapping whose values are ignored).
    type: raw
  services:
    description:
      - HTTP services, name -> definition with exactly one of C(loadBalancer) (C(servers[].url), C(healthCheck),
        C(passHostHeader), C(sticky) ...), C(weighted), C(mirroring), C(failover).
      - With O(state=absent), the names to remove.
    type: raw
  middlewares:
    description:
      - HTTP middlewares, name -> definition with exactly one kind (C(basicAuth), C(headers), C(redirectScheme),
        C(rateLimit), C(ipAllowList), C(stripPrefix), C(chain) ...).
      - Values of secret-bearing keys (C(basicAuth) and C(digestAuth) C(users), C(rateLimit.redis.password)) are
        redacted in the diff and masked in the whole result, including the task arguments Ansible shows with
        C(-vvv); messages name their type, never their value.
      - With O(state=absent), the names to remove.
    type: raw
  routes_file:
    description:
      - A JSON (C(.json)) or YAML file on the controller holding a mapping with any of C(routers), C(services) and
        C(middlewares), read by the action plugin and given to the module as those options (a relative path is looked
        up as M(ansible.builtin.copy) looks up C(src), in the role's or playbook's C(files/) first; a vault-encrypted
        file is decrypted in memory).
      - For thousands of routes. Given as task arguments, Ansible templates them in the worker before the module
        starts (about 2 s at 5,000 routers); read from a file they skip that.
      - A kind may come from the file or from the task, not both.
    type: path
  routes_json:
    description:
      - The same mapping as one JSON text; the action plugin sets it from O(routes_file). It can also be given
        directly, for example C("{{ lookup('ansible.builtin.file', 'routes.json') }}") (a string is not templated
        into nested data, so it is cheaper than O(routers) and O(services) for thousands of entries).
      - Left out of the result's C(invocation) below C(-vvv), like O(routers).
    type: str
  state:
    description:
      - V(present) adds or replaces the given entries (each entry is replaced as a whole).
      - V(absent) removes the named entries.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description:
      - With O(state=present), remove every router, service and middleware of this file that is not given, so
        the file holds exactly what is declared (a route deleted from the inventory disappears from the host).
    type: bool
    default: false
  validate:
    description:
      - Validate the resulting file in its directory before writing. Turn off only to repair a directory whose
        other files you cannot fix first.
    type: bool
    default: true
  static_config:
    description:
      - Traefik's static configuration file. When given (and present), router C(entryPoints) and C(tls.certResolver)
        must exist in it.
    type: path
  backup:
    description:
      - Keep a timestamped copy of the previous file when it changes.
    type: bool
    default: false
  origin:
    description:
      - Where O(routers), O(services) and O(middlewares) come from, for messages. Keys are C(routers), C(services)
        and C(middlewares), values the names of the inventory variables, for example C(traefik_routes_routers).
      - A problem of an entry given by the task is then reported by the variable and key to edit, for example
        C(traefik_routes_routers.ab.rule), instead of by its place in the file.
    type: dict
  mode:
    description:
      - Permissions of the file, octal (for example V('0644')) or symbolic (for example V(u=rw,g=r,o=)). An existing
        file keeps its mode when not given.
      - Checked before anything is written, like O(owner) and O(group); an invalid value fails with the file untouched.
    type: raw
extends_documentation_fragment:
  - ansible.builtin.files
  - squaremcp.infra._attributes
attributes:
  action:
    support: full
    description: Has an action plugin, which reads O(routes_file) on the controller.
    details: Everything else runs on the host.
  check_mode:
    support: full
    details: Validates and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: Shows the file before and after (secret-bearing keys such as basicAuth users redacted).
  idempotent:
    support: full
  platform:
    support: full
    details: Runs on the Traefik host; needs only Python and PyYAML there.
notes:
  - Only the HTTP section is managed as options; tcp/udp/tls sections of the file are validated and kept.
  - Below verbosity 3 (C(-vvv)) the result's C(invocation.module_args) leaves out O(routers), O(services) and
    O(middlewares), which Ansible does not show there anyway; with thousands of routes, sending them back cost
    seconds per run. From C(-vvv) on they are included, secret values masked.
  - Regular expressions are checked with Python's C(re) after refusing constructs that Go's RE2 lacks
    (lookaround, backreferences, atomic groups, possessive quantifiers); that is close to, not identical with, Go.
seealso:
  - name: Traefik file provider
    description: How Traefik reads a directory of dynamic configuration files.
    link: https://doc.traefik.io/traefik/providers/file/
  - name: Traefik v3 rule syntax
    description: Matchers and operators of Traefik v3 router rules.
    link: https://doc.traefik.io/traefik/routing/routers/#rule
"""

EXAMPLES = r"""
- name: Thousands of routes kept in a JSON file beside the playbook (files/routes.json), pruned to exactly those
  squaremcp.infra.traefik_routes:
    path: /opt/traefik/dynamic/routes.yml
    routes_file: routes.json
    prune: true

- name: Route the commercial site and send the pilot form to Hermes
  squaremcp.infra.traefik_routes:
    path: /opt/traefik/dynamic/routes.yml
    static_config: /opt/traefik/traefik.yml
    prune: true
    origin:
      routers: traefik_routes_routers
      services: traefik_routes_services
      middlewares: traefik_routes_middlewares
    routers:
      site:
        rule: Host(`squaremcp.com`) || Host(`www.squaremcp.com`)
        entryPoints: [websecure]
        service: site
        tls:
          certResolver: letsencrypt
      hermes-pilot:
        rule: "{{ ['squaremcp.com', 'www.squaremcp.com'] | squaremcp.infra.traefik_rule(paths=['/api/pilot-request']) }}"
        entryPoints: [websecure]
        priority: 100
        service: hermes
        middlewares: [security-headers]
        tls:
          certResolver: letsencrypt
    services:
      site:
        loadBalancer:
          servers:
            - url: http://site:80
      hermes:
        loadBalancer:
          servers:
            - url: http://hermes-mcp:3000
          healthCheck:
            path: /health
            interval: 10s
    middlewares:
      security-headers:
        headers:
          stsSeconds: 31536000
          contentTypeNosniff: true

- name: Remove one router and leave the rest of the file alone
  squaremcp.infra.traefik_routes:
    path: /opt/traefik/dynamic/routes.yml
    state: absent
    routers: [old-landing]
"""

RETURN = r"""
path:
  description: The managed file.
  returned: always
  type: str
  sample: /opt/traefik/dynamic/routes.yml
routers:
  description: Router names added, updated (definition changed) and removed by this run (or, in check mode, that would be).
  returned: success
  type: dict
  contains:
    added:
      description: Names that were not in the file.
      type: list
      elements: str
    updated:
      description: Names whose definition changed.
      type: list
      elements: str
    removed:
      description: Names removed from the file.
      type: list
      elements: str
  sample: {"added": ["hermes-pilot"], "updated": [], "removed": ["old-landing"]}
services:
  description: Like RV(routers), for services.
  returned: success
  type: dict
  sample: {"added": [], "updated": ["hermes"], "removed": []}
middlewares:
  description: Like RV(routers), for middlewares.
  returned: success
  type: dict
  sample: {"added": [], "updated": [], "removed": []}
backup_file:
  description: The backup of the previous file, when O(backup=true) and the file changed.
  returned: changed and backup requested
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _traefik_config as traefik
from ansible_collections.squaremcp.infra.plugins.module_utils._files import (
    FileError, lock_directory, read_bytes, write_file)
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import (
    HTTP_MIDDLEWARE_KINDS, secret_strings, url_credentials)
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_references import Context, validate


def _wanted(module):
    """{kind: value} of the entry options, shape-checked for the chosen state."""
    wanted = {}
    for kind in traefik.KINDS:
        value = module.params[kind]
        if value is None:
            continue
        where = (module.params["origin"] or {}).get(kind) or kind
        if module.params["state"] == "absent":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, dict)):
                module.fail_json(msg="%s: with state=absent give the names to remove (a list), got %s"
                                 % (where, type(value).__name__))
        elif not isinstance(value, dict):
            module.fail_json(msg="%s: must be a mapping of name -> %s definition, got %s (a list of names is only "
                                 "accepted with state=absent)" % (where, kind[:-1], type(value).__name__))
        wanted[kind] = value
    return wanted


def _load_current(module, path):
    try:
        raw = read_bytes(path, follow_symlinks=False)
    except FileError as exc:
        module.fail_json(msg="%s (the file was left untouched)" % exc, path=path)
    if raw is None:
        return raw, {}
    try:
        text = raw.decode("utf-8")
        doc = traefik.load_text(text, path)
    except UnicodeDecodeError:
        module.fail_json(msg="the existing %s is not UTF-8 text and was left untouched: fix or remove it first" % path,
                         path=path)
    except traefik.TraefikConfigError as exc:
        module.fail_json(msg="the existing %s is not valid YAML and was left untouched: fix or remove it first (%s)"
                         % (path, exc), path=path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        module.fail_json(msg="the existing %s does not hold a mapping and was left untouched: fix or remove it first"
                         % path, path=path)
    comments = traefik.foreign_comments(text)
    if comments:
        module.fail_json(msg="the existing %s has comments (line %s) that the module would drop, since it writes the "
                             "file from data; it was left untouched: move what they say into the inventory (or "
                             "another file of the directory) and remove them, or remove the file"
                         % (path, ", ".join(str(line) for line in comments)), path=path)
    return raw, doc


def _context(module, path):
    static = None
    static_path = module.params["static_config"]
    if static_path:
        if os.path.exists(static_path):
            static = traefik.load_file(static_path)
        else:
            module.warn("static_config %s does not exist (yet): entry points and certificate resolvers were not "
                        "checked" % static_path)
    return Context(traefik.load_directory(os.path.dirname(path), exclude=[path]), static)


def _diff(path, raw, current, new, content):
    before_doc, before_secret = traefik.redact(current)
    after_doc, after_secret = traefik.redact(new)
    if before_secret or after_secret:
        before = traefik.render(before_doc) if raw is not None else ""
        after = traefik.render(after_doc)
    else:
        before = raw.decode("utf-8") if raw is not None else ""
        after = content.decode("utf-8")
    return {"before": before, "after": after, "before_header": path, "after_header": path}


def _problems(module, path, wanted, new, current):
    """Every validation problem, once, located by the inventory variable when the task says where entries come from."""
    try:
        problems = validate(new, _context(module, path), where=os.path.basename(path), previous=current)
    except traefik.TraefikConfigError as exc:
        problems = exc.problems
    given = {kind: list(wanted[kind]) for kind in wanted if module.params["state"] == "present"}
    problems = traefik.relocate(problems, os.path.basename(path), module.params["origin"] or {}, given)
    return list(dict.fromkeys(problems))


def run(module, path):
    """Read, merge, validate and write under the directory's lock; returns the result."""
    wanted = _wanted(module)
    raw, current = _load_current(module, path)
    new, changes = traefik.merge(current, wanted, state=module.params["state"], prune=module.params["prune"])
    if module.params["validate"]:
        problems = _problems(module, path, wanted, new, current)
        if problems:
            module.fail_json(msg="%s was left untouched: %d problem%s: %s" % (
                path, len(problems), "s" if len(problems) > 1 else "", "; ".join(problems)), changed=False, path=path)
    content = traefik.render(new).encode("utf-8")
    result = dict(changed=False, path=path, **changes)
    try:
        changed, backup_file = write_file(module, path, content, mode=module.params["mode"],
                                          owner=module.params["owner"], group=module.params["group"],
                                          backup=module.params["backup"], check_missing_dirs=True, expect=raw)
    except FileError as exc:
        if exc.changed:
            module.fail_json(msg=str(exc), changed=True, path=path)
        module.fail_json(msg="%s was left untouched: %s" % (path, exc), changed=False, path=path)
    result["changed"] = changed
    if backup_file:
        result["backup_file"] = backup_file
    if module._diff and content != raw:
        result["diff"] = _diff(path, raw, current, new, content)
    return result


def routes_from_json(module):
    """Set routers, services and middlewares from ``routes_json`` (fails on a bad document or a kind given twice)."""
    try:
        doc = json.loads(module.params["routes_json"])
    except ValueError as exc:
        module.fail_json(msg="routes_json (or routes_file) is not JSON: %s" % exc)
    if not isinstance(doc, dict):
        module.fail_json(msg="routes_json (or routes_file) must hold a mapping with routers, services and/or "
                             "middlewares, got %s" % type(doc).__name__)
    unknown = sorted(str(key) for key in doc if key not in traefik.KINDS)
    if unknown:
        module.fail_json(msg="routes_json (or routes_file): unknown top-level key(s) %s (only %s)"
                             % (", ".join(unknown), ", ".join(traefik.KINDS)))
    both = sorted(kind for kind in doc if module.params[kind] is not None)
    if both:
        module.fail_json(msg="%s given both in routes_json (or routes_file) and in the task: keep them in one place"
                             % ", ".join(both))
    module.params.update(doc)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            routers=dict(type="raw"),
            services=dict(type="raw"),
            middlewares=dict(type="raw"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            prune=dict(type="bool", default=False),
            validate=dict(type="bool", default=True),
            static_config=dict(type="path"),
            backup=dict(type="bool", default=False),
            origin=dict(type="dict"),
            routes_file=dict(type="path"),
            routes_json=dict(type="str"),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    if module.params["routes_json"] is not None:
        routes_from_json(module)
    # Values of secret-bearing keys (users, passwords, credentials in URLs), also of the wrong type, are masked
    # in the whole result.
    middlewares = module.params["middlewares"] if isinstance(module.params["middlewares"], dict) else {}
    for entry in middlewares.values():
        module.no_log_values.update(value for value in secret_strings(entry, HTTP_MIDDLEWARE_KINDS) if value)
    for kind in traefik.KINDS:
        module.no_log_values.update(url_credentials(module.params[kind]))
    if module.params["routes_file"]:
        module.fail_json(msg="routes_file is read on the controller by the collection's action plugin; call the module "
                             "as squaremcp.infra.traefik_routes in a task (not with ansible -m ... -a through another "
                             "action), or give routers, services and middlewares directly")
    if not traefik.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (Debian: python3-yaml)"))
    path = module.params["path"]
    if os.path.isdir(path) and not os.path.islink(path):
        module.fail_json(msg="path %s is a directory: give the file inside the file provider's directory, e.g. %s"
                         % (path, os.path.join(path, "routes.yml")))
    if os.path.splitext(path)[1].lower() not in (".yml", ".yaml"):
        module.fail_json(msg="path %s: the module writes YAML and Traefik reads a file by its extension, so give a "
                             ".yml or .yaml file (e.g. %s)" % (path, os.path.splitext(path)[0] + ".yml"))
    try:
        with lock_directory(path):
            result = run(module, path)
    except FileError as exc:
        module.fail_json(msg="%s was left untouched: %s" % (path, exc), changed=False, path=path)
    if module._verbosity < 3:
        # Thousands of routes would travel back for nothing: Ansible shows the invocation from -vvv on.
        result["invocation"] = {"module_args": {key: value for key, value in module.params.items()
                                                if key not in traefik.KINDS and key != "routes_json"}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
