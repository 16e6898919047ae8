# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print, as JSON, the updates unattended-upgrade would install now: {"origins": [...], "pending": ["name=version"]}.

The selection is unattended-upgrade's own (its configured origins, Package-Blacklist, whitelist,
holds and pins: UnattendedUpgradesCache.find_better_version / is_pkg_change_allowed); the role then
installs them in one apt transaction instead of unattended-upgrade's many small ones. Reads only.

Opening apt's cache takes most of a second, so the answer is kept in CACHE_FILE with what it depends on (the size and
modification time of dpkg's status, apt's lists and every file under /etc/apt, and of unattended-upgrade itself) and
given again while none of these changed. --no-cache-write (check mode) leaves the cache file as it is.
"""

import importlib.machinery
import importlib.util
import json
import os
import sys
import tempfile


UNATTENDED_UPGRADE = "/usr/bin/unattended-upgrade"
CACHE_FILE = "/var/cache/squaremcp/pending-security-updates.json"
CACHE_FORMAT = 1
INPUTS = ["/var/lib/dpkg/status", "/var/lib/apt/extended_states", "/var/lib/apt/lists",
          "/var/lib/apt/periodic/update-success-stamp", UNATTENDED_UPGRADE]


def inputs_key():
    """Size and modification time of everything the answer depends on (a path that is missing counts as such)."""
    paths = list(INPUTS)
    for directory, subdirectories, files in os.walk("/etc/apt"):
        subdirectories.sort()
        paths += [directory] + [os.path.join(directory, name) for name in sorted(files)]
    key = [CACHE_FORMAT]
    for path in paths:
        try:
            info = os.stat(path)
            key.append([path, info.st_mtime_ns, info.st_size])
        except OSError:
            key.append([path, None, None])
    return key


def cached(key):
    try:
        with open(CACHE_FILE, encoding="utf-8") as handle:
            entry = json.load(handle)
    except (OSError, ValueError):
        return None
    return entry.get("result") if isinstance(entry, dict) and entry.get("key") == key else None


def keep(key, result):
    """Write the cache atomically (root only); a cache that cannot be written is not an error."""
    try:
        os.makedirs(os.path.dirname(CACHE_FILE), mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(CACHE_FILE), prefix=".pending-")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump({"key": key, "result": result}, stream)
        os.replace(temporary, CACHE_FILE)
    except OSError:
        pass


def load_unattended_upgrade():
    loader = importlib.machinery.SourceFileLoader("unattended_upgrade", UNATTENDED_UPGRADE)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("unattended_upgrade", loader))
    loader.exec_module(module)
    return module


def pending_updates():
    import apt_pkg  # pylint: disable=import-outside-toplevel  # only when the cache cannot answer

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
    return {"origins": cache.allowed_origins, "pending": sorted(pending)}


def main(argv):
    key = inputs_key()
    result = cached(key)
    if result is None:
        result = pending_updates()
        if "--no-cache-write" not in argv:
            keep(key, result)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
