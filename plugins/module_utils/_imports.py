# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Optional libraries installed while a play runs.

Under the Mitogen strategy a module runs inside a Python that lives as long as the play, and the
collection's module_utils stay imported between tasks. One that found no PyYAML, cryptography,
kubernetes or prometheus_client would keep saying so after a task of the same run installed the
package (the first converge of a fresh host does exactly that). A module calls
:func:`forget_failed_imports` before it imports its module_utils, so they import again and find the
library. Without Mitogen every module run is a new process and nothing is cached.
"""

from __future__ import annotations

import sys
from typing import List

PREFIX = "ansible_collections.squaremcp.infra.plugins.module_utils."


def _missed_a_library(module: object) -> bool:
    """A module of ours with a ``HAS_<LIBRARY>`` flag that is False."""
    return any(name.startswith("HAS_") and getattr(module, name, None) is False for name in vars(module))


def forget_failed_imports() -> List[str]:
    """Drop every module_utils of this collection from ``sys.modules`` when one of them missed a library.

    All of them go, not just the one that missed it: the others hold their own copies of its names. Each is also
    removed from its package's attributes (``from package import module`` would find it there otherwise).
    Returns the names dropped (none when every library was found, the usual case: nothing to import again).
    """
    ours = [name for name in sys.modules if name.startswith(PREFIX) and name != __name__]
    if not any(_missed_a_library(sys.modules[name]) for name in ours):
        return []
    for name in ours:
        del sys.modules[name]
        package, _dot, child = name.rpartition(".")
        if package in sys.modules and hasattr(sys.modules[package], child):
            delattr(sys.modules[package], child)
    return ours
