# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of squaremcp.infra.traefik_routes: reads ``routes_file`` on the controller.

Thousands of routes given as task arguments are templated by Ansible in the worker before the module starts (about
2 s at 5,000 routers) and then serialised, shipped and deep-copied as nested data; read here from a JSON or YAML file
they go to the module as one JSON text (``routes_json``), which it parses once.
"""

from __future__ import annotations

import json
import os

import yaml

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _routes_json(self, source):
        """The file's routes as one JSON text (a JSON file as it is: the module parses it once)."""
        try:
            path = self._find_needle("files", source)
        except AnsibleError as exc:
            raise AnsibleActionFail("routes_file %s: not found on the controller (%s)" % (source, to_text(exc)))
        real = self._loader.get_real_file(path, decrypt=True)  # a vault-encrypted file is decrypted in memory
        try:
            with open(real, "rb") as handle:
                data = handle.read()
        finally:
            self._loader.cleanup_tmp_file(real)
        try:
            if os.path.splitext(path)[1].lower() == ".json":
                return to_text(data, errors="surrogate_or_strict")
            return json.dumps(yaml.load(data, Loader=_LOADER))  # nosec - a safe loader
        except (UnicodeError, yaml.YAMLError, TypeError, ValueError) as exc:
            raise AnsibleActionFail("routes_file %s does not parse: %s" % (path, to_text(exc)))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        source = args.pop("routes_file", None)
        if source:
            if args.get("routes_json") is not None:
                raise AnsibleActionFail("give routes_file or routes_json, not both")
            args["routes_json"] = self._routes_json(source)
        result.update(self._execute_module(module_name="squaremcp.infra.traefik_routes", module_args=args,
                                           task_vars=task_vars))
        return result
