# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only stand-in for what the Sealed Secrets controller and the kubelet do, against the
Kubernetes double (stdlib only, runs inside the Molecule instance or the lab host, talks to 127.0.0.1
only; started by molecule/_shared/tasks/sealed_secrets_controller.yml).

When the controller Deployment appears it first stores the sealing key as a Secret labelled
sealedsecrets.bitnami.com/sealed-secrets-key=active (as the controller does on its first start; the
key pair is a generated test pair, whose certificate the double's service proxy serves), then
marks the Deployment Available. It keeps the status current (observedGeneration) and never creates
a second key, so a key deleted by a test stays deleted until restored.
"""

import argparse
import base64
import json
import time
import urllib.error
import urllib.request

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


def request(api, method, path, body=None, content_type="application/json"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def ensure_key(args):
    secrets = request(args.api, "GET", "/api/v1/namespaces/%s/secrets?labelSelector=%s" % (args.namespace, KEY_LABEL))
    if secrets and secrets.get("items"):
        return
    with open(args.cert, "rb") as cert, open(args.key, "rb") as key:
        data = {"tls.crt": base64.b64encode(cert.read()).decode(), "tls.key": base64.b64encode(key.read()).decode()}
    request(args.api, "POST", "/api/v1/namespaces/%s/secrets" % args.namespace, {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": data,
        "metadata": {"generateName": "sealed-secrets-key", "namespace": args.namespace,
                     "labels": {KEY_LABEL: "active"}}})


def mark_available(args, deployment):
    generation = deployment["metadata"].get("generation", 1)
    status = deployment.get("status") or {}
    available = any(c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions", []))
    if available and status.get("observedGeneration") == generation:
        return
    replicas = deployment["spec"].get("replicas", 1)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    condition = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "lastUpdateTime": now, "lastTransitionTime": now}
    status = {"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
              "availableReplicas": replicas, "updatedReplicas": replicas, "conditions": [condition]}
    path = "/apis/apps/v1/namespaces/%s/deployments/%s/status" % (args.namespace, args.name)
    request(args.api, "PATCH", path, {"status": status}, content_type="application/merge-patch+json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--api", default="http://127.0.0.1:16443")
    parser.add_argument("--namespace", default="kube-system")
    parser.add_argument("--name", default="sealed-secrets-controller")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    started = False
    while True:
        try:
            path = "/apis/apps/v1/namespaces/%s/deployments/%s" % (args.namespace, args.name)
            deployment = request(args.api, "GET", path)
            if deployment is not None:
                if not started:
                    ensure_key(args)
                    started = True
                mark_available(args, deployment)
        except (OSError, ValueError) as exc:
            print("fake controller: %s" % exc, flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
