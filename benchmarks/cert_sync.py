# -*- coding: utf-8 -*-
"""Figures for squaremcp.infra.traefik_cert_sync: N TLS secrets in the Kubernetes double.

Prints (no pass/fail):
* the module through ansible-playbook: first run (installs everything), unchanged run; wall time and
  what the unchanged run wrote (files re-written and their bytes, under certs/ and dynamic/);
* the same sync in-process (certs.run, no Ansible start-up) for the cost of the logic itself;
* the "one task per certificate" way (kubernetes.core.k8s_info once, then per certificate
  community.crypto.x509_certificate_info + ansible.builtin.copy of the certificate and of the key),
  measured at two small sizes and extrapolated linearly to N -- clearly an extrapolation.

    .venv/bin/python benchmarks/cert_sync.py [--secrets 500] [--baseline 10 25]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".collections")]

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.squaremcp.infra.plugins.module_utils import certs  # noqa: E402
from tests.certs_factory import CertFactory  # noqa: E402
from tests.kube.double import KubeDouble  # noqa: E402
from tests.kube.playbook import run_playbook  # noqa: E402


def file_state(root):
    """{path: (inode, mtime_ns, size)} of every file under ``root``."""
    state = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            st = os.stat(path)
            state[path] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return state


def written(before, after):
    """Files created or re-written between two states, and their bytes."""
    changed = [path for path, value in after.items() if before.get(path, (None, None))[:2] != value[:2]]
    return changed, sum(after[path][2] for path in changed)


def load_secrets(kube, factory, count, namespace="edge"):
    key = factory.key("ecdsa")
    for index in range(count):
        pair = factory.issue(["site%03d.example.com" % index], key=key)
        kube.create(pair.secret("site%03d-tls" % index, namespace), ensure_namespace=index == 0)


def module_run(kube, work, tag, dest):
    (work / tag).mkdir()
    started = time.monotonic()
    played = run_playbook(kube, work / tag, [{"name": "sync", "squaremcp.infra.traefik_cert_sync": {
        "kubeconfig": kube.kubeconfig_path, "namespaces": ["edge"], "dest_dir": str(dest),
        "container_cert_dir": "/etc/traefik/certs", "on_expiring": "warn"}}])
    elapsed = time.monotonic() - started
    result = played.task("sync")
    if played.rc != 0:
        raise SystemExit("module run failed: %s" % result.get("msg"))
    return elapsed, result


def in_process(kube, dest):
    params = {"kubeconfig": kube.kubeconfig_path, "namespaces": ["edge"], "dest_dir": str(dest),
              "container_cert_dir": "/etc/traefik/certs", "on_expiring": "warn"}
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    started = time.monotonic()
    outcome = certs.run(module, params, certs.source_reader(params))
    return time.monotonic() - started, outcome


PER_CERT_TASKS = [
    {"name": "list", "kubernetes.core.k8s_info": {"kind": "Secret", "namespace": "edge",
                                                  "field_selectors": ["type=kubernetes.io/tls"]},
     "register": "tls"},
    {"name": "inspect", "community.crypto.x509_certificate_info": {
        "content": "{{ item.data['tls.crt'] | b64decode }}", "valid_at": {"gate": "+14d"}},
     "loop": "{{ tls.resources }}", "loop_control": {"label": "{{ item.metadata.name }}"}, "register": "info"},
    {"name": "certificates", "ansible.builtin.copy": {
        "content": "{{ item.data['tls.crt'] | b64decode }}", "dest": "{{ dest }}/{{ item.metadata.name }}.crt",
        "mode": "0644"}, "loop": "{{ tls.resources }}", "loop_control": {"label": "{{ item.metadata.name }}"}},
    {"name": "keys", "ansible.builtin.copy": {
        "content": "{{ item.data['tls.key'] | b64decode }}", "dest": "{{ dest }}/{{ item.metadata.name }}.key",
        "mode": "0600"}, "loop": "{{ tls.resources }}", "loop_control": {"label": "{{ item.metadata.name }}"},
     "no_log": True},
]


def _seconds(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def per_cert_run(count, work, factory):
    """Unchanged (second) run of the per-certificate playbook for ``count`` secrets.

    Returns (wall time of the first run, wall time of the unchanged run, seconds the three loop
    tasks took in the unchanged run -- from the json callback's task durations, so ansible-playbook
    start-up and the one k8s_info call are not counted as per-certificate cost).
    """
    with KubeDouble(workdir=work / ("kube%d" % count)) as kube:
        load_secrets(kube, factory, count)
        dest = work / ("percert%d" % count)
        dest.mkdir()
        walls = []
        for run in ("first", "second"):
            (work / ("percert%d-%s" % (count, run))).mkdir()
            started = time.monotonic()
            played = run_playbook(kube, work / ("percert%d-%s" % (count, run)), PER_CERT_TASKS, play_vars={"dest": str(dest)},
                                  env={"TMPDIR": str(work / "tmp")})
            walls.append(time.monotonic() - started)
            if played.rc != 0:
                raise SystemExit("per-certificate playbook failed: %s" % played.stdout[-2000:])
        tasks = json.loads(played.stdout)["plays"][0]["tasks"]
        looped = sum(_seconds(t["task"]["duration"]["end"]) - _seconds(t["task"]["duration"]["start"])
                     for t in tasks if t["task"]["name"] in ("inspect", "certificates", "keys"))
        return walls[0], walls[1], looped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--secrets", type=int, default=500)
    parser.add_argument("--baseline", type=int, nargs=2, default=[10, 25], metavar=("SMALL", "LARGER"))
    args = parser.parse_args(argv)
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    factory = CertFactory()
    with tempfile.TemporaryDirectory(prefix="cert-sync-bench-") as tmp:
        work = Path(tmp)
        (work / "tmp").mkdir()
        os.environ["TMPDIR"] = str(work / "tmp")
        traefik = work / "traefik"
        (traefik / "dynamic").mkdir(parents=True)
        dest = traefik / "certs"
        with KubeDouble(workdir=work / "kube") as kube:
            started = time.monotonic()
            load_secrets(kube, factory, args.secrets)
            print("generated and loaded %d TLS secrets (ECDSA P-256 leaves) in %.1fs" % (args.secrets, time.monotonic() - started))
            first_time, first = module_run(kube, work, "first", dest)
            before = file_state(traefik)
            second_time, second = module_run(kube, work, "second", dest)
            after_module = file_state(traefik)
            inproc_time, inproc = in_process(kube, dest)
            after_inproc = file_state(traefik)
        print("")
        print("load average before the runs: %.1f %.1f %.1f (2 shared cores)" % os.getloadavg())
        print("traefik_cert_sync via ansible-playbook, %d secrets" % args.secrets)
        print("  first run (install):   %6.2fs  changed=%s  %d files written" % (first_time, first["changed"], len(first["written"])))
        for label, elapsed, outcome, previous, now in (
                ("unchanged run:        ", second_time, second, before, after_module),
                ("unchanged, in-process:", inproc_time, inproc, after_module, after_inproc)):
            changed, nbytes = written(previous, now)
            data = [path for path in changed if not path.endswith(certs.LOCK_NAME)]
            print("  %s %6.2fs  changed=%s  bytes written to certs/ + dynamic/: %d (%d files); lock file: %d bytes"
                  % (label, elapsed, outcome["changed"], sum(now[p][2] for p in data), len(data),
                     nbytes - sum(now[p][2] for p in data)))
        print("  (in-process = certs.run only: list %d secrets, parse + verify every pair, compare; no Ansible start-up)"
              % args.secrets)

        small, larger = args.baseline
        runs = {count: per_cert_run(count, work, factory) for count in (small, larger)}
        print("")
        print("one task per certificate (k8s_info once, then per certificate x509_certificate_info, copy .crt, copy .key)")
        for count in (small, larger):
            first_wall, unchanged_wall, looped = runs[count]
            print("  %3d secrets measured:  first %6.2fs  unchanged %6.2fs, of which the per-certificate loops %6.2fs"
                  " (%.3fs per certificate)" % (count, first_wall, unchanged_wall, looped, looped / count))
        rate = runs[larger][2] / larger
        fixed = runs[larger][1] - runs[larger][2]
        estimate = fixed + rate * args.secrets
        print("  EXTRAPOLATED to %d secrets (not measured): %.2fs fixed + %d x %.3fs = ~%.0fs (%.1f min) per unchanged run"
              % (args.secrets, fixed, args.secrets, rate, estimate, estimate / 60))
        print("  (it also keeps no content-addressed names, no key/chain checks, no atomic config, no prune)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
