"""A broken venv must fail the suite, not turn it green: no test skips a dependency we install."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
IMPORTORSKIP = re.compile(r"""importorskip\(\s*["']([\w.]+)["']""")


def _name(text):
    return re.sub(r"[-_.]+", "-", text).lower()


def installed_requirements():
    """Distributions requirements.txt pins, with everything they need (extras left out)."""
    pending = [Requirement(line.split("#")[0].strip()).name
               for line in (ROOT / "requirements.txt").read_text().splitlines() if line.split("#")[0].strip()]
    seen = set()
    while pending:
        name = _name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # reported by the import itself
        for spec in requires:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def test_no_test_skips_a_module_requirements_txt_installs():
    required = installed_requirements()
    providers = importlib.metadata.packages_distributions()
    assert {"kubernetes", "pyyaml", "ansible-core"} <= required
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "output" in path.relative_to(ROOT / "tests").parts:
            continue
        for module in IMPORTORSKIP.findall(path.read_text()):
            if any(_name(dist) in required for dist in providers.get(module.split(".")[0], [])):
                offenders.append("%s: importorskip(%r)" % (path.relative_to(ROOT), module))
    assert offenders == [], "import these directly (a missing one is a broken venv, not a reason to skip)"
