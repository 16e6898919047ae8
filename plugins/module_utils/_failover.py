# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a floating IP lives on an edge host, and who its VRRP peers are (squaremcp.infra.edge_failover).

Plain functions over what ``ip -j -4 route show table main`` prints and over the inventory; the filter
plugin ``squaremcp.infra.edge_failover_plan`` wraps :func:`plan`.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass


class FailoverError(Exception):
    """The floating IP cannot be placed; the message says which variable to set."""


@dataclass
class Link:
    interface: str
    address: str
    network: str


def _virtual_ip(virtual_ip):
    try:
        return ipaddress.IPv4Address(str(virtual_ip))
    except ValueError:
        raise FailoverError("edge_failover_virtual_ip is %r, not an IPv4 address (e.g. 203.0.113.10)" % (virtual_ip,))


def facing_link(routes, virtual_ip):
    """The connected route whose network holds ``virtual_ip``: interface and this host's address there.

    ``routes``: the JSON (text or parsed) of ``ip -j -4 route show table main``. The most specific
    connected route wins; the default route never counts (a floating IP must be on a link both edges share).
    """
    address = _virtual_ip(virtual_ip)
    if isinstance(routes, str):
        routes = json.loads(routes or "[]")
    best = None
    for route in routes:
        dst, source, device = route.get("dst"), route.get("prefsrc"), route.get("dev")
        if not dst or dst == "default" or not source or not device:
            continue
        network = ipaddress.IPv4Network(dst if "/" in dst else dst + "/32", strict=False)
        if address in network and (best is None or network.prefixlen > best[0].prefixlen):
            best = (network, Link(interface=device, address=source, network=str(network)))
    return best[1] if best else None


def _ipv4(text):
    try:
        return str(ipaddress.IPv4Address(str(text)))
    except ValueError:
        return None


def plan(hosts, me, virtual_ip, group="edge"):
    """This host's interface, unicast source address and peers for keepalived.

    ``hosts``: ``{inventory name: {"address": set or "", "link": facing_link() result or None,
    "ansible_host": ...}}`` for every host of the failover group, in inventory order. A host's address is
    its ``edge_failover_address``, else the one found on the link to the floating IP in this run, else its
    ``ansible_host`` when that is an IPv4 address. Returns ``{"interface", "address", "peers"}``.
    """
    _virtual_ip(virtual_ip)
    if me not in hosts:
        raise FailoverError("%s is not in the group %s (edge_failover_group)" % (me, group))
    addresses = {}
    for name, host in hosts.items():
        link = host.get("link") or {}
        found = _ipv4(host.get("address") or "") or _ipv4(link.get("address") or "") or _ipv4(host.get("ansible_host"))
        if not found:
            raise FailoverError(
                "no VRRP address for %s: it is not in this run (or has no route to %s) and its ansible_host is not an "
                "IPv4 address; set edge_failover_address for %s in the inventory" % (name, virtual_ip, name))
        if found == str(virtual_ip):
            raise FailoverError("%s: its address %s is the floating IP itself; give each edge its own address "
                                "(edge_failover_address) and the floating IP as edge_failover_virtual_ip" % (name, found))
        addresses[name] = found
    duplicates = sorted({a for a in addresses.values() if list(addresses.values()).count(a) > 1})
    if duplicates:
        raise FailoverError("the edges share the address(es) %s (%s): set edge_failover_address per host"
                            % (", ".join(duplicates), ", ".join(sorted(addresses))))
    link = hosts[me].get("link") or {}
    interface = hosts[me].get("interface") or link.get("interface")
    if not interface:
        raise FailoverError("%s has no connected route to %s: set edge_failover_interface (the interface on the "
                            "network the floating IP belongs to)" % (me, virtual_ip))
    return {"interface": interface, "address": addresses[me],
            "peers": [addresses[name] for name in hosts if name != me]}


def link_dict(routes, virtual_ip):
    """:func:`facing_link` as a dict (or None) for Jinja."""
    link = facing_link(routes, virtual_ip)
    return asdict(link) if link else None
