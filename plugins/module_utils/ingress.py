# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which ingress controller really serves which Ingress, and how to make the rest served.

Plain Python, no Ansible imports: the module, the filter and the unit tests call it directly.
Objects are Kubernetes JSON dicts (camelCase), as the API returns them and manifests spell them.

Selection rules of the controllers we recognise (read from their source; the fixtures README in
tests/fixtures/microk8s names the files and commits):

* ingress-nginx >= 1.0: ``spec.ingressClassName`` is honoured when that IngressClass exists and its
  ``spec.controller`` is the ``--controller-class`` (default ``k8s.io/ingress-nginx``) or, with
  ``--ingress-class-by-name``, when it is called ``--ingress-class``. The deprecated annotation
  ``kubernetes.io/ingress.class`` must equal ``--ingress-class`` (default ``nginx``). Ingresses with
  neither are served only with ``--watch-ingress-without-class``.
* Traefik v3 ``kubernetesIngress`` provider: the field must name an IngressClass whose controller is
  ``traefik.io/ingress-controller`` (and, when ``providers.kubernetesingress.ingressclass`` is set,
  that very name); the annotation must equal that option, or ``traefik`` when it is unset; an
  Ingress with neither is served while the option is unset.
* Traefik v3 ``kubernetesIngressNGINX`` provider: like ingress-nginx (defaults ``nginx`` /
  ``k8s.io/ingress-nginx``), except that the field only counts while at least one matching
  IngressClass exists.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml
from ansible_collections.squaremcp.infra.plugins.module_utils import k8s

yaml = _yaml.yaml
HAS_YAML = _yaml.HAS_YAML

ANNOTATION_CLASS = "kubernetes.io/ingress.class"
ANNOTATION_DEFAULT = "ingressclass.kubernetes.io/is-default-class"
NGINX_CONTROLLER = "k8s.io/ingress-nginx"
TRAEFIK_CONTROLLER = "traefik.io/ingress-controller"
NGINX_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"

INGRESS_NGINX = "ingress-nginx"
TRAEFIK = "traefik"
TRAEFIK_NGINX = "traefik-ingress-nginx"

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Plain scalars YAML 1.1 would read as something other than a string.
_YAML_SPECIAL = re.compile(
    r"^(y|yes|n|no|true|false|on|off|null|~|[-+]?[0-9][0-9_.:e+-]*|0x[0-9a-f_]+|0o?[0-7_]+|\.inf|\.nan)$", re.I
)


class IngressError(Exception):
    """Bad input or a situation reconciling cannot fix; the message says what to do."""


class ManifestError(IngressError):
    """A manifest file cannot be read or rewritten safely; the file stays untouched."""


class ApplyError(IngressError):
    """An API call failed while applying a plan; ``applied`` lists what was persisted before it.

    ``status`` is the HTTP status of the failed call (from ``k8s.KubeError``), when there was one.
    """

    def __init__(self, message, applied=None, pending=None, status=None):
        super().__init__(message)
        self.applied = applied or []
        self.pending = pending or []
        self.status = status


def valid_class_name(name):
    return isinstance(name, str) and len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------

class IngressClass(object):
    def __init__(self, name, controller, default=False, obj=None):
        self.name = name
        self.controller = controller
        self.default = default
        self.obj = obj or {}

    @classmethod
    def from_object(cls, obj):
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        return cls(
            meta.get("name"),
            (obj.get("spec") or {}).get("controller") or "",
            str(annotations.get(ANNOTATION_DEFAULT, "")).lower() == "true",
            obj,
        )

    def as_dict(self):
        return {"name": self.name, "controller": self.controller, "default": self.default}


class Controller(object):
    """One ingress implementation found in a workload (a Traefik pod may carry two providers)."""

    def __init__(self, workload, implementation, controller, ingress_class="", watch_without_class=False,
                 class_by_name=False, ready=0, desired=0, host_ports=None):
        self.workload = workload
        self.implementation = implementation
        self.controller = controller
        self.ingress_class = ingress_class
        self.watch_without_class = watch_without_class
        self.class_by_name = class_by_name
        self.ready = ready
        self.desired = desired
        self.host_ports = sorted(set(host_ports or []))

    @property
    def id(self):
        suffix = {TRAEFIK: " [kubernetesIngress]", TRAEFIK_NGINX: " [kubernetesIngressNGINX]"}
        return self.workload + suffix.get(self.implementation, "")

    @property
    def running(self):
        return self.ready > 0

    def matching_classes(self, classes):
        """IngressClass names this controller honours through ``spec.ingressClassName``."""
        names = []
        for ic in classes.values():
            if self.implementation == TRAEFIK:
                ok = ic.controller == TRAEFIK_CONTROLLER and (not self.ingress_class or ic.name == self.ingress_class)
            else:
                ok = ic.controller == self.controller or (self.class_by_name and ic.name == self.ingress_class)
            if ok:
                names.append(ic.name)
        return sorted(names)

    def accepts(self, ingress, classes):
        """``(bool, how)``: whether this controller's selection rules take ``ingress``."""
        field, annotation = ingress.field_class, ingress.annotation_class
        matching = self.matching_classes(classes)
        if field is not None and (self.implementation != TRAEFIK_NGINX or matching):
            if field in matching:
                return True, "IngressClass %s -> %s" % (field, classes[field].controller)
            return False, None
        if self.implementation == TRAEFIK:
            value = annotation or ""
            if value == self.ingress_class or (not self.ingress_class and value == "traefik"):
                return True, ("annotation %s" % value) if annotation else "no class (Traefik takes unclassed Ingresses)"
            return False, None
        if annotation is not None:
            return (annotation == self.ingress_class), "annotation %s" % annotation
        if self.watch_without_class:
            return True, "no class (watches Ingresses without class)"
        return False, None

    def annotation_names(self):
        if self.implementation == TRAEFIK:
            return [self.ingress_class] if self.ingress_class else ["traefik"]
        return [self.ingress_class] if self.ingress_class else []

    def as_dict(self):
        return {
            "id": self.id, "workload": self.workload, "implementation": self.implementation,
            "controller": self.controller, "ingress_class": self.ingress_class,
            "watch_without_class": self.watch_without_class, "class_by_name": self.class_by_name,
            "running": self.running, "ready": self.ready, "desired": self.desired, "host_ports": self.host_ports,
        }


class Ingress(object):
    def __init__(self, namespace, name, field_class=None, annotation_class=None, nginx_annotations=False, source=None):
        self.namespace = namespace
        self.name = name
        self.field_class = field_class
        self.annotation_class = annotation_class
        self.nginx_annotations = nginx_annotations
        self.source = source

    @classmethod
    def from_object(cls, obj, source=None):
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        field = (obj.get("spec") or {}).get("ingressClassName")
        annotation = annotations.get(ANNOTATION_CLASS)
        return cls(
            meta.get("namespace") or "default",
            meta.get("name") or "",
            None if field in (None, "") else str(field),
            None if annotation is None else str(annotation),
            any(str(key).startswith(NGINX_ANNOTATION_PREFIX) for key in annotations),
            source,
        )

    @property
    def key(self):
        return "%s/%s" % (self.namespace, self.name)

    @property
    def requested_class(self):
        return self.field_class if self.field_class is not None else self.annotation_class

    @property
    def requested_via(self):
        if self.field_class is not None:
            return "field"
        return "annotation" if self.annotation_class is not None else "none"


class Model(object):
    """IngressClasses and controllers of one cluster, plus what could not be classified."""

    def __init__(self, classes, controllers, warnings=None):
        self.classes = dict((ic.name, ic) for ic in classes)
        self.controllers = list(controllers)
        self.warnings = list(warnings or [])

    @property
    def running(self):
        return [c for c in self.controllers if c.running]

    def defaults(self):
        return sorted(ic.name for ic in self.classes.values() if ic.default)

    def served_classes(self):
        """IngressClass name -> ids of running controllers that honour it through the field."""
        served = {}
        for ctrl in self.running:
            for name in ctrl.matching_classes(self.classes):
                served.setdefault(name, []).append(ctrl.id)
        return served

    def describe_running(self):
        if not self.running:
            found = ", ".join("%s %d/%d ready" % (c.id, c.ready, c.desired) for c in self.controllers)
            return "no ingress controller is running%s" % (" (found: %s)" % found if found else "")
        return "; ".join(
            "%s serves classes [%s] and the annotation [%s]"
            % (c.id, ", ".join(c.matching_classes(self.classes)) or "none", ", ".join(c.annotation_names()) or "none")
            for c in self.running
        )


# ---------------------------------------------------------------------------------------------
# Discovery from workloads
# ---------------------------------------------------------------------------------------------

_VALUE_FLAGS = frozenset([
    "ingress-class", "controller-class",
    "providers.kubernetesingress.ingressclass",
    "providers.kubernetesingressnginx.ingressclass", "providers.kubernetesingressnginx.controllerclass",
])


def parse_flags(argv):
    """``{lower-case name: value}`` of Go-style arguments (``--name=value``, ``--name value``, ``--bool``)."""
    flags = {}
    args = [str(a).strip() for a in argv or [] if a is not None]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        name = name.lower()
        if not sep:
            if name in _VALUE_FLAGS and i < len(args) and not args[i].startswith("-"):
                value = args[i]
                i += 1
            else:
                value = "true"
        flags[name] = value
    return flags


def _truthy(value):
    return str(value).strip().lower() in ("true", "1", "t", "yes")


def _image_name(image):
    name = str(image or "").split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def _workload_kind(obj):
    kind = obj.get("kind")
    if kind:
        return kind
    status = obj.get("status") or {}
    if "desiredNumberScheduled" in status or "numberReady" in status:
        return "DaemonSet"
    spec = obj.get("spec") or {}  # list items carry no kind; a DaemonSet has updateStrategy and no replicas
    return "DaemonSet" if "updateStrategy" in spec and "replicas" not in spec else "Deployment"


def _readiness(obj, kind):
    status = obj.get("status") or {}
    if kind == "DaemonSet":
        return int(status.get("numberReady") or 0), int(status.get("desiredNumberScheduled") or 0)
    replicas = (obj.get("spec") or {}).get("replicas")
    return int(status.get("readyReplicas") or 0), int(1 if replicas is None else replicas)


def controllers_from_workload(obj):
    """``(controllers, warnings)`` found in one DaemonSet or Deployment."""
    kind = _workload_kind(obj)
    meta = obj.get("metadata") or {}
    workload = "%s/%s/%s" % (meta.get("namespace") or "default", kind, meta.get("name"))
    ready, desired = _readiness(obj, kind)
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    found, warnings = [], []
    for container in pod.get("containers") or []:
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        flags = parse_flags(argv)
        image = _image_name(container.get("image"))
        host_ports = [p.get("hostPort") for p in container.get("ports") or [] if p.get("hostPort")]
        common = dict(ready=ready, desired=desired, host_ports=host_ports)
        if (image == "controller" and "ingress-nginx" in str(container.get("image"))) or any(
            str(a).strip().endswith("nginx-ingress-controller") for a in argv[:1]
        ):
            found.append(Controller(
                workload, INGRESS_NGINX, flags.get("controller-class") or NGINX_CONTROLLER,
                flags.get("ingress-class", "nginx"), _truthy(flags.get("watch-ingress-without-class", "false")),
                _truthy(flags.get("ingress-class-by-name", "false")), **common))
        elif image == "traefik" or any(name.startswith("providers.kubernetesingress") for name in flags):
            standard = _truthy(flags.get("providers.kubernetesingress", "false"))
            nginx = _truthy(flags.get("providers.kubernetesingressnginx", "false"))
            if standard:
                found.append(Controller(
                    workload, TRAEFIK, TRAEFIK_CONTROLLER, flags.get("providers.kubernetesingress.ingressclass", ""),
                    not flags.get("providers.kubernetesingress.ingressclass"), False, **common))
            if nginx:
                prefix = "providers.kubernetesingressnginx."
                found.append(Controller(
                    workload, TRAEFIK_NGINX, flags.get(prefix + "controllerclass") or NGINX_CONTROLLER,
                    flags.get(prefix + "ingressclass") or "nginx",
                    _truthy(flags.get(prefix + "watchingresswithoutclass", "false")),
                    _truthy(flags.get(prefix + "ingressclassbyname", "false")), **common))
            if not (standard or nginx):
                warnings.append(
                    "%s runs Traefik without --providers.kubernetesingress or --providers.kubernetesingressnginx "
                    "arguments (configured by file?): it is not counted as an ingress controller" % workload)
    return found, warnings


def build_model(ingress_classes, workloads):
    classes, warnings = [], []
    for obj in ingress_classes or []:
        ic = IngressClass.from_object(obj)
        if not ic.name:
            raise IngressError("an IngressClass without metadata.name was given: pass IngressClass objects")
        classes.append(ic)
    controllers = []
    for obj in workloads or []:
        found, notes = controllers_from_workload(obj)
        controllers.extend(found)
        warnings.extend(notes)
    model = Model(classes, controllers, warnings)
    defaults = model.defaults()
    if len(defaults) > 1:
        model.warnings.append(
            "%d IngressClasses are marked default (%s): Kubernetes rejects new Ingresses without class until only "
            "one carries %s=true" % (len(defaults), ", ".join(defaults), ANNOTATION_DEFAULT))
    return model


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------

def decide(ingress, model):
    """Whether a running controller serves ``ingress``, by which rule, and if not, why not."""
    result = {
        "namespace": ingress.namespace, "name": ingress.name, "requested_class": ingress.requested_class,
        "requested_via": ingress.requested_via, "served": False, "served_by": [], "via": None,
        "reason_code": None, "reason": None, "warnings": [],
    }
    if ingress.source:
        result["source"] = ingress.source
    down = []
    for ctrl in model.controllers:
        ok, how = ctrl.accepts(ingress, model.classes)
        if ok and ctrl.running:
            result["served_by"].append(ctrl.id)
            result["via"] = result["via"] or how
        elif ok:
            down.append(ctrl)
    if result["served_by"]:
        result["served"] = True
        if len(result["served_by"]) > 1:
            result["warnings"].append("%s is served by %d controllers (%s): they race for the same hosts"
                                      % (ingress.key, len(result["served_by"]), ", ".join(result["served_by"])))
        _warn_nginx_compat(ingress, model, result)
        return result
    code, reason = _why_not(ingress, model, down)
    result["reason_code"], result["reason"] = code, "%s %s" % (ingress.key, reason)
    return result


def _why_not(ingress, model, down):
    if down:
        return "controller_down", "would be served by %s, which is not running (%s): start it; reclassing "\
            "cannot help" % (", ".join(c.id for c in down), ", ".join("%d/%d ready" % (c.ready, c.desired) for c in down))
    if not model.controllers:
        return "no_controller", "is not served: no ingress controller runs in the cluster (enable the ingress addon)"
    running = model.describe_running()
    if ingress.field_class is not None:
        ic = model.classes.get(ingress.field_class)
        if ic is None:
            return "class_missing", "requests IngressClass %s (spec.ingressClassName), which does not exist (%s)" % (
                ingress.field_class, running)
        return "class_unserved", "requests IngressClass %s (controller %s), which no running controller takes (%s)" % (
            ic.name, ic.controller or "(none)", running)
    if ingress.annotation_class is not None:
        return "annotation_ignored", "requests %s through the deprecated annotation %s, which no running controller "\
            "accepts (%s)" % (ingress.annotation_class, ANNOTATION_CLASS, running)
    return "no_class", "has no class (neither spec.ingressClassName nor %s) and no running controller takes "\
        "Ingresses without class (%s)" % (ANNOTATION_CLASS, running)


def _warn_nginx_compat(ingress, model, result):
    """microk8s-core-addons#381: class ``nginx`` -> traefik.io/ingress-controller drops nginx annotations."""
    if not ingress.nginx_annotations or ingress.field_class is None:
        return
    ic = model.classes.get(ingress.field_class)
    compat = [c for c in model.running if c.implementation == TRAEFIK_NGINX]
    if ic is not None and ic.controller == TRAEFIK_CONTROLLER and compat:
        result["warnings"].append(
            "%s carries %s* annotations but IngressClass %s points at %s, so Traefik's standard provider serves it "
            "and ignores them; point that class at %s (the kubernetesIngressNGINX provider) to honour them "
            "(canonical/microk8s-core-addons#381)"
            % (ingress.key, NGINX_ANNOTATION_PREFIX, ic.name, TRAEFIK_CONTROLLER, compat[0].controller))


def audit(ingresses, model):
    return [decide(ing, model) for ing in ingresses]


def mismatches(ingress_objects, ingress_classes, workloads):
    """Unserved Ingresses of raw API objects (the ``ingress_class_mismatches`` filter)."""
    model = build_model(ingress_classes, workloads)
    return [d for d in audit([Ingress.from_object(o) for o in ingress_objects or []], model) if not d["served"]]


def resolve_target(target, model):
    """The class to move unserved Ingresses to: ``target`` itself (checked) or the ``auto`` choice."""
    served = model.served_classes()
    if target != "auto":
        if not valid_class_name(target):
            raise IngressError("target_class %r is not a valid IngressClass name (lower-case DNS subdomain)" % target)
        if target not in model.classes:
            raise IngressError("target_class %s does not exist (IngressClasses: %s): create it, or use target_class: "
                               "auto" % (target, ", ".join(sorted(model.classes)) or "none"))
        if target not in served:
            raise IngressError("target_class %s names controller %s, which no running controller implements (%s)"
                               % (target, model.classes[target].controller, model.describe_running()))
        return target
    if not model.classes:
        raise IngressError("target_class auto: the cluster has no IngressClass at all: enable the ingress addon "
                           "(microk8s enable ingress) or create an IngressClass for the running controller")
    candidates = sorted(served)
    if not candidates:
        raise IngressError("target_class auto: no IngressClass is served by a running controller (%s; classes: %s)"
                           % (model.describe_running(), ", ".join(
                               "%s -> %s" % (n, model.classes[n].controller) for n in sorted(model.classes))))
    if len(candidates) == 1:
        return candidates[0]
    defaults = [name for name in candidates if model.classes[name].default]
    if len(defaults) == 1:
        return defaults[0]
    if len(defaults) > 1:
        raise IngressError("target_class auto is ambiguous: several default IngressClasses are served (%s): "
                           "keep one default or set target_class to one of them" % ", ".join(defaults))
    claimed = [name for name in candidates if any(name in c.annotation_names() for c in model.running)]
    if len(claimed) == 1:
        return claimed[0]
    raise IngressError("target_class auto is ambiguous: the running controllers serve %s and none of them is the "
                       "default: set target_class to one of them" % ", ".join(candidates))


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------

def _ingress_patch(ingress, new_class):
    body = {"spec": {"ingressClassName": new_class}}
    if ingress.annotation_class is not None:
        body["metadata"] = {"annotations": {ANNOTATION_CLASS: None}}
    return {
        "kind": "Ingress", "namespace": ingress.namespace, "name": ingress.name, "action": "patch",
        "before": {"ingressClassName": ingress.field_class, "annotation": ingress.annotation_class},
        "after": {"ingressClassName": new_class, "annotation": None}, "body": body,
    }


def _class_action(name, controller, existing):
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name}, "spec": {"controller": controller}}
    if existing is not None:
        meta = existing.obj.get("metadata") or {}
        for key in ("labels", "annotations"):
            if meta.get(key):
                body["metadata"][key] = copy.deepcopy(meta[key])
    return {
        "kind": "IngressClass", "name": name, "action": "replace" if existing is not None else "create",
        "before": None if existing is None else {"controller": existing.controller},
        "after": {"controller": controller}, "body": body,
    }


def plan(ingresses, model, strategy, target):
    """Actions that make every unserved Ingress served; raises IngressError when that is impossible.

    The plan is complete and checked (simulated on a copy of the model) before anything is applied.
    """
    decisions = audit(ingresses, model)
    unserved = [(ing, d) for ing, d in zip(ingresses, decisions) if not d["served"]]
    down = [d["reason"] for _ing, d in unserved if d["reason_code"] == "controller_down"]
    if down:
        raise IngressError("cannot reconcile while a controller is down: " + "; ".join(down))
    actions, class_actions = [], {}
    controller_of_target = model.classes[target].controller
    for ing, _decision in unserved:
        if strategy == "patch" or ing.requested_via == "none":
            actions.append(_ingress_patch(ing, target))
            continue
        name = ing.requested_class
        if not valid_class_name(name):
            raise IngressError("%s requests class %r, which is not a valid IngressClass name: strategy alias cannot "
                               "create it; use strategy patch" % (ing.key, name))
        existing = model.classes.get(name)
        if name not in class_actions and (existing is None or name not in model.served_classes()):
            if existing is not None:
                owners = [c.id for c in model.controllers if existing.name in c.matching_classes(model.classes)]
                if owners:
                    raise IngressError("IngressClass %s belongs to %s, which is not running: start it instead of "
                                       "repointing the class" % (name, ", ".join(owners)))
            class_actions[name] = _class_action(name, controller_of_target, existing)
        if ing.requested_via == "annotation":
            actions.append(_ingress_patch(ing, name))
    ordered = list(class_actions.values()) + actions
    _check_plan(ingresses, model, ordered, [ing for ing, _d in unserved])
    return ordered


def simulate(ingresses, model, actions):
    """``(ingresses, model)`` as they would be after ``actions``."""
    classes = dict((name, IngressClass(ic.name, ic.controller, ic.default, ic.obj)) for name, ic in model.classes.items())
    patched = {}
    for action in actions:
        if action["kind"] == "IngressClass":
            old = classes.get(action["name"])
            classes[action["name"]] = IngressClass(action["name"], action["after"]["controller"],
                                                   old.default if old else False, action["body"])
        else:
            patched["%s/%s" % (action["namespace"], action["name"])] = action["after"]["ingressClassName"]
    result = []
    for ing in ingresses:
        if ing.key in patched:
            ing = Ingress(ing.namespace, ing.name, patched[ing.key], None, ing.nginx_annotations, ing.source)
        result.append(ing)
    return result, Model(classes.values(), model.controllers, model.warnings)


def _check_plan(ingresses, model, actions, targeted):
    after, new_model = simulate(ingresses, model, actions)
    keys = set(ing.key for ing in targeted)
    still = [d["reason"] for d in audit([i for i in after if i.key in keys], new_model) if not d["served"]]
    if still:
        raise IngressError("the plan would leave Ingresses unserved, so nothing was changed: %s" % "; ".join(still))
    broken = [d["reason"] for i, d in zip(after, audit(after, new_model))
              if i.key not in keys and not d["served"] and decide(_find(ingresses, i.key), model)["served"]]
    if broken:
        raise IngressError("the plan would break Ingresses that are served now, so nothing was changed: %s"
                           % "; ".join(broken))


def _find(ingresses, key):
    return next(i for i in ingresses if i.key == key)


def apply_plan(api, actions, check_mode):
    """Dry-run every action first (nothing persists if one is refused), then apply them in order.

    Returns the list of applied actions. A failure after the dry run raises :class:`ApplyError`
    naming what was applied and what was not; a re-run completes the rest.
    """
    for action in actions:
        _run(api, action, dry_run=True, applied=[], pending=actions)
    if check_mode:
        return []
    applied = []
    for index, action in enumerate(actions):
        _run(api, action, dry_run=False, applied=applied, pending=actions[index:])
        applied.append(action)
    return applied


def describe_action(action):
    if action["kind"] == "Ingress":
        return "patch Ingress %s/%s to class %s" % (
            action["namespace"], action["name"], action["after"]["ingressClassName"])
    return "%s IngressClass %s -> %s" % (action["action"], action["name"], action["after"]["controller"])


def _run(api, action, dry_run, applied, pending):
    step = "dry run of " if dry_run else ""
    try:
        if action["kind"] == "Ingress":
            api.patch_ingress(action["namespace"], action["name"], action["body"], dry_run)
        elif action["action"] == "create":
            api.create_ingress_class(action["body"], dry_run)
        else:
            api.delete_ingress_class(action["name"], dry_run)
            if not dry_run:
                try:
                    api.create_ingress_class(action["body"], dry_run)
                except (k8s.KubeError, IngressError) as exc:
                    raise ApplyError(
                        "IngressClass %s was deleted to repoint it, but creating it again failed (%s): create it by "
                        "hand with controller %s, then run again" % (action["name"], exc, action["after"]["controller"]),
                        applied, pending, getattr(exc, "status", None))
    except ApplyError:
        raise
    except (k8s.KubeError, IngressError) as exc:
        done = "; nothing was changed" if dry_run or not applied else "; already applied: " + ", ".join(
            describe_action(a) for a in applied)
        left = [describe_action(a) for a in pending]
        raise ApplyError("%s%s: %s%s; not applied: %s" % (
            step, describe_action(action), exc, done, ", ".join(left)), applied, pending, getattr(exc, "status", None))


# ---------------------------------------------------------------------------------------------
# Manifest files: rewrite only the class fields, byte-for-byte elsewhere
# ---------------------------------------------------------------------------------------------

class _Doc(object):
    def __init__(self, index, node):
        self.index = index
        self.node = node


def _entry(mapping, key):
    if not isinstance(mapping, yaml.MappingNode):
        return None, None
    for knode, vnode in mapping.value:
        if isinstance(knode, yaml.ScalarNode) and knode.value == key:
            return knode, vnode
    return None, None


def _scalar(mapping, key):
    _k, v = _entry(mapping, key)
    return v.value if isinstance(v, yaml.ScalarNode) else None


def _line_start(text, index):
    return text.rfind("\n", 0, index) + 1


def _line_end(text, index):
    """Index just past the newline ending the line that contains ``index``."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _only_space_before(text, index):
    return text[_line_start(text, index):index].strip() == ""


def _entry_end(text, value):
    """End of the lines a block mapping value occupies (block scalars end at the next line's start)."""
    if value.end_mark.column == 0 and value.end_mark.index > value.start_mark.index:
        return value.end_mark.index
    return _line_end(text, value.end_mark.index)


def _only_comment_after(text, index):
    if index > 0 and text[index - 1] == "\n":  # a block value that ended at a line start
        return True
    rest = text[index:_line_end(text, index)].strip()
    return rest == "" or rest.startswith("#")


def _format_scalar(value, style):
    if style == "'":
        return "'%s'" % value
    if style == '"' or _YAML_SPECIAL.match(value):
        return '"%s"' % value
    return value


class ManifestFile(object):
    """The Ingress documents of one multi-document YAML file and their class edits."""

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.newline = "\r\n" if "\r\n" in text else "\n"
        try:
            self.nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
            self.data = _yaml.load_all(text)  # duplicate keys refused: which one would Kubernetes keep?
            self.constructs = _constructs(text)
        except yaml.YAMLError as exc:
            raise ManifestError("%s is not valid YAML, so it was left untouched: %s" % (path, _yaml.problem(exc)))
        for index, node in enumerate(self.nodes):
            if _has_merge_key(node):
                self.constructs.setdefault(index, set()).add("merge keys (<<)")
        self.docs = []
        for index, node in enumerate(self.nodes):
            if isinstance(node, yaml.MappingNode) and _scalar(node, "kind") == "Ingress":
                self._check_api_version(index, node)
                self.docs.append(_Doc(index, node))

    def _check_api_version(self, index, node):
        api = _scalar(node, "apiVersion")
        if api != "networking.k8s.io/v1":
            raise ManifestError(
                "%s document %d: Ingress apiVersion %s was removed in Kubernetes 1.22: convert it to "
                "networking.k8s.io/v1 first (file left untouched)" % (self.path, index + 1, api))

    def ingresses(self):
        return [Ingress.from_object(self.data[doc.index] or {}, source="%s#%d" % (self.path, doc.index + 1))
                for doc in self.docs]

    def rewrite(self, target):
        """``(new_text, changes)`` with every Ingress moved to ``target``; verified by re-parsing."""
        return self.rewrite_with_diffs(target)[:2]

    def rewrite_with_diffs(self, target):
        """:meth:`rewrite` plus one diff per changed Ingress document.

        A diff holds only the text of that Ingress document (first key to last value), before and
        after: never the rest of the file, which may carry Secrets with plaintext values.
        """
        edits, changes, diffs, expected = [], [], [], copy.deepcopy(self.data)
        for doc, ing in zip(self.docs, self.ingresses()):
            annotated = ANNOTATION_CLASS in (((self.data[doc.index] or {}).get("metadata") or {}).get("annotations")
                                             or {})  # also with a null value
            if ing.field_class == target and not annotated:
                continue
            where = "%s document %d (Ingress %s)" % (self.path, doc.index + 1, ing.key)
            if self.constructs.get(doc.index):
                raise ManifestError(
                    "%s: uses YAML %s, which the module does not rewrite (a text edit could change what they mean); "
                    "set spec.ingressClassName: %s%s by hand (file left untouched)" % (
                        where, " and ".join(sorted(self.constructs[doc.index])), target,
                        " and remove the %s annotation" % ANNOTATION_CLASS if annotated else ""))
            doc_edits = self._class_edits(doc.node, target, where)
            if annotated:
                doc_edits.extend(self._annotation_edits(doc.node, where))
            edits.extend(doc_edits)
            _expect(expected[doc.index], target)
            changes.append({"document": doc.index + 1, "namespace": ing.namespace, "name": ing.name,
                            "before": {"ingressClassName": ing.field_class, "annotation": ing.annotation_class},
                            "after": {"ingressClassName": target, "annotation": None}})
            header = "%s (document %d: Ingress %s)" % (self.path, doc.index + 1, ing.key)
            diffs.append(dict(zip(("before", "after"), self._document_text(doc.node, doc_edits)),
                              before_header=header, after_header=header))
        new_text = _apply(self.text, edits)
        if edits:
            self._verify(new_text, expected)
        return new_text, changes, diffs

    def _document_text(self, node, edits):
        """``(before, after)`` text of one document's lines, from its first key to its last value."""
        start = min([_line_start(self.text, node.start_mark.index)] + [e[0] for e in edits])
        end = _content_end(node)
        end = max([_line_end(self.text, max(end - 1, start))] + [e[1] for e in edits])
        return self.text[start:end], _apply(self.text[start:end], [(a - start, b - start, r) for a, b, r in edits])

    def secrets_with_values(self):
        """``namespace/name (document N)`` of every Secret in the file that carries data or stringData values."""
        found = []
        for index, doc in enumerate(self.data):
            for secret in _secret_objects(doc):
                if any(secret.get(key) for key in ("data", "stringData")):
                    meta = secret.get("metadata") if isinstance(secret.get("metadata"), dict) else {}
                    found.append("%s/%s (document %d)" % (meta.get("namespace") or "default", meta.get("name"),
                                                          index + 1))
        return found

    def _class_edits(self, node, target, where):
        _k, spec = _entry(node, "spec")
        if not isinstance(spec, yaml.MappingNode) or spec.flow_style or not spec.value:
            raise ManifestError("%s: spec is missing, empty or written in flow style; set spec.ingressClassName: %s "
                                "by hand (file left untouched)" % (where, target))
        _k, value = _entry(spec, "ingressClassName")
        if value is not None:
            if not isinstance(value, yaml.ScalarNode):
                raise ManifestError("%s: spec.ingressClassName is not a scalar (file left untouched)" % where)
            if value.start_mark.index == value.end_mark.index:  # "ingressClassName:" with no value
                colon = self.text.index(":", _entry(spec, "ingressClassName")[0].end_mark.index)
                return [(colon, colon + 1, ": " + _format_scalar(target, None))]
            return [(value.start_mark.index, value.end_mark.index, _format_scalar(target, value.style))]
        first = spec.value[0][0]
        if not _only_space_before(self.text, first.start_mark.index):
            raise ManifestError("%s: cannot place spec.ingressClassName safely (unusual layout); add it by hand "
                                "(file left untouched)" % where)
        start = _line_start(self.text, first.start_mark.index)
        line = " " * first.start_mark.column + "ingressClassName: %s" % _format_scalar(target, None) + self.newline
        return [(start, start, line)]

    def _annotation_edits(self, node, where):
        _k, meta = _entry(node, "metadata")
        akey, annotations = _entry(meta, "annotations")
        key, value = _entry(annotations, ANNOTATION_CLASS)
        if annotations.flow_style or not _only_space_before(self.text, key.start_mark.index) \
                or not _only_comment_after(self.text, value.end_mark.index):
            raise ManifestError("%s: the %s annotation is written in flow style or shares its line; remove it by "
                                "hand (file left untouched)" % (where, ANNOTATION_CLASS))
        edits = [(_line_start(self.text, key.start_mark.index), _entry_end(self.text, value), "")]
        if len(annotations.value) == 1:
            # The mapping becomes empty: drop the "annotations:" line too (it would read as null).
            rest = self.text[akey.end_mark.index:_line_end(self.text, akey.end_mark.index)].strip()
            if akey.start_mark.line == key.start_mark.line or not re.match(r"^:\s*(#.*)?$", rest):
                raise ManifestError("%s: cannot remove the annotations block safely; remove %s by hand (file left "
                                    "untouched)" % (where, ANNOTATION_CLASS))
            start = _line_start(self.text, akey.start_mark.index)
            edits.append((start, _line_end(self.text, akey.start_mark.index), ""))
        return edits

    def _verify(self, new_text, expected):
        try:
            actual = list(yaml.safe_load_all(new_text))
        except yaml.YAMLError as exc:
            raise ManifestError("%s: the rewritten text does not parse (%s); file left untouched: please report this"
                                % (self.path, _yaml.problem(exc)))
        if actual != expected:
            raise ManifestError("%s: rewriting would change more than the class fields; file left untouched: fix "
                                "the class by hand and please report this" % self.path)


def _constructs(text):
    """{document index: {what}} for documents with anchors, aliases or explicit tags (from the parser's events)."""
    found, index = {}, -1
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            index += 1
        elif isinstance(event, yaml.AliasEvent):
            found.setdefault(index, set()).add("anchors or aliases")
        elif isinstance(event, yaml.NodeEvent):
            if event.anchor:
                found.setdefault(index, set()).add("anchors or aliases")
            if getattr(event, "tag", None) and not (isinstance(event, yaml.ScalarEvent) and event.implicit[0]):
                found.setdefault(index, set()).add("tags (!!...)")
    return found


def _has_merge_key(node, seen=None):
    seen = seen if seen is not None else set()
    if id(node) in seen:
        return False
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        return any(key.tag == "tag:yaml.org,2002:merge" or _has_merge_key(key, seen) or _has_merge_key(value, seen)
                   for key, value in node.value)
    if isinstance(node, yaml.SequenceNode):
        return any(_has_merge_key(item, seen) for item in node.value)
    return False


def _apply(text, edits):
    for start, end, replacement in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _content_end(node):
    """Index just past the last value of a block node (trailing comments and blank lines excluded)."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark.index


def _secret_objects(doc):
    """Secrets in a parsed document: the document itself, or the items of a ``List``."""
    if not isinstance(doc, dict):
        return []
    if doc.get("kind") == "Secret":
        return [doc]
    items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else None
    return [i for i in items if isinstance(i, dict) and i.get("kind") == "Secret"] if isinstance(items, list) else []


def _expect(doc, target):
    doc.setdefault("spec", {})["ingressClassName"] = target
    annotations = (doc.get("metadata") or {}).get("annotations")
    if annotations is not None and ANNOTATION_CLASS in annotations:
        del annotations[ANNOTATION_CLASS]
        if not annotations:
            del doc["metadata"]["annotations"]


def decode_manifest(path, content):
    """Text of a manifest file's bytes (UTF-8, BOM kept aside) or a clear error."""
    if content is None:
        raise ManifestError("%s does not exist: fix the path" % path)
    bom = b"\xef\xbb\xbf" if content.startswith(b"\xef\xbb\xbf") else b""
    try:
        return bom, content[len(bom):].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError("%s is not UTF-8 text (%s), so it was left untouched" % (path, exc.reason))


# ---------------------------------------------------------------------------------------------
# Cluster access (kubernetes' dynamic client through module_utils/k8s.py)
# ---------------------------------------------------------------------------------------------

# kind -> (group/version, plural, namespaced): the four resources this concern reads and writes.
RESOURCES = {
    "IngressClass": ("networking.k8s.io/v1", "ingressclasses", False),
    "Ingress": ("networking.k8s.io/v1", "ingresses", True),
    "DaemonSet": ("apps/v1", "daemonsets", True),
    "Deployment": ("apps/v1", "deployments", True),
}


class _KnownResources(object):
    """The dynamic client's discoverer for :data:`RESOURCES` only: no discovery request, no cache file."""

    def __init__(self, client, cache_file=None):  # pylint: disable=unused-argument
        self.client = client


class KubeIngressApi(object):
    """The few API calls this concern needs, through ``module_utils/k8s.py``.

    Plain JSON through the dynamic client with the resources known in advance: the typed client's model classes
    (half a second to import) and API discovery are not needed. Every failure surfaces as that module's
    ``KubeError`` (message with the HTTP status and what to do, ``status`` attribute), unchanged: callers handle it
    next to :class:`IngressError`.
    """

    def __init__(self, api_client, request_timeout=30):
        from kubernetes.dynamic import DynamicClient, Resource  # imported lazily: unit tests of the pure parts need no client

        self.client = DynamicClient(api_client, discoverer=_KnownResources)
        self.resources = {}
        for kind, (group_version, plural, namespaced) in RESOURCES.items():
            group, version = group_version.split("/")
            self.resources[kind] = Resource(prefix="apis", group=group, api_version=version, kind=kind,
                                            namespaced=namespaced, name=plural, client=self.client)
        self.timeout = request_timeout

    def _list(self, action, kind, namespace=None):
        result = []
        token = None
        while True:
            page = self._call(action, self.client.get, self.resources[kind], namespace=namespace,
                              **({"_continue": token} if token else {})).to_dict()
            for obj in page.get("items") or []:
                obj["kind"] = kind
                obj.setdefault("apiVersion", page.get("apiVersion"))
                result.append(obj)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return result

    def _per_namespace(self, what, kind, namespaces):
        if not namespaces:
            return self._list("listing %s in all namespaces" % what, kind)
        result = []
        for ns in namespaces:
            result.extend(self._list("listing %s in namespace %s" % (what, ns), kind, namespace=ns))
        return result

    def ingress_classes(self):
        return self._list("listing IngressClasses", "IngressClass")

    def ingresses(self, namespaces):
        return self._per_namespace("Ingresses", "Ingress", namespaces)

    def workloads(self, namespaces):
        return self._per_namespace("DaemonSets", "DaemonSet", namespaces) + self._per_namespace(
            "Deployments", "Deployment", namespaces)

    def _call(self, action, func, *args, **kwargs):
        return k8s.call(action, func, *args, _request_timeout=self.timeout, **kwargs)

    @staticmethod
    def _dry(dry_run):
        return {"dry_run": "All"} if dry_run else {}

    def patch_ingress(self, namespace, name, body, dry_run):
        return self._call("patching Ingress %s/%s" % (namespace, name), self.client.patch, self.resources["Ingress"],
                          body=body, name=name, namespace=namespace,
                          content_type="application/strategic-merge-patch+json", **self._dry(dry_run))

    def create_ingress_class(self, body, dry_run):
        return self._call("creating IngressClass %s" % body["metadata"]["name"], self.client.create,
                          self.resources["IngressClass"], body=body, **self._dry(dry_run))

    def delete_ingress_class(self, name, dry_run):
        return self._call("deleting IngressClass %s" % name, self.client.delete, self.resources["IngressClass"],
                          name=name, **self._dry(dry_run))
