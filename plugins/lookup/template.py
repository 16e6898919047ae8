# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: template
short_description: Render a role's template for a file's content, without copying every variable first
version_added: 0.3.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Renders each template found in the role's (or play's) C(templates/) search path and returns its text, as
    C(ansible.builtin.template) (the lookup) does, for the C(content) of a file given to
    M(squaremcp.infra.install_files).
  - The template sees the task's variables, the C(template_*) variables and C(ansible_managed) (unless the inventory
    sets it), and O(template_vars) on top.
  - Unlike C(ansible.builtin.template), the variables are not deep-copied for every template (a shallow copy, as the
    C(ansible.builtin.template) module's action does); on a platform's inventory that copy was most of the lookup's
    time (about 0.06 s of each).
options:
  _terms:
    description: Names of the templates (relative to the C(templates/) search path, or absolute).
    required: true
  template_vars:
    description: Variables the template sees in addition to (and over) the task's.
    type: dict
    default: {}
seealso:
  - plugin: ansible.builtin.template
    plugin_type: lookup
  - module: squaremcp.infra.install_files
"""

EXAMPLES = r"""
- name: Install a unit rendered from the role's templates
  squaremcp.infra.install_files:
    files:
      - dest: /etc/systemd/system/backup.timer
        content: "{{ lookup('squaremcp.infra.template', 'backup.timer.j2', template_vars={'on_calendar': 'daily'}) }}"
        mode: "0644"
"""

RETURN = r"""
_raw:
  description: The rendered text of each template, in the order given.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.template import generate_ansible_template_vars, trust_as_template


def template_search_path(variables, template_file):
    """Where a template's includes and imports are looked for: its own directory, then each search path's templates/."""
    searchpath = [os.path.dirname(template_file)]
    for path in variables.get("ansible_search_path", []):
        searchpath.extend((os.path.join(path, "templates"), path))
    return searchpath


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        extra = self.get_option("template_vars")
        rendered = []
        for term in terms:
            template_file = self.find_file_in_search_path(variables, "templates", term)
            if not template_file:
                raise AnsibleLookupError("template %s: not found in the templates/ search path" % term)
            template_vars = generate_ansible_template_vars(term, template_file)
            if "ansible_managed" in variables:  # the inventory's own wins
                del template_vars["ansible_managed"]
            available = variables.copy()  # shallow: the template reads the variables, it does not change them
            available.update(template_vars)
            available.update(extra)
            templar = self._templar.copy_with_new_env(available_variables=available,
                                                      searchpath=template_search_path(variables, template_file))
            text = trust_as_template(self._loader.get_text_file_contents(template_file))
            rendered.append(templar.template(text, escape_backslashes=False, preserve_trailing_newlines=True))
        return rendered
