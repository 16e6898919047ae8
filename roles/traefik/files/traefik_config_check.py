# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a Traefik v3 static or dynamic (file provider) configuration file; the traefik role's
``validate:`` step runs it on the host::

    python3 traefik_config_check.py static  /opt/traefik/traefik.yml
    python3 traefik_config_check.py dynamic /opt/traefik/dynamic/routes.yml [--directory DIR] [--name N] [--static FILE]

The role installs this file beside a copy of the collection's ``_traefik_*.py`` module_utils under
``lib/ansible_collections/squaremcp/infra/plugins/module_utils/``: the checks are the very code the
``traefik_routes`` module runs. Exit code 0 when the file is valid, 1 with one problem per line.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_config import check_path  # noqa: E402


def main(argv=None):
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
    sys.exit(main())
