#!/usr/bin/env bash
# Print the directory of Mitogen's strategy plugins (PyPI `mitogen`, pinned in requirements.txt), for
#   ANSIBLE_STRATEGY_PLUGINS=$(tools/mitogen.sh) ANSIBLE_STRATEGY=mitogen_linear ansible-playbook ...
# which runs a playbook with the Mitogen strategy (used by `make demo FAST=1`, benchmarks/converge.py
# and the platform Molecule scenario).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" -c 'import ansible_mitogen, os; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))'
