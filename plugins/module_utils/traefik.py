# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Traefik v3 configuration knowledge: rule parser, dynamic-config validator, static-config checker.

Plain Python (stdlib + PyYAML) so that the ``traefik_routes`` module, the filters, the unit tests
and the ``traefik`` role's ``validate:`` step all use the same code. The role copies this file to
the target and runs it as a script::

    python3 traefik.py static  /etc/traefik/traefik.yml
    python3 traefik.py dynamic /etc/traefik/dynamic/routes.yml [--directory DIR] [--static FILE]

Every problem is reported as ``<where>: <what is wrong> (<what to do>)``; nothing here writes files.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import os
import re
import sys
import warnings

try:
    import yaml

    HAS_YAML = True
    _LOADER_BASE = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    _DUMPER = getattr(yaml, "CSafeDumper", None) or yaml.SafeDumper
except ImportError:  # pragma: no cover - reported by the callers
    yaml = None
    HAS_YAML = False
    _LOADER_BASE = object
    _DUMPER = None

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11 on the target
    tomllib = None

HEADER = "# Managed by squaremcp.infra.traefik_routes: edits here are overwritten on the next run.\n"
KINDS = ("routers", "services", "middlewares")


class TraefikConfigError(Exception):
    """Configuration problems; ``problems`` lists every one of them."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(TraefikConfigError, self).__init__("; ".join(self.problems))


def _closest(word, candidates):
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def _did_you_mean(word, candidates):
    best = _closest(word, candidates)
    return " (did you mean %r?)" % best if best else ""


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

# Matcher -> accepted numbers of values, for HTTP and TCP routers (Traefik v3 syntax).
HTTP_MATCHERS = {
    "ClientIP": (1,), "Header": (2,), "HeaderRegexp": (2,), "Host": (1,), "HostRegexp": (1,),
    "Method": (1,), "Path": (1,), "PathPrefix": (1,), "PathRegexp": (1,), "Query": (1, 2),
    "QueryRegexp": (1, 2),
}
TCP_MATCHERS = {"ALPN": (1,), "ClientIP": (1,), "HostSNI": (1,), "HostSNIRegexp": (1,)}
# Matchers that existed in v1/v2 only, with their v3 replacement.
V2_MATCHERS = {
    "Headers": "Header", "HeadersRegexp": "HeaderRegexp", "HostHeader": "Host",
    "PathPrefixStrip": "PathPrefix (plus a stripPrefix middleware)",
    "PathStrip": "Path (plus a stripPrefix middleware)",
}
REGEXP_VALUES = {"HostRegexp": (0,), "PathRegexp": (0,), "HeaderRegexp": (1,), "QueryRegexp": (1,),
                 "HostSNIRegexp": (0,)}
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$")
_SNI_RE = re.compile(r"^[\w.\-:]+$")
# An HTTP method is a token (RFC 9110); Traefik upper-cases the value before comparing.
_METHOD_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_|~-]+$")


def _spellings(names):
    """Traefik accepts a matcher as written, lower-case, upper-case or capitalised."""
    table = {}
    for name in names:
        for variant in (name, name.lower(), name.upper(), name.lower().capitalize()):
            table.setdefault(variant, name)
    return table


_HTTP_SPELLINGS = _spellings(HTTP_MATCHERS)
_TCP_SPELLINGS = _spellings(TCP_MATCHERS)


class RuleError(ValueError):
    """A rule that Traefik v3 would reject (or silently misread); the message says how to fix it."""


class Matcher(object):
    __slots__ = ("name", "values", "negated", "column")

    def __init__(self, name, values, column):
        self.name, self.values, self.negated, self.column = name, values, False, column

    def __repr__(self):
        return "%s%s(%s)" % ("!" if self.negated else "", self.name, ", ".join("`%s`" % v for v in self.values))


def _tokenize(rule):
    tokens, pos, size = [], 0, len(rule)
    while pos < size:
        char = rule[pos]
        if char.isspace():
            pos += 1
        elif rule.startswith("&&", pos) or rule.startswith("||", pos):
            tokens.append((rule[pos:pos + 2], None, pos))
            pos += 2
        elif char in "()!,":
            tokens.append((char, None, pos))
            pos += 1
        elif char == "`":
            end = rule.find("`", pos + 1)
            if end < 0:
                raise RuleError("unterminated backtick value at column %d (close it with a backtick)" % (pos + 1))
            tokens.append(("value", rule[pos + 1:end], pos))
            pos = end + 1
        elif char == '"':
            value, end = _go_string(rule, pos)
            tokens.append(("value", value, pos))
            pos = end
        elif char == "'":
            raise RuleError("single quotes at column %d are not accepted: quote values with backticks, e.g. Host(`example.com`)"
                            % (pos + 1))
        elif char.isalpha():
            end = pos
            while end < size and (rule[end].isalnum() or rule[end] == "_"):
                end += 1
            tokens.append(("name", rule[pos:end], pos))
            pos = end
        elif char in "&|":
            raise RuleError("single %r at column %d: combine matchers with && or ||" % (char, pos + 1))
        else:
            raise RuleError("unexpected %r at column %d: quote values with backticks, e.g. Host(`example.com`)"
                            % (char, pos + 1))
    return tokens


_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


def _go_string(rule, start):
    """Decode a Go interpreted string literal starting at ``start``; return (value, next position)."""
    out, pos = [], start + 1
    while pos < len(rule):
        char = rule[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\n":
            break
        if char == "\\":
            code = rule[pos + 1:pos + 2]
            if code in _GO_ESCAPES:
                out.append(_GO_ESCAPES[code])
                pos += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(code)
            digits = rule[pos + 2:pos + 2 + width] if width else ""
            if width and re.match(r"^[0-9A-Fa-f]{%d}$" % width, digits):
                out.append(chr(int(digits, 16)))
                pos += 2 + width
                continue
            if re.match(r"^[0-7]{3}$", rule[pos + 1:pos + 4]):
                out.append(chr(int(rule[pos + 1:pos + 4], 8)))
                pos += 4
                continue
            raise RuleError("unknown escape sequence \\%s at column %d inside a double-quoted value: use backticks for "
                            "values with backslashes (regular expressions), e.g. HostRegexp(`^.+\\.example\\.com$`)"
                            % (code, pos + 1))
        out.append(char)
        pos += 1
    raise RuleError("unterminated double-quoted value at column %d" % (start + 1))


class _Parser(object):
    """Recursive descent over the token list: or := and ('||' and)*; and := unary ('&&' unary)*."""

    def __init__(self, tokens):
        self.tokens, self.index = tokens, 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None, None)

    def take(self, kind, what):
        token = self.peek()
        if token[0] != kind:
            where = "at column %d" % (token[2] + 1) if token[0] else "at the end of the rule"
            raise RuleError("expected %s %s" % (what, where))
        self.index += 1
        return token

    def parse(self):
        if not self.tokens:
            raise RuleError("the rule is empty: give at least one matcher, e.g. Host(`example.com`)")
        tree = self.expression()
        token = self.peek()
        if token[0] is not None:
            raise RuleError("unexpected %s at column %d: join matchers with && or ||"
                            % ("%r" % token[0] if token[0] != "value" else "value", token[2] + 1))
        return tree

    def expression(self):
        left = self.conjunction()
        while self.peek()[0] == "||":
            self.index += 1
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self):
        left = self.unary()
        while self.peek()[0] == "&&":
            self.index += 1
            left = ("and", left, self.unary())
        return left

    def unary(self):
        kind, _value, column = self.peek()
        if kind == "!":
            self.index += 1
            return ("not", self.unary())
        if kind == "(":
            self.index += 1
            inner = self.expression()
            if self.peek()[0] != ")":
                raise RuleError("unbalanced parentheses: '(' at column %d is never closed" % (column + 1))
            self.index += 1
            return inner
        if kind == ")":
            raise RuleError("unbalanced parentheses: unexpected ')' at column %d" % (column + 1))
        name = self.take("name", "a matcher such as Host(`example.com`)")
        self.take("(", "'(' after %s" % name[1])
        values = []
        if self.peek()[0] != ")":
            while True:
                token = self.peek()
                if token[0] == "name":
                    raise RuleError("%s(%s ...) at column %d: values must be quoted with backticks, e.g. %s(`%s`)"
                                    % (name[1], token[1], token[2] + 1, name[1], token[1]))
                values.append(self.take("value", "a backtick-quoted value")[1])
                if self.peek()[0] != ",":
                    break
                self.index += 1
        if self.peek()[0] != ")":
            raise RuleError("unbalanced parentheses: %s( at column %d is never closed" % (name[1], name[2] + 1))
        self.index += 1
        return ("match", Matcher(name[1], values, name[2] + 1))


def _walk(tree, negated=False):
    kind = tree[0]
    if kind == "match":
        tree[1].negated = negated
        yield tree[1]
    elif kind == "not":
        yield from _walk(tree[1], not negated)
    else:
        for branch in tree[1:]:
            yield from _walk(branch, negated)


def _escape_go(text):
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def wildcard_regexp(host):
    """The HostRegexp value for a wildcard name: each ``*`` stands for one DNS label (as in a TLS wildcard)."""
    return "^%s$" % "[^.]+".join(_escape_go(part) for part in host.split("*"))


def _v2_placeholders(value, default):
    """Translate gorilla/mux placeholders ({name} / {name:regexp}) into a plain regexp, or None."""
    if "{" not in value:
        return None
    parts, pos = [], 0
    found = False
    while pos < len(value):
        if value[pos] == "{":
            depth, end = 0, pos
            while end < len(value):
                depth += {"{": 1, "}": -1}.get(value[end], 0)
                if depth == 0:
                    break
                end += 1
            inner = value[pos + 1:end]
            name, _sep, pattern = inner.partition(":")
            if not re.match(r"^[A-Za-z_]\w*$", name):
                return None
            parts.append(pattern or default)
            found = True
            pos = end + 1
        else:
            parts.append(_escape_go(value[pos]))
            pos += 1
    return "".join(parts) if found else None


def check_regexp(pattern):
    """Return why ``pattern`` is not a Go (RE2) regexp, or None. Python's ``re`` stands in for RE2,
    after refusing the constructs RE2 does not have (lookaround, backreferences, atomic groups)."""
    unsupported = (
        (r"\(\?<?[=!]", "lookahead/lookbehind"),
        (r"\\[1-9]", "backreferences"),
        (r"\(\?P=", "named backreferences"),
        (r"\(\?>", "atomic groups"),
        (r"(?<!\\)[*+?}][+]", "possessive quantifiers"),
        (r"\(\?\(", "conditionals"),
        (r"\\Z", "\\Z (use \\z or $)"),
    )
    for expression, what in unsupported:
        if re.search(expression, pattern):
            return "Go regular expressions (RE2) have no %s" % what
    python = re.sub(r"\\z", r"\\Z", pattern)
    python = re.sub(r"\\[pP](\{\w+\}|[A-Za-z])", r"\\w", python)
    python = re.sub(r"\[:\^?[a-z]+:\]", "a", python)
    python = python.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(python)
    except re.error as exc:
        return "not a valid regular expression: %s" % exc
    return None


def _check_matcher(matcher, spellings, arities, tcp):
    """Return (canonical name, problems) for one matcher."""
    name = spellings.get(matcher.name)
    values = matcher.values
    if name is None:
        if matcher.name in V2_MATCHERS:
            raise RuleError("%s is Traefik v2 syntax: use %s in v3" % (matcher.name, V2_MATCHERS[matcher.name]))
        raise RuleError("unknown matcher %s%s; v3 %s matchers are %s" % (
            matcher.name, _did_you_mean(matcher.name, arities), "TCP" if tcp else "HTTP", ", ".join(sorted(arities))))
    arity = arities[name]
    shown = "%s(%s)" % (matcher.name, ", ".join("`%s`" % v for v in values))
    if len(values) not in arity:
        if arity == (1,) and len(values) > 1:
            raise RuleError("%s is Traefik v2 syntax: %s takes one value in v3; write (%s)" % (
                shown, name, " || ".join("%s(`%s`)" % (name, v) for v in values)))
        if name in ("Header", "HeaderRegexp") and len(values) > 2 and len(values) % 2 == 0:
            pairs = [values[i:i + 2] for i in range(0, len(values), 2)]
            raise RuleError("%s: %s takes one key and one value in v3; write %s" % (
                shown, name, " && ".join("%s(`%s`, `%s`)" % (name, k, v) for k, v in pairs)))
        raise RuleError("%s: %s takes %s value(s), got %d" % (
            shown, name, " or ".join(str(n) for n in arity), len(values)))
    for index, value in enumerate(values):
        if "{{" in value:
            raise RuleError("%s: '{{' is Go-template syntax for Traefik's file provider and is evaluated there: "
                            "remove the template expression" % shown)
        if "\n" in value:
            raise RuleError("%s: values cannot contain a newline" % shown)
        if value == "" and not (name in ("Query", "QueryRegexp") and index == 1):
            raise RuleError("%s: empty value" % shown)
    value = values[0]
    if name in ("Host",):
        converted = _v2_placeholders(value, "[^.]+")
        if converted is not None:
            raise RuleError("%s uses v2 {placeholders}: Host matches a literal name in v3; write HostRegexp(`^%s$`)"
                            % (shown, converted))
        if any(ord(c) > 127 for c in value):
            raise RuleError("%s: non-ASCII host names are refused by Traefik: use the punycode form (xn--...)" % shown)
        if ":" in value:
            raise RuleError("%s: Host matches the name without a port; write Host(`%s`)" % (shown, value.split(":")[0]))
        if "*" in value:
            raise RuleError("%s: Host compares the literal name in Traefik v3, so `*` is no wildcard there and the rule "
                            "would never match; %s" % (shown, "drop the Host matcher to match every host" if value == "*"
                                                       else "write HostRegexp(`%s`)" % wildcard_regexp(value)))
        if not _HOST_RE.match(value):
            raise RuleError("%s: %r is not a host name" % (shown, value))
    elif name in ("Path", "PathPrefix"):
        converted = _v2_placeholders(value, "[^/]+")
        if converted is not None:
            raise RuleError("%s uses v2 {placeholders}: %s matches literally in v3; write PathRegexp(`^%s%s`)"
                            % (shown, name, converted, "$" if name == "Path" else ""))
        if not value.startswith("/"):
            raise RuleError("%s: the path must start with '/'; write %s(`/%s`)" % (shown, name, value))
    elif name in ("HostRegexp", "HostSNIRegexp"):
        converted = _v2_placeholders(value, "[^.]+")
        if converted is not None:
            raise RuleError("%s uses v2 {name:regexp} placeholders: v3 takes a plain Go regexp; write %s(`^%s$`)"
                            % (shown, name, converted))
        if any(ord(c) > 127 for c in value):
            raise RuleError("%s: non-ASCII characters are refused by Traefik" % shown)
    elif name == "Method":
        if not _METHOD_RE.match(value):
            raise RuleError("%s: %r is not an HTTP method: give one method per matcher, e.g. Method(`POST`)"
                            % (shown, value))
    elif name == "ClientIP":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise RuleError("%s: %r is not an IP address or CIDR range" % (shown, value))
    elif name == "Query" and len(values) == 1 and "=" in value:
        key, _sep, val = value.partition("=")
        raise RuleError("%s is Traefik v2 syntax: Query takes the key and the value separately in v3; write "
                        "Query(`%s`, `%s`)" % (shown, key, val))
    elif name == "HostSNI" and value != "*" and not _SNI_RE.match(value):
        raise RuleError("%s: %r is not a host name (or `*` for every connection)" % (shown, value))
    elif name == "ALPN" and value == "acme-tls/1":
        raise RuleError("%s: the acme-tls/1 protocol is reserved by Traefik" % shown)
    for index in REGEXP_VALUES.get(name, ()):
        if index < len(values):
            problem = check_regexp(values[index])
            if problem:
                raise RuleError("%s: %s" % (shown, problem))
    return name


def parse_rule_tree(rule, tcp=False):
    """Parse and check a Traefik v3 rule; return its tree: ("or"|"and", left, right), ("not", x), ("match", Matcher)."""
    if not isinstance(rule, str):
        raise RuleError("the rule must be a string, got %s" % type(rule).__name__)
    tree = _Parser(_tokenize(rule)).parse()
    arities = TCP_MATCHERS if tcp else HTTP_MATCHERS
    spellings = _TCP_SPELLINGS if tcp else _HTTP_SPELLINGS
    for matcher in _walk(tree):
        matcher.name = _check_matcher(matcher, spellings, arities, tcp)
    return tree


def parse_rule(rule, tcp=False):
    """Parse a Traefik v3 rule; return the list of :class:`Matcher` (canonical names) or raise RuleError."""
    return list(_walk(parse_rule_tree(rule, tcp=tcp)))


def _host_matches(pattern, host):
    """Traefik v3's Host: the literal name, case-insensitively, a trailing dot on either side ignored."""
    return pattern.lower().rstrip(".") == host.lower().rstrip(".")


def _matches(tree, request):
    kind = tree[0]
    if kind == "or":
        return _matches(tree[1], request) or _matches(tree[2], request)
    if kind == "and":
        return _matches(tree[1], request) and _matches(tree[2], request)
    if kind == "not":
        return not _matches(tree[1], request)
    matcher = tree[1]
    name, values = matcher.name, matcher.values
    if name == "Host":
        return _host_matches(values[0], request["host"])
    if name == "Path":
        return request["path"] == values[0]
    if name == "PathPrefix":
        return request["path"].startswith(values[0])
    if name == "Method":
        return request["method"] == values[0].upper()
    if name in ("HostRegexp", "PathRegexp"):
        # HostRegexp sees the canonized host: lower-cased, without the port.
        subject = request["host"].lower() if name == "HostRegexp" else request["path"]
        return re.search(values[0], subject) is not None
    if name in ("Header", "HeaderRegexp"):
        value = request["headers"].get(values[0])
        return value is not None and (value == values[1] if name == "Header" else re.search(values[1], value) is not None)
    if name in ("Query", "QueryRegexp"):
        given = request["query"].get(values[0])
        wanted = values[1] if len(values) > 1 else ""
        return given is not None and (given == wanted if name == "Query" else re.search(wanted, given) is not None)
    if name == "ClientIP":
        return ipaddress.ip_address(request["client_ip"]) in ipaddress.ip_network(values[0], strict=False)
    raise RuleError("cannot evaluate %s" % name)


def route_request(routers, host, path, method="GET", headers=None, query=None, client_ip="127.0.0.1",
                  entry_point=None):
    """Name of the HTTP router Traefik would pick for a request, or None.

    Routers are tried by priority (the ``priority`` option, else the rule's length), highest first,
    as Traefik does; regular expressions use Python's ``re`` (close to Go's RE2 for such rules).
    """
    request = {"host": host, "path": path, "method": method, "headers": headers or {}, "query": query or {},
               "client_ip": client_ip}
    ranked = sorted(routers.items(), key=lambda item: (-(item[1].get("priority") or len(item[1]["rule"])), item[0]))
    for name, router in ranked:
        if entry_point and router.get("entryPoints") and entry_point not in router["entryPoints"]:
            continue
        if _matches(parse_rule_tree(router["rule"]), request):
            return name
    return None


def rule_hosts(rule, tcp=False):
    """Host names a rule matches (positive Host / HostSNI matchers), in order, without duplicates."""
    wanted = "HostSNI" if tcp else "Host"
    hosts = []
    for matcher in parse_rule(rule, tcp=tcp):
        if matcher.name == wanted and not matcher.negated and matcher.values[0] not in hosts:
            hosts.append(matcher.values[0])
    return hosts


def _quote(value):
    if "`" in value:
        raise RuleError("%r contains a backtick, which cannot be quoted in a rule value" % value)
    return "`%s`" % value


def _as_list(value, what):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise RuleError("%s must be a string or a list of strings" % what)


def build_rule(hosts=None, path_prefixes=None, paths=None, methods=None, headers=None):
    """Build a v3 rule: (any host) && (any path or prefix) && (any method) && every header.

    A host with ``*`` (``*.example.com``) becomes ``HostRegexp(`^[^.]+\\.example\\.com$`)``: v3's
    ``Host`` has no wildcards, and ``*`` stands for exactly one label, as in a wildcard certificate.

    ``headers`` is a mapping of header name -> exact value. The result is parsed back before it is
    returned, so a value Traefik would refuse raises :class:`RuleError` here.
    """
    groups = []
    host_list = _as_list(hosts, "hosts")
    if host_list:
        groups.append(["HostRegexp(%s)" % _quote(wildcard_regexp(h)) if "*" in h else "Host(%s)" % _quote(h)
                       for h in host_list])
    path_group = ["Path(%s)" % _quote(p) for p in _as_list(paths, "paths")]
    path_group += ["PathPrefix(%s)" % _quote(p) for p in _as_list(path_prefixes, "path_prefixes")]
    if path_group:
        groups.append(path_group)
    method_list = _as_list(methods, "methods")
    if method_list:
        groups.append(["Method(%s)" % _quote(m.upper()) for m in method_list])
    for key, value in sorted((headers or {}).items()):
        groups.append(["Header(%s, %s)" % (_quote(str(key)), _quote(str(value)))])
    if not groups:
        raise RuleError("give at least one host, path, path prefix, method or header")
    rule = " && ".join(("(%s)" % " || ".join(group)) if len(group) > 1 and len(groups) > 1 else " || ".join(group)
                       for group in groups)
    parse_rule(rule)
    return rule


# Password hashes Traefik's basicAuth accepts in a users line (htpasswd -nB: bcrypt; apr1 = MD5; SHA1).
_HTPASSWD_RE = re.compile(r"^(?P<name>[^:\s]+):(?P<hash>\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"
                          r"|\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}|\{SHA\}[A-Za-z0-9+/]{27}=)$")


def htpasswd_problems(lines):
    """What is wrong with each basicAuth users line that is not ``name:hash``; never shows a hash or password."""
    problems = []
    for index, line in enumerate(lines or []):
        if isinstance(line, str) and _HTPASSWD_RE.match(line):
            continue
        name, sep, secret = line.partition(":") if isinstance(line, str) else ("", "", "")
        if not sep or not name or re.search(r"\s", name):
            problems.append("entry %d is not name:hash" % (index + 1))
        elif "CHANGE_ME" in secret:
            problems.append("user %r has the CHANGE_ME placeholder instead of a hash" % name)
        else:
            problems.append("user %r has no bcrypt, apr1 or SHA1 hash (a plain password?)" % name)
    return problems


# --------------------------------------------------------------------------------------------
# Dynamic configuration (file provider) schema, as our own compact data structure.
# A spec is a type name (str), a dict of known keys -> spec, ListOf(spec) or MapOf(spec).
# --------------------------------------------------------------------------------------------

class ListOf(object):
    def __init__(self, item):
        self.item = item


class MapOf(object):
    def __init__(self, item):
        self.item = item


STR, INT, BOOL, NUM, DUR, ANY = "string", "integer", "boolean", "number", "duration", "any"
STRS = ListOf(STR)
STRMAP = MapOf(STR)
DOMAINS = ListOf({"main": STR, "sans": STRS})
CLIENT_TLS = {"ca": STR, "cert": STR, "key": STR, "insecureSkipVerify": BOOL}
IP_STRATEGY = {"depth": INT, "excludedIPs": STRS, "ipv6Subnet": INT}
SOURCE_CRITERION = {"ipStrategy": IP_STRATEGY, "requestHeaderName": STR, "requestHost": BOOL}
STICKY = {"cookie": {"name": STR, "secure": BOOL, "httpOnly": BOOL, "sameSite": STR, "maxAge": INT,
                     "path": STR, "domain": STR}}
HEALTH_CHECK = {"scheme": STR, "mode": STR, "path": STR, "method": STR, "status": INT, "port": INT,
                "interval": DUR, "unhealthyInterval": DUR, "timeout": DUR, "hostname": STR,
                "followRedirects": BOOL, "headers": STRMAP}
CERT_INFO = {k: BOOL for k in ("country", "province", "locality", "organization", "organizationalUnit",
                               "commonName", "serialNumber", "domainComponent")}

HTTP_ROUTER = {
    "entryPoints": STRS, "rule": STR, "ruleSyntax": STR, "priority": INT, "middlewares": STRS,
    "service": STR, "tls": {"options": STR, "certResolver": STR, "domains": DOMAINS},
    "observability": {"accessLogs": BOOL, "metrics": BOOL, "tracing": BOOL},
}
HTTP_SERVICE_KINDS = {
    "loadBalancer": {
        "servers": ListOf({"url": STR, "weight": INT, "preservePath": BOOL}), "sticky": STICKY,
        "healthCheck": HEALTH_CHECK, "passHostHeader": BOOL, "responseForwarding": {"flushInterval": DUR},
        "serversTransport": STR, "strategy": STR,
    },
    "weighted": {"services": ListOf({"name": STR, "weight": NUM}), "sticky": STICKY, "healthCheck": {}},
    "mirroring": {"service": STR, "maxBodySize": INT, "mirrorBody": BOOL,
                  "mirrors": ListOf({"name": STR, "percent": NUM}), "healthCheck": {}},
    "failover": {"service": STR, "fallback": STR, "healthCheck": {}},
}
AUTH_USERS = {"users": STRS, "usersFile": STR, "realm": STR, "headerField": STR, "removeHeader": BOOL}
HTTP_MIDDLEWARE_KINDS = {
    "addPrefix": {"prefix": STR},
    "basicAuth": AUTH_USERS,
    "buffering": {"maxRequestBodyBytes": INT, "memRequestBodyBytes": INT, "maxResponseBodyBytes": INT,
                  "memResponseBodyBytes": INT, "retryExpression": STR},
    "chain": {"middlewares": STRS},
    "circuitBreaker": {"expression": STR, "checkPeriod": DUR, "fallbackDuration": DUR, "recoveryDuration": DUR,
                       "responseCode": INT},
    "compress": {"excludedContentTypes": STRS, "includedContentTypes": STRS, "minResponseBodyBytes": INT,
                 "defaultEncoding": STR, "encodings": STRS},
    "contentType": {"autoDetect": BOOL},
    "digestAuth": AUTH_USERS,
    "errors": {"status": STRS, "service": STR, "query": STR, "statusRewrites": MapOf(INT),
               "errorRequestHeaders": STRS},
    "forwardAuth": {"address": STR, "tls": CLIENT_TLS, "trustForwardHeader": BOOL, "authResponseHeaders": STRS,
                    "authResponseHeadersRegex": STR, "authRequestHeaders": STRS, "addAuthCookiesToResponse": STRS,
                    "headerField": STR, "forwardBody": BOOL, "maxBodySize": INT, "preserveLocationHeader": BOOL,
                    "preserveRequestMethod": BOOL},
    "grpcWeb": {"allowOrigins": STRS},
    "headers": {
        "customRequestHeaders": STRMAP, "customResponseHeaders": STRMAP, "accessControlAllowCredentials": BOOL,
        "accessControlAllowHeaders": STRS, "accessControlAllowMethods": STRS, "accessControlAllowOriginList": STRS,
        "accessControlAllowOriginListRegex": STRS, "accessControlExposeHeaders": STRS, "accessControlMaxAge": INT,
        "addVaryHeader": BOOL, "allowedHosts": STRS, "hostsProxyHeaders": STRS, "sslProxyHeaders": STRMAP,
        "stsSeconds": INT, "stsIncludeSubdomains": BOOL, "stsPreload": BOOL, "forceSTSHeader": BOOL,
        "frameDeny": BOOL, "customFrameOptionsValue": STR, "contentTypeNosniff": BOOL, "browserXssFilter": BOOL,
        "customBrowserXSSValue": STR, "contentSecurityPolicy": STR, "contentSecurityPolicyReportOnly": STR,
        "publicKey": STR, "referrerPolicy": STR, "permissionsPolicy": STR, "isDevelopment": BOOL,
    },
    "ipAllowList": {"sourceRange": STRS, "ipStrategy": IP_STRATEGY, "rejectStatusCode": INT},
    "inFlightReq": {"amount": INT, "sourceCriterion": SOURCE_CRITERION},
    "passTLSClientCert": {"pem": BOOL, "info": {"notAfter": BOOL, "notBefore": BOOL, "sans": BOOL,
                                                "serialNumber": BOOL, "subject": CERT_INFO, "issuer": CERT_INFO}},
    "plugin": MapOf(ANY),
    "rateLimit": {"average": NUM, "period": DUR, "burst": INT, "sourceCriterion": SOURCE_CRITERION,
                  "redis": {"endpoints": STRS, "tls": CLIENT_TLS, "username": STR, "password": STR, "db": INT,
                            "poolSize": INT, "minIdleConns": INT, "maxActiveConns": INT, "readTimeout": DUR,
                            "writeTimeout": DUR, "dialTimeout": DUR}},  # redis: Traefik v3.4
    "redirectRegex": {"regex": STR, "replacement": STR, "permanent": BOOL},
    "redirectScheme": {"scheme": STR, "port": STR, "permanent": BOOL},
    "replacePath": {"path": STR},
    "replacePathRegex": {"regex": STR, "replacement": STR},
    "retry": {"attempts": INT, "initialInterval": DUR},
    "stripPrefix": {"prefixes": STRS},
    "stripPrefixRegex": {"regex": STRS},
}
SERVERS_TRANSPORT = {
    "serverName": STR, "certificates": ListOf({"certFile": STR, "keyFile": STR}), "insecureSkipVerify": BOOL,
    "rootCAs": STRS, "maxIdleConnsPerHost": INT, "disableHTTP2": BOOL, "peerCertURI": STR,
    "forwardingTimeouts": {"dialTimeout": DUR, "responseHeaderTimeout": DUR, "idleConnTimeout": DUR,
                           "readIdleTimeout": DUR, "pingTimeout": DUR},
    "spiffe": {"ids": STRS, "trustDomain": STR},
}
TCP_ROUTER = {"entryPoints": STRS, "middlewares": STRS, "rule": STR, "ruleSyntax": STR, "service": STR,
              "priority": INT, "tls": {"passthrough": BOOL, "options": STR, "certResolver": STR, "domains": DOMAINS}}
TCP_SERVICE_KINDS = {
    "loadBalancer": {"servers": ListOf({"address": STR, "tls": BOOL}), "proxyProtocol": {"version": INT},
                     "serversTransport": STR},
    "weighted": {"services": ListOf({"name": STR, "weight": NUM})},
}
TCP_MIDDLEWARE_KINDS = {"ipAllowList": {"sourceRange": STRS}, "inFlightConn": {"amount": INT}}
UDP_ROUTER = {"entryPoints": STRS, "service": STR}
UDP_SERVICE_KINDS = {"loadBalancer": {"servers": ListOf({"address": STR})},
                     "weighted": {"services": ListOf({"name": STR, "weight": NUM})}}
TLS_OPTIONS = {"minVersion": STR, "maxVersion": STR, "cipherSuites": STRS, "curvePreferences": STRS,
               "sniStrict": BOOL, "alpnProtocols": STRS, "disableSessionTickets": BOOL,
               "clientAuth": {"caFiles": STRS, "clientAuthType": STR}}
TLS_SECTION = {
    "certificates": ListOf({"certFile": STR, "keyFile": STR, "stores": STRS}),
    "options": MapOf(TLS_OPTIONS),
    "stores": MapOf({"defaultCertificate": {"certFile": STR, "keyFile": STR},
                     "defaultGeneratedCert": {"resolver": STR, "domain": {"main": STR, "sans": STRS}}}),
}
# Keys Traefik v3 removed, with the replacement to suggest.
REMOVED_KEYS = {
    "ipWhiteList": "ipAllowList (renamed in v3, same options)",
    "sslRedirect": "a redirectScheme middleware (scheme: https); removed from headers in v3",
    "sslTemporaryRedirect": "a redirectScheme middleware; removed from headers in v3",
    "sslHost": "a redirectRegex middleware; removed from headers in v3",
    "sslForceHost": "a redirectRegex middleware; removed from headers in v3",
    "featurePolicy": "permissionsPolicy (featurePolicy was removed in v3)",
    "forceSlash": "nothing: stripPrefix.forceSlash was removed in v3",
    "preferServerCipherSuites": "nothing: removed in v3",
    "terminationDelay": "tcp.serversTransports.<name>.terminationDelay (moved in v3)",
}
INTERNAL_SERVICES = ("acme-http", "api", "dashboard", "noop", "ping", "prometheus", "rest")
PROVIDERS = ("consul", "consulcatalog", "docker", "ecs", "etcd", "file", "http", "internal", "kubernetescrd",
             "kubernetesgateway", "kubernetesingress", "knative", "nomad", "plugin", "redis", "rest", "swarm",
             "zookeeper")
AUTH_MIDDLEWARES = ("basicAuth", "digestAuth", "forwardAuth")
SECRET_FIELDS = (("basicAuth", "users"), ("digestAuth", "users"))


def _type_ok(value, spec):
    if spec == ANY:
        return True
    if spec == STR:
        return isinstance(value, str)
    if spec == BOOL:
        return isinstance(value, bool)
    if spec == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool) or (
            isinstance(value, str) and re.match(r"^-?\d+(\.\d+)?$", value) is not None)
    if spec == DUR:
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.match(r"^(-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?\d+$", value) is not None)
    raise AssertionError(spec)


def _describe(spec):
    if isinstance(spec, dict):
        return "a mapping"
    if isinstance(spec, ListOf):
        return "a list of strings" if spec.item == STR else "a list"
    if isinstance(spec, MapOf):
        return "a mapping"
    if spec == DUR:
        return "a duration such as 10s or 1m"
    return "a " + spec if spec != INT else "an integer"


def check_shape(value, spec, where, problems):
    """Append a problem for every unknown key or wrong type of ``value`` against ``spec``."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            problems.append("%s: must be %s, got %s" % (where, _describe(spec), _kind(value)))
            return
        for key, item in value.items():
            if key not in spec:
                if key in REMOVED_KEYS:
                    problems.append("%s.%s: not supported by Traefik v3: use %s" % (where, key, REMOVED_KEYS[key]))
                else:
                    problems.append("%s.%s: unknown key%s; known keys: %s" % (
                        where, key, _did_you_mean(str(key), spec), ", ".join(sorted(spec)) or "none"))
                continue
            check_shape(item, spec[key], "%s.%s" % (where, key), problems)
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            problems.append("%s: must be %s, got %s" % (where, _describe(spec), _kind(value)))
            return
        for index, item in enumerate(value):
            check_shape(item, spec.item, "%s[%d]" % (where, index), problems)
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict):
            problems.append("%s: must be a mapping, got %s" % (where, _kind(value)))
            return
        for key, item in value.items():
            check_shape(item, spec.item, "%s.%s" % (where, key), problems)
    elif not _type_ok(value, spec):
        problems.append("%s: must be %s, got %s" % (where, _describe(spec), _kind(value)))


def _kind(value):
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean (%s)" % value
    if isinstance(value, (int, float)):
        return "a number (%s)" % value
    if isinstance(value, str):
        return "a string (%r)" % (value if len(value) < 60 else value[:57] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _one_kind(entry, kinds, where, problems, what):
    """Check an entry that must hold exactly one of ``kinds``; return that kind or None."""
    if not isinstance(entry, dict):
        problems.append("%s: must be a mapping with one of %s, got %s" % (where, ", ".join(sorted(kinds)), _kind(entry)))
        return None
    present = [key for key in entry if key in kinds]
    unknown = [key for key in entry if key not in kinds]
    for key in unknown:
        if key in REMOVED_KEYS:
            problems.append("%s.%s: not supported by Traefik v3: use %s" % (where, key, REMOVED_KEYS[key]))
        else:
            problems.append("%s.%s: unknown %s kind%s; known kinds: %s" % (
                where, key, what, _did_you_mean(str(key), kinds), ", ".join(sorted(kinds))))
    if len(present) != 1:
        if not unknown:
            problems.append("%s: a %s needs exactly one of %s, got %s" % (
                where, what, ", ".join(sorted(kinds)), ", ".join(present) or "none"))
        return None
    check_shape(entry[present[0]], kinds[present[0]], "%s.%s" % (where, present[0]), problems)
    return present[0]


def _check_url(url, where, problems):
    match = re.match(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-fA-F:.]+\]|[^/:?#\s]+)(:(?P<port>[^/?#]*))?"
                     r"(?P<rest>[/?#]\S*)?$", url or "")
    if not match:
        problems.append("%s: %r is not a URL: write scheme://host[:port], e.g. http://hermes:3000" % (where, url))
        return
    if match.group("scheme") not in ("http", "https", "h2c"):
        problems.append("%s: %r: the scheme must be http, https or h2c" % (where, url))
    port = match.group("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        problems.append("%s: %r: port %r is not a number between 1 and 65535" % (where, url, port))


def _check_address(address, where, problems):
    match = re.match(r"^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):(\d+)$", address or "") if isinstance(address, str) else None
    if not match or not 0 < int(match.group(2)) < 65536:
        problems.append("%s: %r is not host:port" % (where, address))


def _check_strings(doc, problems, prefix="", where=""):
    """Traefik's file provider runs every file through Go templates: '{{' would be evaluated."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            _check_strings(value, problems, prefix, "%s.%s" % (where, key) if where else str(key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            _check_strings(value, problems, prefix, "%s[%d]" % (where, index))
    elif isinstance(doc, str) and "{{" in doc:
        problems.append("%s%s: contains '{{', which Traefik's file provider evaluates as a Go template: "
                        "remove it (an unrendered Jinja expression?)" % (prefix, where))


DYNAMIC_SECTIONS = {
    "http": ("routers", "services", "middlewares", "serversTransports"),
    "tcp": ("routers", "services", "middlewares", "serversTransports"),
    "udp": ("routers", "services"),
    "tls": ("certificates", "options", "stores"),
}


def check_document(doc, where=""):
    """Structural checks of one dynamic-configuration document (one file) on its own."""
    problems = []
    prefix = where + ": " if where else ""
    if doc is None:
        return problems
    if not isinstance(doc, dict):
        return ["%sthe file must hold a mapping (http:, tcp:, udp:, tls:), got %s" % (prefix, _kind(doc))]
    for section, value in doc.items():
        if section not in DYNAMIC_SECTIONS:
            problems.append("%s%s: unknown top-level key%s; known: %s" % (
                prefix, section, _did_you_mean(str(section), DYNAMIC_SECTIONS), ", ".join(DYNAMIC_SECTIONS)))
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append("%s%s: must be a mapping, got %s" % (prefix, section, _kind(value)))
            continue
        for key in value:
            if key not in DYNAMIC_SECTIONS[section]:
                problems.append("%s%s.%s: unknown key%s; known: %s" % (
                    prefix, section, key, _did_you_mean(str(key), DYNAMIC_SECTIONS[section]),
                    ", ".join(DYNAMIC_SECTIONS[section])))
    http, tcp, udp = (doc.get(name) if isinstance(doc.get(name), dict) else {} for name in ("http", "tcp", "udp"))
    _check_named(http, "routers", prefix + "http.routers", problems, _check_http_router)
    _check_named(http, "services", prefix + "http.services", problems,
                 lambda e, w, p: _check_service(e, w, p, HTTP_SERVICE_KINDS))
    _check_named(http, "middlewares", prefix + "http.middlewares", problems, _check_http_middleware)
    _check_named(http, "serversTransports", prefix + "http.serversTransports", problems,
                 lambda e, w, p: check_shape(e, SERVERS_TRANSPORT, w, p))
    _check_named(tcp, "routers", prefix + "tcp.routers", problems, _check_tcp_router)
    _check_named(tcp, "services", prefix + "tcp.services", problems,
                 lambda e, w, p: _check_service(e, w, p, TCP_SERVICE_KINDS, tcp=True))
    _check_named(tcp, "middlewares", prefix + "tcp.middlewares", problems,
                 lambda e, w, p: _one_kind(e, TCP_MIDDLEWARE_KINDS, w, p, "middleware"))
    _check_named(tcp, "serversTransports", prefix + "tcp.serversTransports", problems,
                 lambda e, w, p: check_shape(e, MapOf(ANY), w, p))
    _check_named(udp, "routers", prefix + "udp.routers", problems,
                 lambda e, w, p: check_shape(e, UDP_ROUTER, w, p) or _require(e, ("service",), w, p))
    _check_named(udp, "services", prefix + "udp.services", problems,
                 lambda e, w, p: _check_service(e, w, p, UDP_SERVICE_KINDS, tcp=True))
    if isinstance(doc.get("tls"), dict):
        check_shape(doc["tls"], TLS_SECTION, prefix + "tls", problems)
    _check_strings({k: v for k, v in doc.items() if k in DYNAMIC_SECTIONS}, problems, prefix)
    return problems


def _check_named(section, kind, where, problems, check):
    entries = section.get(kind) if isinstance(section, dict) else None
    if entries is None:
        return
    if not isinstance(entries, dict):
        problems.append("%s: must be a mapping of name -> definition, got %s" % (where, _kind(entries)))
        return
    for name, entry in entries.items():
        if not isinstance(name, str) or not name:
            problems.append("%s: %r is not a valid name" % (where, name))
            continue
        if "@" in name:
            problems.append("%s.%s: '@' is not allowed in a name (it separates name@provider in references)"
                            % (where, name))
        check(entry, "%s.%s" % (where, name), problems)


def _require(entry, keys, where, problems):
    if isinstance(entry, dict):
        for key in keys:
            if entry.get(key) in (None, "", []):
                problems.append("%s: %s is required" % (where, key))


def _check_rule(entry, where, problems, tcp):
    rule = entry.get("rule") if isinstance(entry, dict) else None
    if isinstance(rule, str):
        try:
            parse_rule(rule, tcp=tcp)
        except RuleError as exc:
            problems.append("%s.rule: %s" % (where, exc))
    syntax = entry.get("ruleSyntax") if isinstance(entry, dict) else None
    if syntax not in (None, "v3"):
        problems.append("%s.ruleSyntax: %r is deprecated or unknown: rewrite the rule in v3 syntax and drop "
                        "ruleSyntax" % (where, syntax))


def _check_http_router(entry, where, problems):
    check_shape(entry, HTTP_ROUTER, where, problems)
    _require(entry, ("rule", "service"), where, problems)
    _check_rule(entry, where, problems, tcp=False)
    if isinstance(entry, dict) and isinstance(entry.get("priority"), int) and entry["priority"] < 0:
        problems.append("%s.priority: must be 0 or more" % where)


def _check_tcp_router(entry, where, problems):
    check_shape(entry, TCP_ROUTER, where, problems)
    _require(entry, ("rule", "service"), where, problems)
    _check_rule(entry, where, problems, tcp=True)


def _check_service(entry, where, problems, kinds, tcp=False):
    kind = _one_kind(entry, kinds, where, problems, "service")
    if kind != "loadBalancer":
        body = entry[kind] if kind and isinstance(entry[kind], dict) else {}
        if kind == "weighted" and not body.get("services"):
            problems.append("%s.weighted.services: list at least one service" % where)
        for key in {"mirroring": ("service",), "failover": ("service", "fallback")}.get(kind, ()):
            if body.get(key) in (None, ""):
                problems.append("%s.%s.%s: required: name the %s service (Traefik refuses the service without it)"
                                % (where, kind, key, "main" if key == "service" else "fallback"))
        return
    servers = entry[kind].get("servers") if isinstance(entry[kind], dict) else None
    if not servers:
        problems.append("%s.loadBalancer.servers: list at least one server (%s)" % (
            where, "address: host:port" if tcp else "url: http://host:port"))
        return
    if not isinstance(servers, list):
        return
    for index, server in enumerate(servers):
        if not isinstance(server, dict):
            continue
        here = "%s.loadBalancer.servers[%d]" % (where, index)
        if tcp:
            _check_address(server.get("address"), here + ".address", problems)
        elif "url" not in server:
            problems.append("%s.url: required" % here)
        elif isinstance(server["url"], str):
            _check_url(server["url"], here + ".url", problems)


def _check_http_middleware(entry, where, problems):
    kind = _one_kind(entry, HTTP_MIDDLEWARE_KINDS, where, problems, "middleware")
    body = entry.get(kind) if kind and isinstance(entry.get(kind), dict) else None
    if body is None:
        return
    if kind in ("basicAuth", "digestAuth") and not body.get("users") and not body.get("usersFile"):
        problems.append("%s.%s: give users or usersFile" % (where, kind))
    if kind == "basicAuth":
        for index, user in enumerate(body.get("users") or []):
            if isinstance(user, str) and not re.match(r"^[^:\s]+:\S+$", user):
                problems.append("%s.basicAuth.users[%d]: must be name:hash (htpasswd format, e.g. from "
                                "`htpasswd -nB name`)" % (where, index))
    if kind == "chain" and not body.get("middlewares"):
        problems.append("%s.chain.middlewares: list at least one middleware" % where)
    if kind == "redirectScheme" and not body.get("scheme"):
        problems.append("%s.redirectScheme.scheme: required (e.g. https)" % where)
    if kind in ("redirectRegex", "replacePathRegex") and isinstance(body.get("regex"), str):
        problem = check_regexp(body["regex"])
        if problem:
            problems.append("%s.%s.regex: %s" % (where, kind, problem))
    if kind == "ipAllowList":
        for index, source in enumerate(body.get("sourceRange") or []):
            try:
                ipaddress.ip_network(str(source), strict=False)
            except ValueError:
                problems.append("%s.ipAllowList.sourceRange[%d]: %r is not an IP address or CIDR range"
                                % (where, index, source))
    if kind == "forwardAuth" and isinstance(body.get("address"), str):
        _check_url(body["address"], where + ".forwardAuth.address", problems)
    if kind == "retry" and "attempts" not in body:
        problems.append("%s.retry.attempts: required" % where)


# --------------------------------------------------------------------------------------------
# Files and directories
# --------------------------------------------------------------------------------------------

class _UniqueKeyLoader(_LOADER_BASE):
    """Safe loader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    seen = {}
    for key_node, _value_node in node.value:
        # Scalar keys compare by tag and text (cheap); anything else is constructed.
        key = (key_node.tag, key_node.value) if isinstance(key_node, yaml.ScalarNode) else \
            loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                "found duplicate key %r (first at line %d)" % (
                    key[1] if isinstance(key, tuple) else key, seen[key] + 1), key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


if HAS_YAML:
    _UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _need_yaml():
    if not HAS_YAML:
        raise TraefikConfigError(["PyYAML is missing on this host: install python3-yaml (Debian) or PyYAML"])


def load_text(text, name):
    """Parse one file's text (YAML, or TOML by extension); raise TraefikConfigError naming the file."""
    _need_yaml()
    if name.lower().endswith(".toml"):
        if tomllib is None:
            raise TraefikConfigError(["%s: cannot read TOML without Python 3.11 (tomllib)" % name])
        try:
            return tomllib.loads(text)
        except ValueError as exc:
            raise TraefikConfigError(["%s does not parse as TOML: %s" % (name, exc)])
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # nosec B506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TraefikConfigError(["%s does not parse as YAML: %s" % (name, " ".join(str(exc).split()))])


def load_file(path):
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise TraefikConfigError(["cannot read %s: %s" % (path, exc.strerror or exc)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraefikConfigError(["%s is not UTF-8 text" % path])
    return load_text(text, path)


def directory_files(directory, exclude=()):
    """Files Traefik's file provider reads in ``directory`` (recursive; .yml/.yaml/.toml), in its order."""
    excluded = set(os.path.realpath(p) for p in exclude)
    found = []
    if not os.path.isdir(directory):
        return found
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            found.extend(directory_files(path, exclude))
        elif os.path.splitext(entry)[1].lower() in (".yml", ".yaml", ".toml") and os.path.realpath(path) not in excluded:
            found.append(path)
    return found


def load_directory(directory, exclude=()):
    """{path: document} for the other files of the directory; every unparsable one is a problem."""
    docs, problems = {}, []
    for path in directory_files(directory, exclude):
        try:
            docs[path] = load_file(path)
        except TraefikConfigError as exc:
            problems.extend("%s (Traefik drops every file-provider route while a file is broken: fix or remove it)"
                            % p for p in exc.problems)
    if problems:
        raise TraefikConfigError(problems)
    return docs


def _names(doc, section, kind):
    if not isinstance(doc, dict) or not isinstance(doc.get(section), dict):
        return {}
    entries = doc[section].get(kind)
    return entries if isinstance(entries, dict) else {}


class Context(object):
    """What the rest of the directory (and optionally the static config) defines."""

    def __init__(self, others=None, static=None):
        self.others = others or {}
        self.static = static if isinstance(static, dict) else None
        self.missing = []  # (where, kind, reference) of every reference that did not resolve

    def defined(self, section, kind):
        """{name: file} over the other files; the first file wins, as in Traefik."""
        names = {}
        for path, doc in self.others.items():
            for name in _names(doc, section, kind):
                names.setdefault(name, path)
        return names


def _split_ref(ref):
    name, _sep, provider = ref.partition("@")
    return name, (provider or None)


def _resolve(ref, section, kind, doc, context, where, problems, internal=()):
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
            problems.append("%s: unknown provider %r in %s%s" % (where, provider, ref, _did_you_mean(provider, PROVIDERS)))
        return None
    local = _names(doc, section, kind)
    if name in local:
        return local[name]
    for path, other in context.others.items():
        entries = _names(other, section, kind)
        if name in entries:
            return entries[name]
    context.missing.append((where, kind[:-1], ref))
    known = set(local) | set(context.defined(section, kind))
    problems.append("%s: %s %r is not defined in this file or any other file of the directory%s: define it under "
                    "%s.%s or reference another provider's as name@provider" % (
                        where, kind[:-1], ref, _did_you_mean(name, known), section, kind))
    return None


def _middleware_kinds(ref, doc, context, seen=None):
    """Middleware kinds behind a reference, following chains (unknown providers give nothing)."""
    seen = seen if seen is not None else set()
    name, provider = _split_ref(ref)
    if provider not in (None, "file") or name in seen:
        return set()
    seen.add(name)
    entry = _names(doc, "http", "middlewares").get(name)
    if entry is None:
        for other in context.others.values():
            entry = _names(other, "http", "middlewares").get(name)
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
    http = doc.get("http") if isinstance(doc, dict) and isinstance(doc.get("http"), dict) else {}
    entry_points = resolvers = None
    if context.static is not None:
        entry_points = set((context.static.get("entryPoints") or {}).keys())
        resolvers = set((context.static.get("certificatesResolvers") or {}).keys())
    tls_options = set(_names(doc, "tls", "options")) | set(context.defined("tls", "options")) | {"default"}
    for name, router in sorted(_names(doc, "http", "routers").items()):
        if not isinstance(router, dict):
            continue
        here = "%shttp.routers.%s" % (prefix, name)
        service = router.get("service")
        if service is not None:
            _resolve(service, "http", "services", doc, context, here + ".service", problems, INTERNAL_SERVICES)
        middlewares = router.get("middlewares") if isinstance(router.get("middlewares"), list) else []
        for index, ref in enumerate(middlewares):
            _resolve(ref, "http", "middlewares", doc, context, "%s.middlewares[%d]" % (here, index), problems)
        tls = router.get("tls") if isinstance(router.get("tls"), dict) else None
        if tls and isinstance(tls.get("options"), str):
            option = _split_ref(tls["options"])[0]
            if option not in tls_options:
                problems.append("%s.tls.options: TLS options %r are not defined under tls.options in the directory%s"
                                % (here, tls["options"], _did_you_mean(option, tls_options)))
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
    for name, service in sorted(_names(doc, "http", "services").items()):
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
            known = set(_names(doc, "http", "serversTransports")) | set(context.defined("http", "serversTransports"))
            if provider in (None, "file") and transport not in known:
                problems.append("%s.loadBalancer.serversTransport: %r is not defined under http.serversTransports"
                                % (here, body["serversTransport"]))
        for ref, suffix in refs:
            if ref is not None:
                _resolve(ref, "http", "services", doc, context, here + suffix, problems, INTERNAL_SERVICES)
    for name, middleware in sorted(_names(doc, "http", "middlewares").items()):
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
                             problems)
        errors = middleware.get("errors")
        if isinstance(errors, dict) and errors.get("service") is not None:
            _resolve(errors["service"], "http", "services", doc, context, here + ".errors.service", problems,
                     INTERNAL_SERVICES)
    for name, router in sorted(_names(doc, "tcp", "routers").items()):
        if isinstance(router, dict) and router.get("service") is not None:
            _resolve(router["service"], "tcp", "services", doc, context, "%stcp.routers.%s.service" % (prefix, name),
                     problems)
    for name, router in sorted(_names(doc, "udp", "routers").items()):
        if isinstance(router, dict) and router.get("service") is not None:
            _resolve(router["service"], "udp", "services", doc, context, "%sudp.routers.%s.service" % (prefix, name),
                     problems)
    return problems


DUPLICATE_CHECKED = (("http", "routers"), ("http", "services"), ("http", "middlewares"), ("http", "serversTransports"),
                     ("tcp", "routers"), ("tcp", "services"), ("tcp", "middlewares"), ("udp", "routers"),
                     ("udp", "services"), ("tls", "options"))


def check_duplicates(doc, context, where=""):
    problems = []
    prefix = where + ": " if where else ""
    for section, kind in DUPLICATE_CHECKED:
        elsewhere = context.defined(section, kind)
        for name in sorted(_names(doc, section, kind)):
            if name in elsewhere:
                problems.append("%s%s.%s.%s is also defined in %s: Traefik keeps only the first definition it reads "
                                "and ignores the other without an error; rename one or remove the duplicate"
                                % (prefix, section, kind, name, elsewhere[name]))
    return problems


def check_dependents(previous, doc, context, where=""):
    """References of the OTHER files of the directory that the change from ``previous`` to ``doc``
    breaks (e.g. a service removed here that a router there still uses): Traefik would disable
    those routers. References that were already broken before the change are not reported."""
    problems = []
    prefix = where + ": " if where else ""
    this = "\0" + (where or "this file")  # a key no other file can have
    for path, other in context.others.items():
        rest = dict((p, d) for p, d in context.others.items() if p != path)
        before, after = (Context(dict(rest, **{this: version}), context.static) for version in (previous, doc))
        already = set(check_references(other, before))
        new_problems = [p for p in check_references(other, after) if p not in already]
        if not new_problems:
            continue
        for location, kind, ref in after.missing:
            if (location, kind, ref) not in before.missing:
                problems.append("%sremoves %s %r, which %s still uses (%s): keep it in this file, or change %s first "
                                "(Traefik would disable what refers to it)" % (prefix, kind, ref, path, location, path))
        reported = set(location for location, _kind, _ref in after.missing)
        problems.extend("%sthis change breaks %s: %s" % (prefix, path, problem) for problem in new_problems
                        if not any(problem.startswith(location + ":") for location in reported))
    return problems


def validate(doc, context=None, where="", previous=None):
    """All checks of one dynamic-config document in its directory context; returns the problems.

    With ``previous`` (the file as it is now), references of the other files that the new ``doc``
    no longer satisfies are problems too (see :func:`check_dependents`)."""
    context = context or Context()
    problems = check_document(doc, where)
    if isinstance(doc, dict):
        problems += check_duplicates(doc, context, where)
        problems += check_references(doc, context, where)
        if previous is not None:
            problems += check_dependents(previous, doc, context, where)
    return problems


# --------------------------------------------------------------------------------------------
# Static configuration
# --------------------------------------------------------------------------------------------

STATIC_TOP = ("accessLog", "api", "certificatesResolvers", "core", "entryPoints", "experimental", "global",
              "hostResolver", "hub", "log", "metrics", "ocsp", "ping", "providers", "serversTransport", "spiffe",
              "tcpServersTransport", "tracing")
ENTRY_POINT = {
    "address": STR, "allowACMEByPass": BOOL, "asDefault": BOOL, "reusePort": BOOL,
    "forwardedHeaders": {"insecure": BOOL, "trustedIPs": STRS, "connection": STRS},
    "proxyProtocol": {"insecure": BOOL, "trustedIPs": STRS},
    "http": {"redirections": {"entryPoint": {"to": STR, "scheme": STR, "permanent": BOOL, "priority": INT}},
             "middlewares": STRS, "encodeQuerySemicolons": BOOL, "maxHeaderBytes": INT, "encodedCharacters": MapOf(BOOL),
             "tls": {"options": STR, "certResolver": STR, "domains": DOMAINS}, "sanitizePath": BOOL},
    "http2": {"maxConcurrentStreams": INT}, "http3": {"advertisedPort": INT},
    "transport": {"keepAliveMaxRequests": INT, "keepAliveMaxTime": DUR,
                  "lifeCycle": {"graceTimeOut": DUR, "requestAcceptGraceTimeout": DUR},
                  "respondingTimeouts": {"idleTimeout": DUR, "readTimeout": DUR, "writeTimeout": DUR}},
    "udp": {"timeout": DUR},
    "observability": {"accessLogs": BOOL, "metrics": BOOL, "tracing": BOOL},
}
STATIC_SPEC = {
    "accessLog": {"filePath": STR, "format": STR, "bufferingSize": INT, "addInternals": BOOL,
                  "filters": {"statusCodes": STRS, "retryAttempts": BOOL, "minDuration": DUR},
                  "fields": {"defaultMode": STR, "names": STRMAP, "headers": {"defaultMode": STR, "names": STRMAP}},
                  "otlp": MapOf(ANY)},
    "api": {"dashboard": BOOL, "insecure": BOOL, "debug": BOOL, "basePath": STR, "disableDashboardAd": BOOL},
    "certificatesResolvers": MapOf({"acme": {
        "email": STR, "caServer": STR, "certificatesDuration": INT, "preferredChain": STR, "storage": STR,
        "keyType": STR, "eab": {"kid": STR, "hmacEncoded": STR}, "caCertificates": STRS, "caSystemCertPool": BOOL,
        "caServerName": STR, "profile": STR, "emailAddresses": STRS, "disableCommonName": BOOL,
        "clientTimeout": DUR, "clientResponseHeaderTimeout": DUR,
        "dnsChallenge": {"provider": STR, "resolvers": STRS, "delayBeforeCheck": DUR, "disablePropagationCheck": BOOL,
                         "propagation": {"delayBeforeChecks": DUR, "disableChecks": BOOL, "disableANSChecks": BOOL,
                                         "requireAllRNS": BOOL}},
        "httpChallenge": {"entryPoint": STR, "delay": DUR}, "tlsChallenge": {"delay": DUR}},
        "tailscale": {}}),
    "core": {"defaultRuleSyntax": STR},
    "entryPoints": MapOf(ENTRY_POINT),
    "experimental": MapOf(ANY),
    "global": {"checkNewVersion": BOOL, "sendAnonymousUsage": BOOL},
    "hostResolver": {"cnameFlattening": BOOL, "resolvConfig": STR, "resolvDepth": INT},
    "hub": MapOf(ANY),
    "log": {"level": STR, "format": STR, "filePath": STR, "noColor": BOOL, "maxSize": INT, "maxAge": INT,
            "maxBackups": INT, "compress": BOOL, "otlp": MapOf(ANY)},
    "metrics": {"addInternals": BOOL,
                "prometheus": {"buckets": ListOf(NUM), "addEntryPointsLabels": BOOL, "addRoutersLabels": BOOL,
                               "addServicesLabels": BOOL, "entryPoint": STR, "manualRouting": BOOL,
                               "headerLabels": STRMAP},
                "datadog": MapOf(ANY), "influxDB2": MapOf(ANY), "otlp": MapOf(ANY), "statsD": MapOf(ANY)},
    "ocsp": MapOf(ANY),
    "ping": {"entryPoint": STR, "manualRouting": BOOL, "terminatingStatusCode": INT},
    "providers": {
        "providersThrottleDuration": DUR,
        "docker": {"endpoint": STR, "exposedByDefault": BOOL, "network": STR, "defaultRule": STR,
                   "constraints": STR, "watch": BOOL, "useBindPortIP": BOOL, "allowEmptyServices": BOOL,
                   "httpClientTimeout": DUR, "username": STR, "password": STR, "tls": CLIENT_TLS},
        "file": {"directory": STR, "filename": STR, "watch": BOOL, "debugLogGeneratedTemplate": BOOL},
        "swarm": MapOf(ANY), "kubernetesCRD": MapOf(ANY), "kubernetesIngress": MapOf(ANY),
        "kubernetesGateway": MapOf(ANY), "consul": MapOf(ANY), "consulCatalog": MapOf(ANY), "ecs": MapOf(ANY),
        "etcd": MapOf(ANY), "http": MapOf(ANY), "nomad": MapOf(ANY), "plugin": MapOf(ANY), "redis": MapOf(ANY),
        "rest": MapOf(ANY), "zooKeeper": MapOf(ANY), "knative": MapOf(ANY),
    },
    "serversTransport": MapOf(ANY), "spiffe": MapOf(ANY), "tcpServersTransport": MapOf(ANY), "tracing": MapOf(ANY),
}
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC")
ACCESS_LOG_FORMATS = ("common", "genericCLF", "json")


def _port_of(address):
    match = re.match(r"^(\[[0-9a-fA-F:.]*\]|[^:\[\]]*):(\d+)(/(tcp|udp))?$", address or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        return None
    return int(match.group(2))


def check_static(doc, public_ports=(80, 443)):
    """Check a Traefik v3 static configuration against the structure and the edge's policy:
    dashboard never insecure, file provider on a directory, Docker containers not exposed by
    default, ping/metrics on an internal entry point, one ACME challenge per resolver."""
    if not isinstance(doc, dict):
        return ["the static configuration must be a mapping, got %s" % _kind(doc)]
    problems = []
    for key in doc:
        if key not in STATIC_TOP:
            problems.append("%s: unknown top-level key%s" % (key, _did_you_mean(str(key), STATIC_TOP)))
    check_shape({k: v for k, v in doc.items() if k in STATIC_SPEC}, STATIC_SPEC, "static", problems)
    problems = [p.replace("static.", "", 1) for p in problems]
    entry_points = doc.get("entryPoints") if isinstance(doc.get("entryPoints"), dict) else {}
    if not entry_points:
        problems.append("entryPoints: define at least web (:80) and websecure (:443)")
    ports = {}
    for name, ep in entry_points.items():
        if not isinstance(ep, dict):
            continue
        port = _port_of(ep.get("address"))
        if port is None:
            problems.append("entryPoints.%s.address: %r is not [host]:port[/tcp|/udp], e.g. ':443'" % (name, ep.get("address")))
            continue
        if port in ports and (ep.get("address") or "").endswith("/udp") == ports[port][1]:
            problems.append("entryPoints.%s.address: port %d is already used by entry point %s" % (name, port, ports[port][0]))
        ports[port] = (name, (ep.get("address") or "").endswith("/udp"))
        redirect = ((ep.get("http") or {}).get("redirections") or {}).get("entryPoint") if isinstance(ep.get("http"), dict) else None
        if isinstance(redirect, dict):
            target = redirect.get("to")
            if target not in entry_points and _port_of(":%s" % str(target).lstrip(":")) is None:
                problems.append("entryPoints.%s.http.redirections.entryPoint.to: %r is neither an entry point nor a port"
                                % (name, target))
    api = doc.get("api") if isinstance(doc.get("api"), dict) else None
    if api is not None and api.get("insecure"):
        problems.append("api.insecure: true serves the dashboard and API without authentication on the traefik entry "
                        "point (:8080): set it to false and route api@internal through a basicAuth middleware")
    ping = doc.get("ping") if isinstance(doc.get("ping"), dict) else None
    metrics = doc.get("metrics") if isinstance(doc.get("metrics"), dict) else {}
    prometheus = metrics.get("prometheus") if isinstance(metrics.get("prometheus"), dict) else None
    for where, section in (("ping.entryPoint", ping), ("metrics.prometheus.entryPoint", prometheus)):
        if section is None:
            continue
        ep = section.get("entryPoint") or "traefik"
        if ep not in entry_points:
            problems.append("%s: entry point %r is not defined under entryPoints" % (where, ep))
        elif _port_of((entry_points[ep] or {}).get("address")) in public_ports:
            problems.append("%s: %r is a public entry point: serve ping and metrics on an internal one" % (where, ep))
    providers = doc.get("providers") if isinstance(doc.get("providers"), dict) else {}
    file_provider = providers.get("file")
    if isinstance(file_provider, dict):
        if file_provider.get("filename"):
            problems.append("providers.file.filename: point the file provider at a directory (providers.file.directory):"
                            " single files break on atomic renames and cannot be split between writers")
        if not file_provider.get("directory"):
            problems.append("providers.file.directory: required")
        if file_provider.get("watch") is False:
            problems.append("providers.file.watch: false means route changes need a restart: set it to true")
    docker = providers.get("docker")
    if isinstance(docker, dict) and docker.get("exposedByDefault") is not False:
        problems.append("providers.docker.exposedByDefault: set it to false so that only containers labelled "
                        "traefik.enable=true are published")
    resolvers = doc.get("certificatesResolvers") if isinstance(doc.get("certificatesResolvers"), dict) else {}
    for name, resolver in resolvers.items():
        acme = resolver.get("acme") if isinstance(resolver, dict) else None
        if not isinstance(acme, dict):
            continue
        challenges = [c for c in ("dnsChallenge", "httpChallenge", "tlsChallenge") if acme.get(c) is not None]
        if len(challenges) != 1:
            problems.append("certificatesResolvers.%s.acme: configure exactly one of dnsChallenge, httpChallenge, "
                            "tlsChallenge (got %s)" % (name, ", ".join(challenges) or "none"))
        if not acme.get("storage"):
            problems.append("certificatesResolvers.%s.acme.storage: required (e.g. /letsencrypt/acme.json on a volume)"
                            % name)
        if not acme.get("email"):
            problems.append("certificatesResolvers.%s.acme.email: required for the ACME account" % name)
        dns = acme.get("dnsChallenge")
        if isinstance(dns, dict) and not dns.get("provider"):
            problems.append("certificatesResolvers.%s.acme.dnsChallenge.provider: required (e.g. godaddy)" % name)
        http_challenge = acme.get("httpChallenge")
        if isinstance(http_challenge, dict) and http_challenge.get("entryPoint") not in entry_points:
            problems.append("certificatesResolvers.%s.acme.httpChallenge.entryPoint: not an entry point" % name)
    for name, ep in entry_points.items():
        tls = ((ep or {}).get("http") or {}).get("tls") if isinstance(ep, dict) and isinstance(ep.get("http"), dict) else None
        if isinstance(tls, dict) and tls.get("certResolver") and tls["certResolver"] not in resolvers:
            problems.append("entryPoints.%s.http.tls.certResolver: %r is not defined under certificatesResolvers"
                            % (name, tls["certResolver"]))
    core = doc.get("core") if isinstance(doc.get("core"), dict) else {}
    if core.get("defaultRuleSyntax") not in (None, "v3"):
        problems.append("core.defaultRuleSyntax: %r: rules are validated as v3 syntax; remove the option"
                        % core.get("defaultRuleSyntax"))
    log = doc.get("log") if isinstance(doc.get("log"), dict) else {}
    if isinstance(log.get("level"), str) and log["level"].upper() not in LOG_LEVELS:
        problems.append("log.level: %r is not one of %s" % (log["level"], ", ".join(LOG_LEVELS)))
    access = doc.get("accessLog") if isinstance(doc.get("accessLog"), dict) else {}
    if isinstance(access.get("format"), str) and access["format"] not in ACCESS_LOG_FORMATS:
        problems.append("accessLog.format: %r is not one of %s" % (access["format"], ", ".join(ACCESS_LOG_FORMATS)))
    _check_strings(doc, problems)
    return problems


# --------------------------------------------------------------------------------------------
# The traefik_routes file: normalise, merge/prune, render
# --------------------------------------------------------------------------------------------

_INT_KEYS = ("priority", "weight", "port", "status", "amount", "attempts", "responseCode", "stsSeconds",
             "accessControlMaxAge", "maxBodySize", "burst", "depth", "rejectStatusCode")


def normalize(value):
    """Deep copy without nulls; integer-looking strings under integer keys become integers."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            item = normalize(item)
            if key in _INT_KEYS and isinstance(item, str) and re.match(r"^-?\d+$", item.strip()):
                item = int(item)
            out[str(key)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    return value


def http_entries(doc):
    """{kind: {name: entry}} of the http routers/services/middlewares of a document."""
    return {kind: dict(_names(doc, "http", kind)) for kind in KINDS}


def merge(current_doc, wanted, state="present", prune=False):
    """Apply ``wanted`` ({kind: {name: entry}} or, for absent, {kind: [names]}) to a document.

    Returns (new document, changes) where changes is {kind: {"added": [...], "updated": [...],
    "removed": [...]}}. Other sections of the document (tcp, udp, tls, http.serversTransports)
    are kept as they are.
    """
    current = http_entries(current_doc)
    new = {kind: ({} if prune and state == "present" else dict(current[kind])) for kind in KINDS}
    for kind in KINDS:
        given = wanted.get(kind)
        if given is None:
            continue
        if state == "present":
            for name, entry in given.items():
                new[kind][str(name)] = normalize(entry)
        else:
            for name in given:
                new[kind].pop(str(name), None)
    changes = {}
    for kind in KINDS:
        before, after = current[kind], new[kind]
        changes[kind] = {
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "updated": sorted(n for n in set(after) & set(before) if after[n] != before[n]),
        }
    # Shallow copies: entries are replaced, never modified in place, so the input stays intact.
    doc = dict(current_doc) if isinstance(current_doc, dict) else {}
    http = dict(doc["http"]) if isinstance(doc.get("http"), dict) else {}
    for kind in KINDS:
        if new[kind]:
            http[kind] = new[kind]
        else:
            http.pop(kind, None)
    if http:
        doc["http"] = http
    else:
        doc.pop("http", None)
    return doc, changes


def render(doc):
    """Stable text of a document: header, sorted keys, block style; identical input gives identical bytes."""
    _need_yaml()
    body = yaml.dump(doc or {}, Dumper=_DUMPER, sort_keys=True, default_flow_style=False, allow_unicode=True,
                     width=4096, indent=2)
    return HEADER + body


def redact(doc):
    """Copy of ``doc`` with basicAuth/digestAuth users' hashes and rateLimit.redis passwords replaced (for diffs)."""
    found = False
    out = copy.deepcopy(doc)
    for middleware in _names(out, "http", "middlewares").values():
        for kind, field in SECRET_FIELDS:
            body = middleware.get(kind) if isinstance(middleware, dict) else None
            if isinstance(body, dict) and isinstance(body.get(field), list):
                body[field] = [u.split(":", 1)[0] + ":<redacted>" if isinstance(u, str) else u for u in body[field]]
                found = True
        limit = middleware.get("rateLimit") if isinstance(middleware, dict) else None
        redis = limit.get("redis") if isinstance(limit, dict) else None
        if isinstance(redis, dict) and redis.get("password") is not None:
            redis["password"] = "<redacted>"
            found = True
    return out, found


# --------------------------------------------------------------------------------------------
# Command line: the role's `validate:` runs this file on the target.
# --------------------------------------------------------------------------------------------

def check_path(mode, path, directory=None, name=None, static=None):
    """Problems of one file on disk: ``mode`` is ``static`` or ``dynamic``."""
    try:
        doc = load_text(_read_text(path), name or path)
    except TraefikConfigError as exc:
        return exc.problems
    if mode == "static":
        return check_static(doc)
    try:
        exclude = [os.path.join(directory, name)] if directory and name else [path]
        others = load_directory(directory, exclude=exclude) if directory else {}
        static_doc = load_file(static) if static else None
    except TraefikConfigError as exc:
        return exc.problems
    previous = None
    if directory and os.path.isfile(exclude[0]) and os.path.realpath(exclude[0]) != os.path.realpath(path):
        try:
            previous = load_file(exclude[0])  # the file this one replaces: what the other files may rely on
        except TraefikConfigError:
            previous = None
    return validate(doc, Context(others, static_doc), where=name or os.path.basename(path), previous=previous)


def _read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraefikConfigError(["cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc)])


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Check a Traefik v3 static or dynamic (file provider) configuration.")
    parser.add_argument("mode", choices=("static", "dynamic"))
    parser.add_argument("path", help="file to check (for ansible validate: the temporary file, %%s)")
    parser.add_argument("--directory", help="dynamic: the file provider directory the file goes into")
    parser.add_argument("--name", help="dynamic: the file's name in that directory (it replaces that file)")
    parser.add_argument("--static", help="dynamic: the static configuration, to check entry points and resolvers")
    args = parser.parse_args(argv)
    problems = check_path(args.mode, args.path, args.directory, args.name, args.static)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if not problems:
        sys.stdout.write("%s configuration OK: %s\n" % (args.mode, args.name or args.path))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
