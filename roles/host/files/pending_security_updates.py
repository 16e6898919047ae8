# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print, as JSON, the updates unattended-upgrade would install now: {"origins": [...], "pending": ["name=version"]}.

The selection is unattended-upgrade's own (its configured origins, Package-Blacklist, whitelist,
holds and pins: UnattendedUpgradesCache.find_better_version / is_pkg_change_allowed); the role then
installs them in one apt transaction instead of unattended-upgrade's many small ones. Reads only.
"""

import importlib.machinery
import importlib.util
import json
import sys

import apt_pkg

UNATTENDED_UPGRADE = "/usr/bin/unattended-upgrade"


def load_unattended_upgrade():
    loader = importlib.machinery.SourceFileLoader("unattended_upgrade", UNATTENDED_UPGRADE)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("unattended_upgrade", loader))
    loader.exec_module(module)
    return module


def main():
    apt_pkg.init()
    uu = load_unattended_upgrade()
    cache = uu.UnattendedUpgradesCache(rootdir=None)
    pending = []
    for package in cache:
        if not package.is_upgradable:
            continue
        better = cache.find_better_version(package)
        if better and uu.is_pkg_change_allowed(package, cache.blacklist, cache.whitelist, cache.strict_whitelist):
            pending.append("%s=%s" % (package.name, better.version))
    json.dump({"origins": cache.allowed_origins, "pending": sorted(pending)}, sys.stdout)


if __name__ == "__main__":
    main()
