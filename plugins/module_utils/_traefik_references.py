# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A dynamic-configuration file in its directory: references resolve (here, in another file of the
directory, or as name@provider), no name is defined twice, and a change does not break what refers
to it (:func:`validate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_checks import check_document
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import (
    AUTH_MIDDLEWARES, INTERNAL_SERVICES, PROVIDERS, did_you_mean)


def names_of(doc: Any, section: str, kind: str) -> Dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get(section), dict):
        return {}
    entries = doc[section].get(kind)
    return entries if isinstance(entries, dict) else {}


@dataclass
class Missing:
    """A reference that did not resolve: where it is, what it names, who refers, the problem reported."""

    where: str
    kind: str  # service, middleware
    ref: str
    referrer: Tuple[str, str]  # (what, name), e.g. ("router", "hermes-pilot")
    problem: str


@dataclass
class Context:
    """What the rest of the directory (and optionally the static config) defines."""

    others: Dict[str, Any] = field(default_factory=dict)
    static: Optional[Dict[str, Any]] = None
    missing: List[Missing] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.others = self.others or {}
        self.static = self.static if isinstance(self.static, dict) else None

    def defined(self, section: str, kind: str) -> Dict[str, str]:
        """{name: file} over the other files; the first file wins, as in Traefik."""
        names: Dict[str, str] = {}
        for path, doc in self.others.items():
            for name in names_of(doc, section, kind):
                names.setdefault(name, path)
        return names


def _split_ref(ref):
    name, _sep, provider = ref.partition("@")
    return name, (provider or None)


def _resolve(ref: Any, section: str, kind: str, doc: Any, context: Context, where: str, problems: List[str],
             referrer: Tuple[str, str], internal: Sequence[str] = ()) -> Any:
    """Check one reference; return the entry when it is defined in the file provider, else None."""
    if not isinstance(ref, str) or not ref:
        problems.append("%s: must be a name" % where)
        return None
    name, provider = _split_ref(ref)
    if provider not in (None, "file"):
        if provider == "internal":
            if internal and name not in internal:
                problems.append("%s: %s is not an internal %s; known: %s" % (
                    where, ref, kind[:-1], ", ".join("%s@internal" % n for n in internal)))
        elif provider not in PROVIDERS:
            problems.append("%s: unknown provider %r in %s%s" % (where, provider, ref, did_you_mean(provider, PROVIDERS)))
        return None
    local = names_of(doc, section, kind)
    if name in local:
        return local[name]
    for path, other in context.others.items():
        entries = names_of(other, section, kind)
        if name in entries:
            return entries[name]
    known = set(local) | set(context.defined(section, kind))
    problem = ("%s: %s %r is not defined in this file or any other file of the directory%s: define it under "
               "%s.%s or reference another provider's as name@provider" % (
                   where, kind[:-1], ref, did_you_mean(name, known), section, kind))
    problems.append(problem)
    context.missing.append(Missing(where, kind[:-1], ref, referrer, problem))
    return None


def _middleware_kinds(ref, doc, context, seen=None):
    """Middleware kinds behind a reference, following chains (unknown providers give nothing)."""
    seen = seen if seen is not None else set()
    name, provider = _split_ref(ref)
    if provider not in (None, "file") or name in seen:
        return set()
    seen.add(name)
    entry = names_of(doc, "http", "middlewares").get(name)
    if entry is None:
        for other in context.others.values():
            entry = names_of(other, "http", "middlewares").get(name)
            if entry is not None:
                break
    if not isinstance(entry, dict):
        return set()
    kinds = set(entry)
    chain = entry.get("chain")
    if isinstance(chain, dict):
        for inner in chain.get("middlewares") or []:
            if isinstance(inner, str):
                kinds |= _middleware_kinds(inner, doc, context, seen)
    return kinds


def check_references(doc, context, where=""):
    """Every reference of ``doc`` resolves; the Traefik API is never routed without auth and TLS."""
    problems = []
    prefix = where + ": " if where else ""
    entry_points = resolvers = None
    if context.static is not None:
        entry_points = set((context.static.get("entryPoints") or {}).keys())
        resolvers = set((context.static.get("certificatesResolvers") or {}).keys())
    tls_options = set(names_of(doc, "tls", "options")) | set(context.defined("tls", "options")) | {"default"}
    for name, router in sorted(names_of(doc, "http", "routers").items()):
        if not isinstance(router, dict):
            continue
        here = "%shttp.routers.%s" % (prefix, name)
        service = router.get("service")
        if service is not None:
            _resolve(service, "http", "services", doc, context, here + ".service", problems, ("router", name),
                     INTERNAL_SERVICES)
        middlewares = router.get("middlewares") if isinstance(router.get("middlewares"), list) else []
        for index, ref in enumerate(middlewares):
            _resolve(ref, "http", "middlewares", doc, context, "%s.middlewares[%d]" % (here, index), problems,
                     ("router", name))
        tls = router.get("tls") if isinstance(router.get("tls"), dict) else None
        if tls and isinstance(tls.get("options"), str):
            option = _split_ref(tls["options"])[0]
            if option not in tls_options:
                problems.append("%s.tls.options: TLS options %r are not defined under tls.options in the directory%s"
                                % (here, tls["options"], did_you_mean(option, tls_options)))
        if tls and resolvers is not None and isinstance(tls.get("certResolver"), str) \
                and tls["certResolver"] not in resolvers:
            problems.append("%s.tls.certResolver: %r is not a certificatesResolvers entry of the static config "
                            "(known: %s)" % (here, tls["certResolver"], ", ".join(sorted(resolvers)) or "none"))
        listed = router.get("entryPoints") if isinstance(router.get("entryPoints"), list) else []
        for ep in listed if entry_points is not None else []:
            if ep not in entry_points:
                problems.append("%s.entryPoints: %r is not an entry point of the static config (known: %s)"
                                % (here, ep, ", ".join(sorted(entry_points))))
        if isinstance(service, str) and _split_ref(service) in (("api", "internal"), ("dashboard", "internal")):
            kinds = set()
            for ref in middlewares:
                if isinstance(ref, str):
                    kinds |= _middleware_kinds(ref, doc, context)
            if not kinds & set(AUTH_MIDDLEWARES):
                problems.append("%s: routes the Traefik API/dashboard (%s) without authentication: add a basicAuth, "
                                "digestAuth or forwardAuth middleware" % (here, service))
            if tls is None:
                problems.append("%s: routes the Traefik API/dashboard over plain HTTP: add tls (e.g. tls: "
                                "{certResolver: letsencrypt}) and entryPoints: [websecure]" % here)
    for name, service in sorted(names_of(doc, "http", "services").items()):
        if not isinstance(service, dict):
            continue
        here = "%shttp.services.%s" % (prefix, name)
        body = next(iter(service.values()), None) if len(service) == 1 else None
        kind = next(iter(service), None)
        if not isinstance(body, dict):
            continue
        refs = []
        if kind == "weighted":
            refs = [(s.get("name"), ".weighted.services[%d].name" % i) for i, s in enumerate(body.get("services") or [])
                    if isinstance(s, dict)]
        elif kind == "mirroring":
            refs = [(body.get("service"), ".mirroring.service")]
            refs += [(m.get("name"), ".mirroring.mirrors[%d].name" % i) for i, m in enumerate(body.get("mirrors") or [])
                     if isinstance(m, dict)]
        elif kind == "failover":
            refs = [(body.get(k), ".failover." + k) for k in ("service", "fallback")]
        elif kind == "loadBalancer" and isinstance(body.get("serversTransport"), str):
            transport, provider = _split_ref(body["serversTransport"])
            known = set(names_of(doc, "http", "serversTransports")) | set(context.defined("http", "serversTransports"))
            if provider in (None, "file") and transport not in known:
                problems.append("%s.loadBalancer.serversTransport: %r is not defined under http.serversTransports"
                                % (here, body["serversTransport"]))
        for ref, suffix in refs:
            if ref is not None:
                _resolve(ref, "http", "services", doc, context, here + suffix, problems, ("service", name),
                         INTERNAL_SERVICES)
    for name, middleware in sorted(names_of(doc, "http", "middlewares").items()):
        if not isinstance(middleware, dict):
            continue
        here = "%shttp.middlewares.%s" % (prefix, name)
        chain = middleware.get("chain")
        if isinstance(chain, dict):
            for index, ref in enumerate(chain.get("middlewares") or []):
                if _split_ref(str(ref))[0] == name:
                    problems.append("%s.chain.middlewares[%d]: a chain cannot contain itself" % (here, index))
                else:
                    _resolve(ref, "http", "middlewares", doc, context, "%s.chain.middlewares[%d]" % (here, index),
                             problems, ("middleware", name))
        errors = middleware.get("errors")
        if isinstance(errors, dict) and errors.get("service") is not None:
            _resolve(errors["service"], "http", "services", doc, context, here + ".errors.service", problems,
                     ("middleware", name), INTERNAL_SERVICES)
    for name, router in sorted(names_of(doc, "tcp", "routers").items()):
        if isinstance(router, dict) and router.get("service") is not None:
            _resolve(router["service"], "tcp", "services", doc, context, "%stcp.routers.%s.service" % (prefix, name),
                     problems, ("TCP router", name))
    for name, router in sorted(names_of(doc, "udp", "routers").items()):
        if isinstance(router, dict) and router.get("service") is not None:
            _resolve(router["service"], "udp", "services", doc, context, "%sudp.routers.%s.service" % (prefix, name),
                     problems, ("UDP router", name))
    return problems


DUPLICATE_CHECKED = (("http", "routers"), ("http", "services"), ("http", "middlewares"), ("http", "serversTransports"),
                     ("tcp", "routers"), ("tcp", "services"), ("tcp", "middlewares"), ("udp", "routers"),
                     ("udp", "services"), ("tls", "options"))


def check_duplicates(doc, context, where=""):
    problems = []
    prefix = where + ": " if where else ""
    for section, kind in DUPLICATE_CHECKED:
        elsewhere = context.defined(section, kind)
        for name in sorted(names_of(doc, section, kind)):
            if name in elsewhere:
                problems.append("%s%s.%s.%s is also defined in %s: Traefik keeps only the first definition it reads "
                                "and ignores the other without an error; rename one or remove the duplicate"
                                % (prefix, section, kind, name, elsewhere[name]))
    return problems


def _names_text(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else "%s and %s" % (", ".join(names[:-1]), names[-1])


def _referrers_text(referrers: Sequence[Tuple[str, str]]) -> str:
    """``routers a and b, middleware c`` for [("router", "a"), ("router", "b"), ("middleware", "c")]."""
    grouped: Dict[str, List[str]] = {}
    for what, name in referrers:
        if name not in grouped.setdefault(what, []):
            grouped[what].append(name)
    return ", ".join("%s%s %s" % (what, "s" if len(names) > 1 else "", _names_text(names))
                     for what, names in grouped.items())


def _removed(previous: Any, doc: Any) -> Set[Tuple[str, str, str]]:
    """(section, kind, name) of every entry of ``previous`` that ``doc`` no longer has."""
    return set((section, kind, name) for section, kind in DUPLICATE_CHECKED
               for name in set(names_of(previous, section, kind)) - set(names_of(doc, section, kind)))


def _breakage(missing: Sequence[Missing], removed: Set[Tuple[str, str, str]], prefix: str, fix: str,
              elsewhere: str = "") -> Tuple[List[str], Set[str]]:
    """One problem per removed entry that ``missing`` references still need; and the problems it replaces."""
    broken: Dict[Tuple[str, str, str], List[Missing]] = {}
    for item in missing:
        section = item.where.split(": ", 1)[-1].split(".", 1)[0]
        key = (section, item.kind + "s", _split_ref(item.ref)[0])
        if key in removed:
            broken.setdefault(key, []).append(item)
    problems = ["%s%s.%s: removing %s %s breaks %s%s: %s" % (
        prefix, section, kind, kind[:-1], name, _referrers_text([m.referrer for m in items]), elsewhere, fix)
        for (section, kind, name), items in sorted(broken.items())]
    return problems, set(m.problem for items in broken.values() for m in items)


def check_dependents(previous: Any, doc: Any, context: Context, where: str = "") -> List[str]:
    """References of the OTHER files of the directory that the change from ``previous`` to ``doc``
    breaks (e.g. a service removed here that a router there still uses): Traefik would disable
    those routers. References that were already broken before the change are not reported."""
    problems: List[str] = []
    prefix = where + ": " if where else ""
    this = "\0" + (where or "this file")  # a key no other file can have
    removed = _removed(previous, doc)
    for path, other in context.others.items():
        rest = dict((p, d) for p, d in context.others.items() if p != path)
        before, after = (Context(dict(rest, **{this: version}), context.static) for version in (previous, doc))
        already = set(check_references(other, before))
        new_problems = [p for p in check_references(other, after) if p not in already]
        if not new_problems:
            continue
        seen = set((m.where, m.kind, m.ref) for m in before.missing)
        fresh = [m for m in after.missing if (m.where, m.kind, m.ref) not in seen]
        grouped, replaced = _breakage(fresh, removed, prefix, "keep it in this file, or change %s first (Traefik "
                                      "would disable what refers to it)" % path, " in %s" % path)
        problems.extend(grouped)
        problems.extend("%sthis change breaks %s: %s" % (prefix, path, problem) for problem in new_problems
                        if problem not in replaced)
    return problems


def validate(doc: Any, context: Optional[Context] = None, where: str = "", previous: Any = None) -> List[str]:
    """All checks of one dynamic-config document in its directory context; returns the problems.

    With ``previous`` (the file as it is now), a removal that leaves references dangling is reported
    once per removed entry, naming what it breaks, in this file and in the other files of the
    directory (see :func:`check_dependents`)."""
    context = context or Context()
    problems = check_document(doc, where)
    if isinstance(doc, dict):
        problems += check_duplicates(doc, context, where)
        references = check_references(doc, context, where)
        if previous is not None:
            grouped, replaced = _breakage(context.missing, _removed(previous, doc), where + ": " if where else "",
                                          "keep it, or change or remove what refers to it in the same run")
            references = [p for p in references if p not in replaced] + grouped
        problems += references
        if previous is not None:
            problems += check_dependents(previous, doc, context, where)
    return problems
