#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ingress_class
short_description: Find Ingresses no running controller serves and fix their class
version_added: 0.1.0
description:
  - Discovers the IngressClasses, the ingress controllers that really run (ingress-nginx, Traefik's
    C(kubernetesIngress) and C(kubernetesIngressNGINX) providers, recognised from their DaemonSet or
    Deployment arguments) and every Ingress with the class it asks for (C(spec.ingressClassName), the
    deprecated C(kubernetes.io/ingress.class) annotation, or none).
  - Decides per Ingress, with each controller's own selection rules, whether a running controller serves
    it, and says why not (class missing, class names an absent controller, annotation ignored, no class,
    controller down).
  - O(mode=audit) only reports. O(mode=reconcile) makes every unserved Ingress served, with
    O(strategy=patch) (set C(spec.ingressClassName) to O(target_class), drop the annotation) or
    O(strategy=alias) (keep the requested name; create or repoint the IngressClass of that name at the
    controller of O(target_class); move an annotation to the field).
  - The whole plan is computed and checked on a model first, then every change is sent as a server-side
    dry run, and only then applied; if the API fails after that, the error lists what was applied and what
    was not, and a re-run completes the rest.
  - With O(paths), works on manifest files instead; every Ingress document is rewritten to request
    O(target_class) through the field, changing only the class lines (comments, key order, quoting and the
    other documents stay byte for byte), verified by re-parsing before the files are written atomically.
author:
  - SquareMCP platform team (@squaremcp)
extends_documentation_fragment:
  - squaremcp.infra.k8s
  - squaremcp.infra._attributes
  - squaremcp.infra._attributes.ACTIONGROUP_K8S
options:
  mode:
    description:
      - V(audit) reports; V(reconcile) also fixes.
    type: str
    choices: [audit, reconcile]
    default: audit
  strategy:
    description:
      - How O(mode=reconcile) fixes an unserved Ingress.
      - V(patch) points the Ingress at O(target_class).
      - V(alias) makes the class name the Ingress asks for resolve to the live controller (IngressClass
        C(spec.controller) is immutable, so a wrong one is deleted and created again). Ingresses without
        any class get O(target_class). Not available with O(paths).
    type: str
    choices: [patch, alias]
    default: patch
  target_class:
    description:
      - The IngressClass unserved Ingresses move to (and whose controller aliases point at).
      - V(auto) picks the class a running controller serves; among several, the default one, else the name
        the controller claims for the annotation. Ambiguity is an error that lists the candidates.
      - An explicit class must exist and be served by a running controller (checked against the cluster unless
        O(paths) is used).
    type: str
    default: auto
  namespaces:
    description:
      - Namespaces whose Ingresses are considered. Empty means all namespaces.
    type: list
    elements: str
    default: []
  controller_namespaces:
    description:
      - Namespaces searched for ingress controller DaemonSets and Deployments. Empty means all namespaces
        (needs cluster-wide list permission).
    type: list
    elements: str
    default: []
  paths:
    description:
      - Manifest files (multi-document YAML) to audit or rewrite instead of the cluster.
      - The cluster is only contacted to resolve O(target_class=auto).
    type: list
    elements: path
  backup:
    description:
      - With O(paths), keep a timestamped copy of each file before it is rewritten.
      - Refused (the task fails, nothing is written) when a file to rewrite contains a C(Secret) with C(data) or
        C(stringData) values, because the backup would be one more plaintext copy of them.
    type: bool
    default: false
requirements:
  - PyYAML (with O(paths))
notes:
  - The selection rules are those of ingress-nginx 1.x and Traefik v3 (read from their source). An
    ingress controller of another kind is not recognised; its Ingresses are reported as unserved.
  - An Ingress without class that exists in the cluster stays without class (the default IngressClass is
    only applied by admission when an Ingress is created).
attributes:
  check_mode:
    support: full
    details: Changes are sent to the API with C(dryRun=All); files are not written.
  diff_mode:
    support: full
    details: With O(paths), one diff per rewritten Ingress document showing only that document, never the rest of
      the file (other documents may be Secrets with plaintext values).
  idempotent:
    support: full
  platform:
    support: full
"""

EXAMPLES = r"""
- name: Report Ingresses that no running controller serves
  squaremcp.infra.ingress_class:
    kubeconfig: /var/snap/microk8s/current/credentials/client.config
  register: ingress_audit

- name: Move them to the class the live controller serves (public on microk8s)
  squaremcp.infra.ingress_class:
    kubeconfig: /var/snap/microk8s/current/credentials/client.config
    mode: reconcile
    strategy: patch

- name: Keep the names the manifests ask for (nginx) and make them resolve
  squaremcp.infra.ingress_class:
    kubeconfig: "{{ kubeconfig }}"
    mode: reconcile
    strategy: alias
    target_class: public

- name: Fix the manifests at the source
  squaremcp.infra.ingress_class:
    paths:
      - "{{ repo }}/hermes-mcp/hermes-k8s.yaml"
      - "{{ repo }}/hermes-mcp/product/app/app-k8s.yaml"
    mode: reconcile
    target_class: public
"""

RETURN = r"""
target_class:
  description: The class unserved Ingresses were (or would be) moved to; null in audit mode without O(paths).
  returned: always
  type: str
  sample: public
controllers:
  description: Ingress controllers found in DaemonSets and Deployments.
  returned: when the cluster was read
  type: list
  elements: dict
  sample:
    - id: ingress/DaemonSet/nginx-ingress-microk8s-controller
      implementation: ingress-nginx
      controller: k8s.io/ingress-nginx
      ingress_class: public
      watch_without_class: false
      running: true
      ready: 1
      desired: 1
      host_ports: [80, 443, 10254]
classes:
  description: IngressClasses with their controller, default flag and the running controllers that serve them.
  returned: when the cluster was read
  type: list
  elements: dict
  sample: [{name: public, controller: k8s.io/ingress-nginx, default: true, served_by: [ingress/DaemonSet/x]}]
ingresses:
  description: Every Ingress (or Ingress document) as found, with the decision.
  returned: always
  type: list
  elements: dict
  sample:
    - namespace: hermes-mcp
      name: hermes-mcp
      requested_class: nginx
      requested_via: annotation
      served: false
      served_by: []
      reason_code: annotation_ignored
      reason: "hermes-mcp/hermes-mcp requests nginx through the deprecated annotation ..."
mismatches:
  description: The entries of RV(ingresses) that are not served (cluster) or do not request O(target_class) through
    the field (files).
  returned: always
  type: list
  elements: dict
actions:
  description: Changes made (or, in check mode, that would be made), in order.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: Ingress, namespace: hermes-mcp, name: hermes-mcp, action: patch,
       before: {ingressClassName: null, annotation: nginx}, after: {ingressClassName: public, annotation: null}}
files:
  description: With O(paths), per file whether it changed, the documents rewritten and the backup file.
  returned: when O(paths) is used
  type: list
  elements: dict
status:
  description: HTTP status of the Kubernetes API call that failed (null when the API was not reached).
  returned: when a Kubernetes API call failed
  type: int
  sample: 403
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import ingress as ing
from ansible_collections.squaremcp.infra.plugins.module_utils import k8s
from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileError, read_bytes, write_files


def read_cluster(module, namespaces):
    if not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=k8s.KUBERNETES_IMPORT_ERROR)
    client = k8s.api_client(module.params["kubeconfig"], module.params["context"])
    api = ing.KubeIngressApi(client, module.params["request_timeout"])
    model = ing.build_model(api.ingress_classes(), api.workloads(module.params["controller_namespaces"]))
    ingresses = [ing.Ingress.from_object(o) for o in api.ingresses(namespaces)] if namespaces is not None else []
    return api, model, ingresses


def describe_model(model):
    served = model.served_classes()
    classes = [dict(ic.as_dict(), served_by=served.get(name, [])) for name, ic in sorted(model.classes.items())]
    return [c.as_dict() for c in model.controllers], classes


def public(action):
    return dict((k, v) for k, v in action.items() if k != "body")


def action_diff(action):
    def render(state):
        if state is None:
            return ""
        if action["kind"] == "IngressClass":
            return "spec.controller: %s\n" % state["controller"]
        return "spec.ingressClassName: %s\nmetadata.annotations[%s]: %s\n" % (
            state["ingressClassName"], ing.ANNOTATION_CLASS, state["annotation"])
    name = "%s %s" % (action["kind"], "/".join(filter(None, [action.get("namespace"), action["name"]])))
    return {"before_header": name, "after_header": name, "before": render(action["before"]),
            "after": render(action["after"])}


def run_cluster(module, result):
    api, model, ingresses = read_cluster(module, module.params["namespaces"])
    result["controllers"], result["classes"] = describe_model(model)
    decisions = ing.audit(ingresses, model)
    result["ingresses"] = decisions
    result["mismatches"] = [d for d in decisions if not d["served"]]
    for warning in model.warnings + [w for d in decisions for w in d["warnings"]]:
        module.warn(warning)
    if module.params["mode"] != "reconcile":
        return
    target = ing.resolve_target(module.params["target_class"], model)
    result["target_class"] = target
    actions = ing.plan(ingresses, model, module.params["strategy"], target)
    try:
        ing.apply_plan(api, actions, module.check_mode)
    except ing.ApplyError as exc:
        module.fail_json(msg=str(exc), status=exc.status, applied=[public(a) for a in exc.applied],
                         not_applied=[public(a) for a in exc.pending], **result)
    result["actions"] = [public(a) for a in actions]
    result["changed"] = bool(actions)
    result["diff"] = [action_diff(a) for a in actions]


def run_files(module, result):
    params = module.params
    if not ing.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    if params["strategy"] == "alias":
        raise ing.IngressError("strategy alias changes IngressClasses in a cluster; manifest files (paths) are "
                               "rewritten with strategy patch")
    target = params["target_class"]
    model = None
    if target == "auto":
        _api, model, _none = read_cluster(module, None)
        target = ing.resolve_target("auto", model)
    elif not ing.valid_class_name(target):
        raise ing.IngressError("target_class %r is not a valid IngressClass name (lower-case DNS subdomain)" % target)
    result["target_class"] = target
    pending, files, diffs, secrets = [], [], [], []
    for path in params["paths"]:
        if os.path.isdir(path):
            raise ing.ManifestError("%s is a directory: list the manifest files in paths" % path)
        raw = read_bytes(path)
        bom, text = ing.decode_manifest(path, raw)
        manifest = ing.ManifestFile(path, text)
        for ingress in manifest.ingresses():
            entry = ing.decide(ingress, model) if model else {
                "namespace": ingress.namespace, "name": ingress.name, "source": ingress.source,
                "requested_class": ingress.requested_class, "requested_via": ingress.requested_via}
            entry["compliant"] = ingress.field_class == target and ingress.annotation_class is None
            result["ingresses"].append(entry)
        new_text, changes, file_diffs = manifest.rewrite_with_diffs(target)
        files.append({"path": path, "changed": bool(changes), "documents": changes})
        if changes:
            # expect: a file that changes while the module works (another run, an editor) is not overwritten
            pending.append({"path": path, "content": bom + new_text.encode("utf-8"), "expect": raw})
            diffs.extend(file_diffs)
            secrets.extend("%s: %s" % (path, where) for where in manifest.secrets_with_values())
    result["mismatches"] = [e for e in result["ingresses"] if not e["compliant"]]
    result["files"] = files
    if params["mode"] != "reconcile" or not pending:
        return
    if params["backup"] and secrets:
        raise ing.ManifestError(
            "backup: true would leave a second plaintext copy of Secret values next to the manifest (a *~ backup "
            "file nobody cleans up), so nothing was written. Secrets with values: %s. Run again with backup: false "
            "(only the class lines change, the result is verified by re-parsing and the result's files/actions "
            "record the old classes), or move the Secrets out of these files first (squaremcp.infra.sealed_secret)"
            % "; ".join(secrets))
    written = write_files(module, pending, backup=params["backup"])
    for entry in files:
        entry["backup"] = written["backups"].get(entry["path"])
    result["actions"] = [dict(kind="Ingress", action="rewrite", path=f["path"], **doc)
                         for f in files for doc in f["documents"]]
    result["changed"] = True
    result["diff"] = diffs


def main():
    argument_spec = dict(
        mode=dict(type="str", choices=["audit", "reconcile"], default="audit"),
        strategy=dict(type="str", choices=["patch", "alias"], default="patch"),
        target_class=dict(type="str", default="auto"),
        namespaces=dict(type="list", elements="str", default=[]),
        controller_namespaces=dict(type="list", elements="str", default=[]),
        paths=dict(type="list", elements="path"),
        backup=dict(type="bool", default=False),
    )
    argument_spec.update(k8s.KUBE_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    result = {"changed": False, "target_class": None, "ingresses": [], "mismatches": [], "actions": []}
    try:
        if module.params["paths"]:
            run_files(module, result)
        else:
            run_cluster(module, result)
    except (ing.IngressError, FileError) as exc:
        module.fail_json(msg=str(exc), **result)
    except k8s.KubeError as exc:
        module.fail_json(msg=str(exc), status=exc.status, **result)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
