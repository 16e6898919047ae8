# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""microk8s command output and the decisions the microk8s role takes on it.

Plain Python for the role's filters and the unit tests. The formats follow canonical/microk8s
``scripts/wrappers/status.py`` (``print_yaml``) and ``scripts/wrappers/add_token.py``; recorded
examples live in tests/fixtures/microk8s with their sources.
"""

from __future__ import annotations

import json
import re

EDGE_PORTS = (80, 443)
_JOIN_URL = re.compile(r"^(?P<address>[^\s/]+:\d+)/(?P<token>[0-9A-Za-z]+)/(?P<check>[0-9A-Za-z]+)$")
_NOT_RUNNING = "microk8s is not running"
_WORKER = "acting as a node in a cluster"
_NO_PERMISSION = "Insufficient permissions to access MicroK8s"


class Microk8sError(ValueError):
    """Output that cannot be understood, or a decision that needs a human; the message says which."""


def _value(line):
    _key, _sep, value = line.partition(":")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def _bool(value):
    return str(value).strip().lower() in ("true", "yes")


def parse_status(text):
    """Parse ``microk8s status --format yaml`` (or its short ``--yaml`` form and the known messages).

    Line-based on purpose: addon descriptions are printed unquoted, so a description containing
    ``": "`` would break a YAML parser. Returns ``running``, ``worker``, ``message``, ``ha``
    (``enabled``, ``nodes`` with ``address``/``role``), ``addons`` (``name``, ``repository``,
    ``description``, ``version``, ``status``) and the ``enabled`` / ``disabled`` name lists.
    """
    text = text or ""
    result = {"running": None, "worker": False, "message": None,
              "ha": {"enabled": False, "nodes": []}, "addons": []}
    if _NO_PERMISSION in text:
        raise Microk8sError("microk8s status: the user may not access MicroK8s: run it as root (become: true) or add "
                            "the user to the microk8s group")
    if _WORKER in text:
        result.update(worker=True, message=" ".join(text.split()))
        return _finish(result)
    section, item, seen = None, None, False
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            section, item = line.split(":", 1)[0].strip(), None
            if line.startswith(_NOT_RUNNING):
                result.update(running=False, message=line.strip())
                seen = True
            elif section in ("microk8s", "high-availability", "addons"):
                seen = True
            continue
        stripped = line.strip()
        if stripped.startswith("- "):
            stripped = stripped[2:].strip()
            item = {}
            if section == "addons":
                result["addons"].append(item)
            elif section == "high-availability":
                result["ha"]["nodes"].append(item)
        key = stripped.split(":", 1)[0].strip()
        if key == "message":  # printed under whichever section came last
            result["message"] = _value(stripped)
        elif section == "microk8s":
            if key == "running":
                result["running"] = _bool(_value(stripped))
        elif section == "high-availability":
            if key == "enabled" and item is None:
                result["ha"]["enabled"] = _bool(_value(stripped))
            elif item is not None and key in ("address", "role"):
                item[key] = _value(stripped)
        elif section == "addons":
            if item is not None and key in ("name", "repository", "description", "version", "status"):
                item[key] = _value(stripped)
            elif item is None and "/" in key:  # short form: "  core/dns: enabled"
                repository, name = key.split("/", 1)
                result["addons"].append({"name": name, "repository": repository, "status": _value(stripped)})
    if not seen:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "(empty)")
        raise Microk8sError("not the output of `microk8s status --format yaml`: %s" % first[:200])
    return _finish(result)


def _finish(result):
    for addon in result["addons"]:
        addon.setdefault("repository", "core")
        addon.setdefault("status", "disabled")
    result["enabled"] = [a["name"] for a in result["addons"] if a["status"] == "enabled"]
    result["disabled"] = [a["name"] for a in result["addons"] if a["status"] != "enabled"]
    result["voters"] = [n.get("address") for n in result["ha"]["nodes"] if n.get("role") == "voter"]
    return result


def parse_add_node(text):
    """Join URLs of ``microk8s add-node`` in any of its formats (json, yaml, pretty, short).

    Returns ``token`` (``token/check``) and ``urls`` (``address:port/token/check``, in the order
    printed, without duplicates).
    """
    text = (text or "").strip()
    urls = []
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        urls = [str(u) for u in data.get("urls") or []]
    else:
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("- "):  # yaml format lists the urls
                urls.append(line[2:].strip().strip("'\""))
            elif line.startswith("microk8s join "):
                urls.append(line.split()[2])
    urls = [u for i, u in enumerate(urls) if u not in urls[:i]]
    if not urls or not all(_JOIN_URL.match(u) for u in urls):
        raise Microk8sError("`microk8s add-node` printed no join URL of the form ADDRESS:PORT/TOKEN/CHECK "
                            "(is this the first control-plane node and is microk8s running?)")
    first = _JOIN_URL.match(urls[0])
    return {"token": "%s/%s" % (first.group("token"), first.group("check")), "urls": urls}


def join_url(add_node, address=None):
    """The URL to join through: the one on ``address`` when printed, else the first (the default route)."""
    for url in add_node["urls"]:
        if address and url.split(":", 1)[0] == address:
            return url
    return add_node["urls"][0]


def _addon_spec(entry):
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or not entry.get("name"):
        raise Microk8sError("microk8s_addons entries are names or {name, args} dicts, got %r" % (entry,))
    name = str(entry["name"])
    repository = entry.get("repository")
    if "/" in name:
        repository, name = name.split("/", 1)
    args = entry.get("args") or []
    if isinstance(args, str):
        args = [args]
    return {"name": name, "repository": repository, "args": [str(a) for a in args]}


def addon_plan(status, desired, disable_unlisted=False, never_disable=()):
    """What to enable and disable so that exactly ``desired`` (plus ``never_disable``) is enabled.

    Unknown names are returned in ``unknown`` (``microk8s enable`` would print "not found" and exit
    0, so the role fails on them before touching anything).
    """
    wanted = [_addon_spec(e) for e in desired or []]
    available = status.get("addons") or []
    plan = {"enable": [], "disable": [], "unknown": [], "available": sorted(a["name"] for a in available)}
    wanted_names = set()
    for spec in wanted:
        matches = [a for a in available if a["name"] == spec["name"]
                   and (spec["repository"] is None or a["repository"] == spec["repository"])]
        if not matches:
            plan["unknown"].append(spec["name"] if spec["repository"] is None else
                                   "%s/%s" % (spec["repository"], spec["name"]))
            continue
        addon = matches[0]
        wanted_names.add(addon["name"])
        if addon["status"] != "enabled":
            qualified = "%s/%s" % (addon["repository"], addon["name"]) if spec["repository"] else addon["name"]
            plan["enable"].append({"name": addon["name"], "repository": addon["repository"], "args": spec["args"],
                                   "argv": ["microk8s", "enable", qualified] + spec["args"]})
    if disable_unlisted:
        keep = wanted_names | set(never_disable or ())
        for addon in available:
            if addon["status"] == "enabled" and addon["name"] not in keep:
                plan["disable"].append({"name": addon["name"], "repository": addon["repository"],
                                        "argv": ["microk8s", "disable", addon["name"]]})
    return plan


def _ports(values):
    ports = set()
    for value in values or []:
        try:
            ports.add(int(value))
        except (TypeError, ValueError):
            raise Microk8sError("port %r is not a number" % (value,))
    return ports


_PUBLISHED = re.compile(r":(\d+)(?:-(\d+))?->")


def parse_docker_ps(text):
    """``[{"name", "ports"}]`` from ``docker ps --format '{{.Names}}\t{{.Ports}}'`` (published host ports only)."""
    containers = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, _sep, ports = line.partition("\t")
        published = set()
        for first, last in _PUBLISHED.findall(ports):
            published.update(range(int(first), int(last or first) + 1))
        containers.append({"name": name.strip(), "ports": sorted(published)})
    return containers


def edge_guard(docker_published, ingress_ports, owner="", require_owner=False):
    """Check that the Docker edge and the cluster ingress do not both claim the same host ports.

    ``docker_published``: ``[{"name": container, "ports": [80, 443]}]`` or the text of ``docker ps``
    (see :func:`parse_docker_ps`);
    ``ingress_ports``: host ports the ingress addon's pods will claim (empty when ingress is off);
    ``owner``: the recorded design, ``docker``, ``cluster`` or empty (undecided).
    ``require_owner``: also fail when the recorded owner does not hold 80/443 (a live check, as in an
    outage: the Docker edge stopped, or the cluster ingress moved away).
    Returns ``{"ok", "message", "conflicts", "docker"}``; ``message`` explains the choices when not ok.
    """
    if isinstance(docker_published, str):
        docker_published = parse_docker_ps(docker_published)
    if owner not in ("", None, "docker", "cluster"):
        raise Microk8sError("microk8s_edge_owner must be docker, cluster or empty, got %r" % (owner,))
    claims = _ports(ingress_ports)
    publishers = {}
    for container in docker_published or []:
        for port in _ports(container.get("ports")):
            publishers.setdefault(port, []).append(str(container.get("name")))
    result = _edge_guard(publishers, claims, owner, require_owner)
    result["docker"] = [c for c in docker_published or [] if c.get("ports")]
    return result


def _edge_guard(publishers, claims, owner, require_owner):
    conflicts = sorted(claims & set(publishers))
    edge_docker = sorted(p for p in EDGE_PORTS if p in publishers)
    who = "; ".join("%d by %s" % (p, ", ".join(sorted(set(publishers[p])))) for p in conflicts or edge_docker)
    if require_owner and owner == "docker" and len(edge_docker) < len(EDGE_PORTS) and not conflicts:
        return {"ok": False, "conflicts": [], "message": (
            "microk8s_edge_owner is docker, but no Docker container publishes %s: the edge is down; start the "
            "Traefik edge (its compose project) and check `docker ps`" % " and ".join(
                str(p) for p in EDGE_PORTS if p not in publishers))}
    if require_owner and owner == "cluster" and not set(EDGE_PORTS) <= claims:
        return {"ok": False, "conflicts": [], "message": (
            "microk8s_edge_owner is cluster, but the cluster ingress claims host ports %s, not 80/443: enable the "
            "ingress addon or put its host ports back (microk8s_ingress_host_ports)" % (sorted(claims) or "none"))}
    if owner == "cluster" and edge_docker:
        return {"ok": False, "conflicts": edge_docker, "message": (
            "microk8s_edge_owner is cluster, but Docker still publishes %s: stop or move the Docker edge off "
            "80/443 first (traefik role), or record microk8s_edge_owner: docker" % who)}
    if not conflicts:
        return {"ok": True, "conflicts": [], "message": "no port is claimed by both the Docker edge and the cluster "
                                                        "ingress (ingress host ports: %s)" % (sorted(claims) or "none")}
    if owner == "docker":
        return {"ok": False, "conflicts": conflicts, "message": (
            "microk8s_edge_owner is docker, but the cluster ingress would still claim host ports Docker publishes "
            "(%s): set microk8s_ingress_host_ports to free ports (e.g. {http: 18080, https: 18443}) or drop ingress "
            "from microk8s_addons" % who)}
    return {"ok": False, "conflicts": conflicts, "message": (
        "Docker publishes %s and the microk8s ingress addon's hostPorts would claim the same ports. hostPorts are "
        "iptables DNAT rules, so nothing fails to bind: whichever rule matches first silently takes the traffic. "
        "Choose the design and record it in the inventory: (1) microk8s_edge_owner: docker - Traefik in Docker keeps "
        "80/443 and the cluster ingress moves behind it on other host ports (microk8s_ingress_host_ports: "
        "{http: 18080, https: 18443}, routed to from Traefik), or drop ingress from microk8s_addons; "
        "(2) microk8s_edge_owner: cluster - the cluster ingress owns 80/443 and the Docker edge moves off them "
        "first." % who)}


_HTTP_NAMES = ("http", "web")
_HTTPS_NAMES = ("https", "websecure")


def host_port_patch(daemonset, http, https):
    """Containers of an ingress DaemonSet with the http/https hostPorts set to ``http`` / ``https``.

    Ports are recognised by name (ingress-nginx ``http``/``https``, Traefik ``web``/``websecure``).
    Returns ``{"changed", "found", "containers", "before", "after"}`` (``found`` is false for a
    DaemonSet without such host ports); ``containers`` is the complete list, so the patch is correct
    under both merge-patch and strategic-merge-patch semantics.
    """
    wanted = {}
    for name in _HTTP_NAMES:
        wanted[name] = int(http)
    for name in _HTTPS_NAMES:
        wanted[name] = int(https)
    containers = json.loads(json.dumps(((daemonset.get("spec") or {}).get("template") or {}).get("spec", {})
                                       .get("containers") or []))
    before, after, found = {}, {}, False
    for container in containers:
        for port in container.get("ports") or []:
            name = port.get("name")
            if name in wanted and port.get("hostPort"):
                found = True
                before[name] = port["hostPort"]
                port["hostPort"] = wanted[name]
                after[name] = wanted[name]
    return {"changed": before != after, "found": found, "containers": containers, "before": before, "after": after}


def host_ports(daemonsets):
    """Host ports DaemonSets claim now, from a k8s_info result or a list of DaemonSet objects.

    Returns ``{"ports": [sorted, unique], "daemonsets": {"namespace/name": [ports]}}`` (only DaemonSets
    with host ports). Every hostPort is a DNAT rule on each node the DaemonSet runs on.
    """
    if isinstance(daemonsets, dict) and "resources" in daemonsets:
        daemonsets = daemonsets["resources"]
    if not isinstance(daemonsets, list) or not all(isinstance(d, dict) for d in daemonsets):
        raise Microk8sError("expected DaemonSet objects or a k8s_info result, got %s" % type(daemonsets).__name__)
    claims = {}
    for daemonset in daemonsets:
        meta = daemonset.get("metadata") or {}
        pod = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
        ports = _ports(p.get("hostPort") for c in containers for p in c.get("ports") or [] if p.get("hostPort"))
        if ports:
            claims["%s/%s" % (meta.get("namespace") or "default", meta.get("name"))] = sorted(ports)
    return {"ports": sorted(set(p for ports in claims.values() for p in ports)), "daemonsets": claims}
