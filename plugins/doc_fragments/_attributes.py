# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This doc fragment is PRIVATE to the collection: it may change at any time.

from __future__ import annotations


class ModuleDocFragment:
    # What every module of the collection declares about itself (each module adds support and details).
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled by the module has not changed in a relevant way.
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
"""

    # Modules that talk to Kubernetes (with the squaremcp.infra.k8s fragment).
    ACTIONGROUP_K8S = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/squaremcp.infra.k8s) in C(module_defaults) to set O(kubeconfig), O(context) and
      O(request_timeout) once for every module of the group.
    support: full
    membership:
      - squaremcp.infra.k8s
"""
