# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keys Traefik v3 knows, as data: dynamic (file provider) and static configuration.

A spec is a type name (``STR``, ``INT`` ...), a dict of known keys -> spec, :class:`ListOf`,
:class:`MapOf` or :class:`Secret` (a key whose value is never shown: in messages only its type is
named, in diffs it is redacted). :func:`check_shape` reports every unknown key and wrong type.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Tuple, Union


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return " (did you mean %r?)" % match[0] if match else ""


STR, INT, BOOL, NUM, DUR, ANY = "string", "integer", "boolean", "number", "duration", "any"


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    item: Any


@dataclass(frozen=True)
class Secret:
    """A secret-bearing key (password, htpasswd lines, HMAC key): checked like ``spec``, never shown."""

    spec: Any


Spec = Union[str, dict, ListOf, MapOf, Secret]

# Dynamic configuration (file provider).
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
AUTH_USERS = {"users": Secret(STRS), "usersFile": STR, "realm": STR, "headerField": STR, "removeHeader": BOOL}
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
                  "redis": {"endpoints": STRS, "tls": CLIENT_TLS, "username": STR, "password": Secret(STR), "db": INT,
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
DYNAMIC_SECTIONS = {
    "http": ("routers", "services", "middlewares", "serversTransports"),
    "tcp": ("routers", "services", "middlewares", "serversTransports"),
    "udp": ("routers", "services"),
    "tls": ("certificates", "options", "stores"),
}

# Static configuration.
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
        "keyType": STR, "eab": {"kid": STR, "hmacEncoded": Secret(STR)}, "caCertificates": STRS, "caSystemCertPool": BOOL,
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
                   "httpClientTimeout": DUR, "username": STR, "password": Secret(STR), "tls": CLIENT_TLS},
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


def _type_ok(value: Any, spec: str) -> bool:
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


def _describe(spec: Spec) -> str:
    if isinstance(spec, Secret):
        return _describe(spec.spec)
    if isinstance(spec, (dict, MapOf)):
        return "a mapping"
    if isinstance(spec, ListOf):
        return "a list of strings" if spec.item == STR else "a list"
    if spec == DUR:
        return "a duration such as 10s or 1m"
    return "a " + spec if spec != INT else "an integer"


def value_kind(value: Any, secret: bool = False) -> str:
    """What ``value`` is, for messages; the value itself only when it is short and not ``secret``."""
    if value is None:
        return "nothing (null)"
    if secret:
        shown = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
                 dict: "a mapping"}.get(type(value), type(value).__name__)
        return "%s (value not shown: the key holds a secret)" % shown
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


def holds_secret(spec: Spec) -> bool:
    """True when ``spec`` is or contains a :class:`Secret` (a wrong-typed value there may be the secret itself)."""
    if isinstance(spec, Secret):
        return True
    if isinstance(spec, dict):
        return any(holds_secret(item) for item in spec.values())
    if isinstance(spec, (ListOf, MapOf)):
        return holds_secret(spec.item)
    return False


def check_shape(value: Any, spec: Spec, where: str, problems: List[str], secret: bool = False) -> None:
    """Append a problem for every unknown key or wrong type of ``value`` against ``spec``; a value where a
    secret is or may be is described by its type only."""
    if not isinstance(value, (dict, list)) and not secret:
        secret = holds_secret(spec)
    if isinstance(spec, Secret):
        check_shape(value, spec.spec, where, problems, secret=True)
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            problems.append("%s: must be %s, got %s" % (where, _describe(spec), value_kind(value, secret)))
            return
        for key, item in value.items():
            if key not in spec:
                if key in REMOVED_KEYS:
                    problems.append("%s.%s: not supported by Traefik v3: use %s" % (where, key, REMOVED_KEYS[key]))
                else:
                    problems.append("%s.%s: unknown key%s; known keys: %s" % (
                        where, key, did_you_mean(str(key), spec), ", ".join(sorted(spec)) or "none"))
                continue
            check_shape(item, spec[key], "%s.%s" % (where, key), problems, secret)
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            problems.append("%s: must be %s, got %s" % (where, _describe(spec), value_kind(value, secret)))
            return
        for index, item in enumerate(value):
            check_shape(item, spec.item, "%s[%d]" % (where, index), problems, secret)
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict):
            problems.append("%s: must be a mapping, got %s" % (where, value_kind(value, secret)))
            return
        for key, item in value.items():
            check_shape(item, spec.item, "%s.%s" % (where, key), problems, secret)
    elif not _type_ok(value, spec):
        problems.append("%s: must be %s, got %s" % (where, _describe(spec), value_kind(value, secret)))


def _strings(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in _strings(key) + _strings(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return [str(value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def secret_strings(value: Any, spec: Spec) -> List[str]:
    """Every string (and number) that is or may be a secret: what sits under a :class:`Secret` key, and all of
    a wrong-typed value where the spec holds one (``basicAuth: "admin:$apr1$..."``). Modules add these to
    the values Ansible masks in their whole result, the invocation included."""
    if isinstance(spec, Secret):
        return _strings(value)
    if isinstance(spec, dict) and isinstance(value, dict):
        return [s for key, item in value.items() if key in spec for s in secret_strings(item, spec[key])]
    if isinstance(spec, ListOf) and isinstance(value, list):
        return [s for item in value for s in secret_strings(item, spec.item)]
    if isinstance(spec, MapOf) and isinstance(value, dict):
        return [s for item in value.values() for s in secret_strings(item, spec.item)]
    return _strings(value) if holds_secret(spec) and not isinstance(spec, str) else []


def _redact_value(value: Any) -> Any:
    """A secret value for diffs: htpasswd lines keep their user name, everything else is replaced."""
    if isinstance(value, list):
        return [item.split(":", 1)[0] + ":<redacted>" if isinstance(item, str) and ":" in item else "<redacted>"
                for item in value]
    return "<redacted>"


def redact_shape(value: Any, spec: Spec) -> Tuple[Any, bool]:
    """``value`` with every :class:`Secret` key of ``spec`` redacted, and whether there was one."""
    if isinstance(spec, Secret):
        return (_redact_value(value), True) if value is not None else (value, False)
    if isinstance(spec, dict) and isinstance(value, dict):
        out, found = {}, False
        for key, item in value.items():
            out[key], hidden = redact_shape(item, spec[key]) if key in spec else (item, False)
            found |= hidden
        return out, found
    if isinstance(spec, ListOf) and isinstance(value, list):
        pairs = [redact_shape(item, spec.item) for item in value]
        return [item for item, _hidden in pairs], any(hidden for _item, hidden in pairs)
    if isinstance(spec, MapOf) and isinstance(value, dict):
        redacted = {key: redact_shape(item, spec.item) for key, item in value.items()}
        return {key: pair[0] for key, pair in redacted.items()}, any(pair[1] for pair in redacted.values())
    return value, False


_URL_CREDENTIALS = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/@\s]+)@")


def url_credentials(value: Any) -> List[str]:
    """``user:password`` parts of every URL in ``value`` (server URLs, forwardAuth addresses), to be masked."""
    found = []
    for text in _strings(value):
        match = _URL_CREDENTIALS.match(text)
        if match:
            found.append(match.group(1))
            found.extend(part for part in match.group(1).split(":", 1)[1:] if part)
    return found


def shown_url(url: Any) -> str:
    """A URL for messages: user and password (``scheme://user:pass@host``) replaced."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@", r"\1<credentials>@", url) if isinstance(url, str) else repr(url)


# Password hashes Traefik's basicAuth accepts in a users line (htpasswd -nB: bcrypt; apr1 = MD5; SHA1).
_HTPASSWD_RE = re.compile(r"^(?P<name>[^:\s]+):(?P<hash>\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"
                          r"|\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}|\{SHA\}[A-Za-z0-9+/]{27}=)$")


def htpasswd_problems(lines: Optional[List[Any]]) -> List[str]:
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
