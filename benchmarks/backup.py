# -*- coding: utf-8 -*-
"""Figures for backups and restores (restic_backup / restic_restore's code) at sizes beyond the drill's.

The drill backs up a few hundred kB; this uses the tests' Compose stack (the stacks' PostgreSQL,
MariaDB and Redis images) with N rows of payments, N/10 rows of orders and N/100 Redis keys, backed up
with the timer's code to one local repository, then restored onto the emptied stack and verified.

Prints (no pass/fail): rows, dump bytes, repository growth, backup seconds and MB/s, restore seconds,
and the second (unchanged) backup's cost, for each size given. Needs `make images` and restic
(installed from Debian when missing).

    .venv/bin/python benchmarks/backup.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".collections")]

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup as backup  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_restore as restore  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils._files import ProcessFileOps  # noqa: E402
from tests.integration.backup_env import Host, Stack, ensure_restic  # noqa: E402


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def fill(stack: Stack, rows: int) -> None:
    stack.seed()
    stack.psql("INSERT INTO payments SELECT g, g * 7, 'payment ' || md5(g::text) "
               "FROM generate_series(1000, %d) g;" % (rows + 999))
    stack.mariadb("INSERT INTO shop.orders SELECT seq, CONCAT('item ', seq) FROM shop.seq_10_to_%d;" % (rows // 10 + 9))
    stack.redis("EVAL", "for i=1,%d do redis.call('SET', 'key:'..i, i) end" % (rows // 100), "0")


def measure(stack: Stack, work: Path, rows: int) -> None:
    fill(stack, rows)
    host = Host(work / ("host-%d" % rows))
    local = host.repository("local")
    host.configure([local], stack.sources("app-postgres", "shop-mariadb", "cache-redis"), command_timeout=3600)
    config = backup.load_config(str(host.config_path))
    backup.init_repositories(ProcessFileOps(), config)
    empty = size_of(Path(local["url"]))
    started = time.monotonic()
    first = backup.run_backup(ProcessFileOps(), config)
    seconds = time.monotonic() - started
    grown = size_of(Path(local["url"])) - empty
    started = time.monotonic()
    second = backup.run_backup(ProcessFileOps(), config)
    again = time.monotonic() - started
    stack.psql("DROP TABLE payments;")
    stack.mariadb("DROP DATABASE shop;")
    stack.redis("FLUSHALL")
    started = time.monotonic()
    restored = restore.run_restore(ProcessFileOps(), config, "local")
    back = time.monotonic() - started
    print("%9d payment rows: dumps %7.1f MB, repository +%6.1f MB, backup %6.1fs (%5.1f MB/s), unchanged again %6.1fs "
          "(+%.1f MB), restore + verify %6.1fs, %s" % (
              rows, first.bytes / 1e6, grown / 1e6, seconds, first.bytes / 1e6 / max(seconds, 0.001), again,
              (size_of(Path(local["url"])) - empty - grown) / 1e6, back,
              "ok" if not (first.failed or second.failed or restored.failed) else "FAILED: " + (
                  first.msg if first.failed else second.msg if second.failed else restored.msg)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100000, 1000000])
    args = parser.parse_args()
    ensure_restic()
    with tempfile.TemporaryDirectory() as work:
        stack = Stack(Path(work) / "stack")
        stack.up()
        try:
            for rows in args.rows:
                measure(stack, Path(work), rows)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
