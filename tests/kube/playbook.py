"""Run a play on localhost with ansible-playbook against a KubeDouble and read the results as JSON.

Used by integration tests of modules that talk to Kubernetes::

    result = run_playbook(kube, tmp_path, [{"kubernetes.core.k8s_info": {"kind": "Secret"}}])
    assert result.rc == 0 and result.task(0)["resources"] == []
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PlaybookResult:
    rc: int
    tasks: list  # [(task name, result for localhost)]
    stats: dict
    stdout: str
    stderr: str

    def task(self, which):
        """The result of the task at index ``which`` or named ``which``."""
        if isinstance(which, int):
            return self.tasks[which][1]
        return next(result for name, result in self.tasks if name == which)


def run_playbook(kube, tmp_path, tasks, check=False, diff=False, play_vars=None, module_defaults=None,
                 extra_args=(), env=None, timeout=300):
    """Run ``tasks`` on localhost; every kubernetes.core module defaults to the double's kubeconfig
    (``kube=None``: no Kubernetes, a plain localhost play).

    ``module_defaults`` adds entries (e.g. ``{"squaremcp.infra.sealed_secret": {"kubeconfig": ...}}``).
    Environment: the checkout's .collections, TMPDIR/ANSIBLE_HOME inside ``tmp_path``, no proxy
    for 127.0.0.1. Returns a :class:`PlaybookResult` (per-task results from the json callback).
    """
    tmp_path = Path(tmp_path)
    tmp = tmp_path / "ansible-tmp"
    tmp.mkdir(exist_ok=True)
    play = {
        "name": "kube double play",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": dict({"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, **(play_vars or {})),
        "module_defaults": dict({"group/kubernetes.core.k8s": {"kubeconfig": kube.kubeconfig_path}} if kube else {},
                                **(module_defaults or {})),
        "tasks": tasks,
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([play], indent=1))
    environment = dict(os.environ)
    environment.update({
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp),
        "ANSIBLE_REMOTE_TEMP": str(tmp),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "TMPDIR": str(tmp),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    if kube is not None:
        environment["KUBECONFIG"] = kube.kubeconfig_path
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_CALLBACKS_ENABLED"):
        environment.pop(name, None)
    environment.update(env or {})
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    command += (["--check"] if check else []) + (["--diff"] if diff else []) + list(extra_args)
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=str(tmp_path),
                               timeout=timeout, check=False)
    try:
        report = json.loads(completed.stdout)
    except ValueError as exc:
        raise AssertionError("ansible-playbook did not print JSON (rc %s):\n%s\n%s"
                             % (completed.returncode, completed.stdout, completed.stderr)) from exc
    results = [(t["task"]["name"], t["hosts"].get("localhost", {})) for p in report["plays"] for t in p["tasks"]]
    return PlaybookResult(completed.returncode, results, report.get("stats", {}), completed.stdout, completed.stderr)
