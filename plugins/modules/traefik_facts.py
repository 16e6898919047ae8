#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: traefik_facts
short_description: Read what a Traefik edge host holds and serves (read-only)
version_added: 0.1.0
description:
  - Reads the static configuration (does it parse, is the API/dashboard insecure, entry point ports), every file of
    the dynamic directory (does it parse, its routers and their host names), the certificate files the dynamic
    configuration references (domains, days left) and, over a TLS handshake per server name (SNI), the certificate
    the live HTTPS endpoint serves.
  - Used by the runbooks (C(playbooks/runbooks/edge_outage.yml)) and by the C(traefik) role, which stops its route
    sync while a file of the directory does not parse (Traefik then drops every file-provider route).
  - Changes nothing, in every mode.
author:
  - SquareMCP platform team (@squaremcp)
requirements:
  - PyYAML and cryptography on the target (Debian C(python3-yaml), C(python3-cryptography))
options:
  config_dir:
    description: Traefik's configuration directory on the host (C(traefik.yml), C(dynamic/), C(certs/)).
    type: path
    default: /opt/traefik
  container_config_dir:
    description:
      - Where the container sees O(config_dir); certificate paths in the dynamic configuration that start with it are
        read under O(config_dir).
    type: str
    default: /etc/traefik
  endpoint_host:
    description: Address of the HTTPS entry point to probe.
    type: str
    default: 127.0.0.1
  endpoint_port:
    description: Port of the HTTPS entry point; V(0) skips the live probe.
    type: int
    default: 443
  server_names:
    description: Server names to probe besides the host names of every TLS router found in the dynamic directory.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds per connection attempt.
    type: float
    default: 5
  certificates:
    description:
      - Read the certificate files and probe the certificate served per name (needs C(cryptography) on the target).
      - V(false) reads only the configuration files (what the C(traefik) role does before it syncs routes).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Read-only; the same in check mode.
  diff_mode:
    support: N/A
    description: Reads only; there is nothing to show a diff of.
  platform:
    support: full
    description: Runs on the Traefik host with Python, PyYAML and (for certificates) cryptography.
    platforms: posix
"""

EXAMPLES = r"""
- name: Read the edge as it is
  squaremcp.infra.traefik_facts:
    config_dir: /opt/traefik
  register: edge

- name: Name the files Traefik cannot parse
  ansible.builtin.debug:
    msg: "{{ edge.unparsable }}"
"""

RETURN = r"""
static:
  description: The static configuration.
  returned: always
  type: dict
  sample: {"path": "/opt/traefik/traefik.yml", "exists": true, "parses": true, "error": "", "api_insecure": false,
           "dashboard": true, "entry_points": {"web": 80, "websecure": 443, "internal": 8082}, "problems": []}
files:
  description: Every file of the dynamic directory, in the order Traefik reads them.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/opt/traefik/dynamic/routes.yml", "name": "routes.yml", "parses": true, "error": "",
            "routers": ["hermes", "site"]}]
unparsable:
  description: Paths of the dynamic files that do not parse.
  returned: always
  type: list
  elements: str
routers:
  description: Router name -> file, rule, host names, service, entry points, middlewares, tls (the first file wins).
  returned: always
  type: dict
duplicate_routers:
  description: Router names defined in more than one file.
  returned: always
  type: list
  elements: dict
dashboard:
  description: C(insecure) (api.insecure), C(routers) to api@internal, C(unprotected) ones (no auth middleware or TLS).
  returned: always
  type: dict
certificate_files:
  description: Certificate files referenced by tls.certificates, with C(domains), C(not_after), C(days_left), C(error).
  returned: always
  type: list
  elements: dict
endpoint:
  description: C(answered) (TCP), C(error), and per server name the certificate C(served) (domains, days left, covers).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _edge
from ansible_collections.squaremcp.infra.plugins.module_utils import _cert_inspect as certs
from ansible_collections.squaremcp.infra.plugins.module_utils import _traefik_config as traefik


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/opt/traefik"),
            container_config_dir=dict(type="str", default="/etc/traefik"),
            endpoint_host=dict(type="str", default="127.0.0.1"),
            endpoint_port=dict(type="int", default=443),
            server_names=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=5.0),
            certificates=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not traefik.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (Debian: python3-yaml)"))
    if module.params["certificates"] and not certs.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography (Debian: python3-cryptography)"))
    params = module.params
    facts = _edge.collect(params["config_dir"], params["container_config_dir"], params["endpoint_host"],
                          params["endpoint_port"] or None, params["server_names"], params["timeout"],
                          params["certificates"])
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
