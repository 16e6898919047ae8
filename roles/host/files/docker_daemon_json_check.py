# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a Docker ``daemon.json`` before it is put in place (engines without ``dockerd --validate``).

Docker 23.0+ validates its own file (``dockerd --validate --config-file FILE``). Debian bookworm's
20.10 cannot, and it refuses to start on a bad file, so the host role runs this script as the
``validate:`` command there: ``python3 docker_daemon_json_check.py FILE``. Exit 0 when the file is
good, 1 with one line per problem on stderr otherwise, 2 on usage errors. Standard library only.

Checked: JSON syntax, a top-level object, keys dockerd 20.10 knows (it refuses unknown ones), the
value type of every known key, and the formats of the keys this collection sets (``metrics-addr``,
``log-opts`` of the json-file/local drivers, ``default-address-pools``), plus keys that are known
to stop Debian's docker.service from starting (``hosts`` clashes with ``-H fd://``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys

STR, BOOL, INT = "a string", "a boolean", "an integer"
LIST_STR, LIST_DICT = "a list of strings", "a list of objects"
DICT, DICT_STR, DICT_BOOL = "an object", "an object of strings", "an object of booleans"

# dockerd 20.10 daemon.json keys (Linux) and their JSON types.
KEYS = {
    "allow-nondistributable-artifacts": LIST_STR,
    "api-cors-header": STR,
    "authorization-plugins": LIST_STR,
    "bip": STR,
    "bridge": STR,
    "builder": DICT,
    "cgroup-parent": STR,
    "cluster-advertise": STR,
    "cluster-store": STR,
    "cluster-store-opts": DICT_STR,
    "containerd": STR,
    "containerd-namespace": STR,
    "containerd-plugin-namespace": STR,
    "cpu-rt-period": INT,
    "cpu-rt-runtime": INT,
    "cri-containerd": BOOL,
    "data-root": STR,
    "debug": BOOL,
    "default-address-pools": LIST_DICT,
    "default-cgroupns-mode": STR,
    "default-gateway": STR,
    "default-gateway-v6": STR,
    "default-ipc-mode": STR,
    "default-runtime": STR,
    "default-shm-size": STR,
    "default-ulimits": DICT,
    "dns": LIST_STR,
    "dns-opts": LIST_STR,
    "dns-search": LIST_STR,
    "exec-opts": LIST_STR,
    "exec-root": STR,
    "experimental": BOOL,
    "features": DICT_BOOL,
    "fixed-cidr": STR,
    "fixed-cidr-v6": STR,
    "group": STR,
    "host-gateway-ip": STR,
    "hosts": LIST_STR,
    "icc": BOOL,
    "init": BOOL,
    "init-path": STR,
    "insecure-registries": LIST_STR,
    "ip": STR,
    "ip-forward": BOOL,
    "ip-masq": BOOL,
    "ip6tables": BOOL,
    "iptables": BOOL,
    "ipv6": BOOL,
    "labels": LIST_STR,
    "live-restore": BOOL,
    "log-driver": STR,
    "log-level": STR,
    "log-opts": DICT_STR,
    "max-concurrent-downloads": INT,
    "max-concurrent-uploads": INT,
    "max-download-attempts": INT,
    "metrics-addr": STR,
    "mtu": INT,
    "network-control-plane-mtu": INT,
    "no-new-privileges": BOOL,
    "node-generic-resources": LIST_STR,
    "oom-score-adjust": INT,
    "pidfile": STR,
    "raw-logs": BOOL,
    "registry-mirrors": LIST_STR,
    "runtimes": DICT,
    "seccomp-profile": STR,
    "selinux-enabled": BOOL,
    "shutdown-timeout": INT,
    "storage-driver": STR,
    "storage-opts": LIST_STR,
    "swarm-default-advertise-addr": STR,
    "tls": BOOL,
    "tlscacert": STR,
    "tlscert": STR,
    "tlskey": STR,
    "tlsverify": BOOL,
    "userland-proxy": BOOL,
    "userland-proxy-path": STR,
    "userns-remap": STR,
}

ENUMS = {
    "log-level": ("debug", "info", "warn", "error", "fatal"),
    "default-cgroupns-mode": ("host", "private"),
    "default-ipc-mode": ("private", "shareable"),
}

# Options the file-based log drivers accept (dockerd refuses others at start-up).
LOG_OPTS = {
    "json-file": {"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"},
    "local": {"max-size", "max-file", "compress"},
}

# Keys that clash with a flag on Debian's docker.service command line (dockerd -H fd://).
SERVICE_FLAG_KEYS = {"hosts": "-H fd://"}

SIZE_RE = re.compile(r"^\d+(\.\d+)? ?[kKmMgGtTpP]?[iI]?[bB]?$")


def _type_ok(value, kind):
    """True when ``value`` (decoded JSON) has the JSON type ``kind``."""
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == STR:
        return isinstance(value, str)
    if kind == LIST_STR:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == LIST_DICT:
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)
    if kind == DICT_STR:
        return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())
    if kind == DICT_BOOL:
        return isinstance(value, dict) and all(isinstance(item, bool) for item in value.values())
    return isinstance(value, dict)


def _check_listen_address(value):
    """Problems with a ``host:port`` listen address such as ``127.0.0.1:9323`` or ``[::1]:9323``."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return ["metrics-addr %r must be HOST:PORT with a port 1-65535, e.g. 127.0.0.1:9323" % value]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return ["metrics-addr %r: %r is not an IPv6 address" % (value, host)]
    elif ":" in host:
        return ["metrics-addr %r: write an IPv6 address in brackets, e.g. [::1]:9323" % value]
    return []


def _check_log_opts(config):
    driver = config.get("log-driver", "json-file")
    opts = config.get("log-opts", {})
    problems = []
    allowed = LOG_OPTS.get(driver)
    if allowed is not None:
        for name in sorted(set(opts) - allowed):
            problems.append(
                "log-opts: %r is not an option of the %s log driver (allowed: %s)"
                % (name, driver, ", ".join(sorted(allowed)))
            )
    if "max-size" in opts and not SIZE_RE.match(opts["max-size"]):
        problems.append("log-opts: max-size %r is not a size such as 10m or 1g" % opts["max-size"])
    if "max-file" in opts and not (opts["max-file"].isdigit() and int(opts["max-file"]) >= 1):
        problems.append("log-opts: max-file %r must be a whole number >= 1, written as a string" % opts["max-file"])
    if "compress" in opts and opts["compress"] not in ("true", "false"):
        problems.append("log-opts: compress %r must be the string \"true\" or \"false\"" % opts["compress"])
    return problems


def _check_address_pools(pools):
    problems = []
    for index, pool in enumerate(pools):
        try:
            network = ipaddress.ip_network(pool.get("base", ""), strict=False)
        except ValueError:
            problems.append("default-address-pools[%d]: base %r is not a CIDR such as 10.200.0.0/16" % (index, pool.get("base")))
            continue
        size = pool.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or not network.prefixlen <= size <= network.max_prefixlen:
            problems.append(
                "default-address-pools[%d]: size %r must be an integer between %d and %d"
                % (index, size, network.prefixlen, network.max_prefixlen)
            )
        for key in sorted(set(pool) - {"base", "size"}):
            problems.append("default-address-pools[%d]: unknown key %r (only base and size)" % (index, key))
    return problems


def check_config(config):
    """Return the list of problems in a decoded daemon.json (empty when it is good)."""
    if not isinstance(config, dict):
        return ["the top level must be a JSON object ({...}), not %s" % type(config).__name__]
    problems = []
    for key in sorted(config):
        kind = KEYS.get(key)
        if kind is None:
            problems.append(
                "unknown key %r: dockerd 20.10 refuses to start with it (check the spelling; a key of a newer "
                "engine needs that engine, whose own `dockerd --validate` is then used)" % key
            )
        elif not _type_ok(config[key], kind):
            problems.append("%r must be %s, not %s" % (key, kind, json.dumps(config[key])))
        elif key in ENUMS and config[key] not in ENUMS[key]:
            problems.append("%r must be one of %s, not %r" % (key, ", ".join(ENUMS[key]), config[key]))
        elif key in SERVICE_FLAG_KEYS:
            problems.append(
                "%r clashes with %s on docker.service's command line and dockerd would not start: "
                "set it with a systemd drop-in instead" % (key, SERVICE_FLAG_KEYS[key])
            )
    if problems:
        return problems
    if "metrics-addr" in config:
        problems += _check_listen_address(config["metrics-addr"])
    if "log-opts" in config or "log-driver" in config:
        problems += _check_log_opts(config)
    if "default-address-pools" in config:
        problems += _check_address_pools(config["default-address-pools"])
    return problems


def check_text(text):
    """Return the problems of daemon.json content given as text."""
    try:
        config = json.loads(text)
    except ValueError as exc:
        return ["not valid JSON: %s" % exc]
    return check_config(config)


def main(argv=None):
    """Command line: check FILE, print problems to stderr, exit 0 (good), 1 (bad) or 2 (usage)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: docker_daemon_json_check.py FILE\n")
        return 2
    try:
        with open(args[0], encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write("%s: cannot read: %s\n" % (args[0], exc))
        return 2
    problems = check_text(text)
    for problem in problems:
        sys.stderr.write("%s: %s\n" % (args[0], problem))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
