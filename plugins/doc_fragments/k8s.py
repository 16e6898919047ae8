# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Connection options shared by the modules that talk to Kubernetes (module_utils/k8s.py).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of the kubeconfig to use.
      - Without it the C(kubernetes) client's own rules apply (E(KUBECONFIG), C(~/.kube/config), then the
        in-cluster service account). Pass it explicitly in automation so a stray config cannot leak in.
    type: path
  context:
    description:
      - Context of O(kubeconfig) to use instead of its C(current-context).
    type: str
  request_timeout:
    description:
      - Seconds to wait for each API request.
    type: int
    default: 30
requirements:
  - kubernetes >= 24.2.0 (Python library)
"""
