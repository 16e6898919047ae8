# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Traefik v3 rule language: parse and check router rules, build them from hosts and paths.

A rule parses into a tree: ``("or"|"and", left, right)``, ``("not", x)``, ``("match", Matcher)``.
Every refusal is a :class:`RuleError` whose message says how to write the rule in v3.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import did_you_mean

Token = Tuple[Any, Any, Any]  # (kind, value, position); (None, None, None) past the end
Tree = tuple

# Matcher -> accepted numbers of values, for HTTP and TCP routers (Traefik v3 syntax).
HTTP_MATCHERS: Dict[str, Tuple[int, ...]] = {
    "ClientIP": (1,), "Header": (2,), "HeaderRegexp": (2,), "Host": (1,), "HostRegexp": (1,),
    "Method": (1,), "Path": (1,), "PathPrefix": (1,), "PathRegexp": (1,), "Query": (1, 2),
    "QueryRegexp": (1, 2),
}
TCP_MATCHERS: Dict[str, Tuple[int, ...]] = {"ALPN": (1,), "ClientIP": (1,), "HostSNI": (1,), "HostSNIRegexp": (1,)}
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


def _spellings(names: Iterable[str]) -> Dict[str, str]:
    """Traefik accepts a matcher as written, lower-case, upper-case or capitalised."""
    table: Dict[str, str] = {}
    for name in names:
        for variant in (name, name.lower(), name.upper(), name.lower().capitalize()):
            table.setdefault(variant, name)
    return table


_HTTP_SPELLINGS = _spellings(HTTP_MATCHERS)
_TCP_SPELLINGS = _spellings(TCP_MATCHERS)


class RuleError(ValueError):
    """A rule that Traefik v3 would reject (or silently misread); the message says how to fix it."""


@dataclass
class Matcher:
    """One matcher of a rule: its name (canonical once checked), values, 1-based column, negation."""

    name: str
    values: List[str]
    column: int
    negated: bool = False

    def __repr__(self) -> str:
        return "%s%s(%s)" % ("!" if self.negated else "", self.name, ", ".join("`%s`" % v for v in self.values))


def _tokenize(rule: str) -> List[Token]:
    tokens: List[Token] = []
    pos, size = 0, len(rule)
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


def _go_string(rule: str, start: int) -> Tuple[str, int]:
    """Decode a Go interpreted string literal starting at ``start``; return (value, next position)."""
    out: List[str] = []
    pos = start + 1
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


class _Parser:
    """Recursive descent over the token list: or := and ('||' and)*; and := unary ('&&' unary)*."""

    def __init__(self, tokens: List[Token]) -> None:
        self.tokens, self.index = tokens, 0

    def peek(self) -> Token:
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None, None)

    def take(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token[0] != kind:
            where = "at column %d" % (token[2] + 1) if token[0] else "at the end of the rule"
            raise RuleError("expected %s %s" % (what, where))
        self.index += 1
        return token

    def parse(self) -> Tree:
        if not self.tokens:
            raise RuleError("the rule is empty: give at least one matcher, e.g. Host(`example.com`)")
        tree = self.expression()
        token = self.peek()
        if token[0] is not None:
            raise RuleError("unexpected %s at column %d: join matchers with && or ||"
                            % ("%r" % token[0] if token[0] != "value" else "value", token[2] + 1))
        return tree

    def _chain(self, operator: str, kind: str, operand: Any) -> Tree:
        """operand (operator operand)*, left-associative."""
        left = operand()
        while self.peek()[0] == operator:
            self.index += 1
            left = (kind, left, operand())
        return left

    def expression(self) -> Tree:
        return self._chain("||", "or", self.conjunction)

    def conjunction(self) -> Tree:
        return self._chain("&&", "and", self.unary)

    def unary(self) -> Tree:
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


def _walk(tree: Tree, negated: bool = False) -> Iterator[Matcher]:
    kind = tree[0]
    if kind == "match":
        tree[1].negated = negated
        yield tree[1]
    elif kind == "not":
        yield from _walk(tree[1], not negated)
    else:
        for branch in tree[1:]:
            yield from _walk(branch, negated)


def _escape_go(text: str) -> str:
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def wildcard_regexp(host: str) -> str:
    """The HostRegexp value for a wildcard name: each ``*`` stands for one DNS label (as in a TLS wildcard)."""
    return "^%s$" % "[^.]+".join(_escape_go(part) for part in host.split("*"))


def _v2_placeholders(value: str, default: str) -> Optional[str]:
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


def check_regexp(pattern: str) -> Optional[str]:
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


def _check_matcher(matcher: Matcher, spellings: Dict[str, str], arities: Dict[str, Tuple[int, ...]],
                   tcp: bool) -> str:
    """Return (canonical name, problems) for one matcher."""
    name = spellings.get(matcher.name)
    values = matcher.values
    if name is None:
        if matcher.name in V2_MATCHERS:
            raise RuleError("%s is Traefik v2 syntax: use %s in v3" % (matcher.name, V2_MATCHERS[matcher.name]))
        raise RuleError("unknown matcher %s%s; v3 %s matchers are %s" % (
            matcher.name, did_you_mean(matcher.name, arities), "TCP" if tcp else "HTTP", ", ".join(sorted(arities))))
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
        if value == "":
            raise RuleError("%s: value %d is empty, which Traefik v3 refuses (empty args for matcher): give a "
                            "value%s" % (shown, index + 1, "; to match a parameter whatever its value, use "
                                         "QueryRegexp(`%s`, `.*`)" % values[0] if name in ("Query", "QueryRegexp")
                                         and index == 1 else ""))
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


def parse_rule_tree(rule: Any, tcp: bool = False) -> Tree:
    """Parse and check a Traefik v3 rule; return its tree: ("or"|"and", left, right), ("not", x), ("match", Matcher)."""
    if not isinstance(rule, str):
        raise RuleError("the rule must be a string, got %s" % type(rule).__name__)
    tree = _Parser(_tokenize(rule)).parse()
    arities = TCP_MATCHERS if tcp else HTTP_MATCHERS
    spellings = _TCP_SPELLINGS if tcp else _HTTP_SPELLINGS
    for matcher in _walk(tree):
        matcher.name = _check_matcher(matcher, spellings, arities, tcp)
    return tree


def parse_rule(rule: Any, tcp: bool = False) -> List[Matcher]:
    """Parse a Traefik v3 rule; return the list of :class:`Matcher` (canonical names) or raise RuleError."""
    return list(_walk(parse_rule_tree(rule, tcp=tcp)))


def rule_hosts(rule: Any, tcp: bool = False) -> List[str]:
    """Host names a rule matches (positive Host / HostSNI matchers), in order, without duplicates."""
    wanted = "HostSNI" if tcp else "Host"
    hosts = []
    for matcher in parse_rule(rule, tcp=tcp):
        if matcher.name == wanted and not matcher.negated and matcher.values[0] not in hosts:
            hosts.append(matcher.values[0])
    return hosts


def _quote(value: str) -> str:
    if "`" in value:
        raise RuleError("%r contains a backtick, which cannot be quoted in a rule value" % value)
    return "`%s`" % value


def _as_list(value: Any, what: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise RuleError("%s must be a string or a list of strings" % what)


def build_rule(hosts: Any = None, path_prefixes: Any = None, paths: Any = None, methods: Any = None,
               headers: Optional[Dict[str, Any]] = None) -> str:
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
