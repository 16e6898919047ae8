# -*- coding: utf-8 -*-
"""Dump scanners and fingerprints (module_utils/_backup_dumps.py) on real dumps: pg_dump 15,
mariadb-dump 10.11 and a Redis 7.0 RDB recorded from Debian's servers (tests/fixtures/backup/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_dumps as dumps

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "backup"


def scan(scanner, data, chunk=7):
    for start in range(0, len(data), chunk):  # odd chunk sizes split lines anywhere
        scanner.feed(data[start:start + chunk])
    return scanner.finish()


def test_postgres_rows_per_table_and_completeness():
    data = (FIXTURES / "pg_dump.sql").read_bytes()
    fingerprint, complete = scan(dumps.PostgresScanner(), data)
    assert complete
    assert fingerprint.counts() == {'public."Odd Name"': 3, "public.empty_t": 0, "public.pay": 10}
    assert fingerprint.rows == 13 and not fingerprint.empty
    again, _complete = scan(dumps.PostgresScanner(), data, chunk=len(data))
    assert again == fingerprint


def test_postgres_dump_cut_anywhere_is_incomplete():
    data = (FIXTURES / "pg_dump.sql").read_bytes()
    for cut in (10, data.index(b"COPY public.pay") + 40, len(data) - 200):
        assert scan(dumps.PostgresScanner(), data[:cut])[1] is False, cut


def test_digest_ignores_row_order_but_sees_content_and_duplicates():
    data = (FIXTURES / "pg_dump.sql").read_bytes()
    rows = [b"%d\t%d" % (n, n * 10) for n in range(1, 11)]
    block = b"\n".join(rows)
    assert block in data
    reordered = data.replace(block, b"\n".join(reversed(rows)))
    changed = data.replace(b"7\t70", b"7\t71")
    duplicated = data.replace(b"\n".join(rows[:2]), b"\n".join([rows[0], rows[0]]))
    base = scan(dumps.PostgresScanner(), data)[0]
    assert scan(dumps.PostgresScanner(), reordered)[0] == base
    assert scan(dumps.PostgresScanner(), changed)[0].differences(base) == ["public.pay: same 10 rows counted, different content"]
    assert scan(dumps.PostgresScanner(), duplicated)[0] != base


def test_mariadb_rows_per_table_and_completeness():
    data = (FIXTURES / "mariadb_dump.sql").read_bytes()
    fingerprint, complete = scan(dumps.MariadbScanner(), data)
    assert complete
    assert fingerprint.counts() == {"empty_t": 0, "orders": 2, "we``ird": 2}
    assert scan(dumps.MariadbScanner(), data[:data.index(b"-- Dump completed")])[1] is False


def test_rdb_end_marker():
    data = (FIXTURES / "redis.rdb").read_bytes()
    assert data.startswith(b"REDIS")
    assert scan(dumps.RdbScanner(), data, chunk=5)[1] is True
    assert scan(dumps.RdbScanner(), data[:-3])[1] is False
    assert scan(dumps.RdbScanner(), b"not an rdb" + data[10:])[1] is False


def test_differences_name_tables_and_sides():
    host = dumps.Fingerprint({"public.pay": (12, "aa"), "public.new": (1, "bb"), "public.empty": (0, dumps._EMPTY)})
    saved = dumps.Fingerprint({"public.pay": (10, "cc"), "public.gone": (0, dumps._EMPTY)})
    assert host.differences(saved) == ["public.new: 1 rows on the host, 0 in the snapshot",
                                       "public.pay: 12 rows on the host, 10 in the snapshot"]
    assert dumps.Fingerprint().empty and dumps.Fingerprint.from_dict(host.as_dict()) == host


@pytest.mark.parametrize("kind,variable", [("postgres", "PGPASSWORD"), ("mariadb", "MYSQL_PWD"), ("redis", "REDISCLI_AUTH")])
def test_a_password_file_is_read_inside_the_container_never_passed(kind, variable):
    from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import Source
    source = Source(name="s", type=kind, project="p", service="x", password_file="/run/secrets/pw")
    argv = dumps._with_secret(source, ["tool", "--flag"])
    assert argv[:2] == ["sh", "-c"] and variable in argv[2] and argv[3:] == ["sh", "/run/secrets/pw", "tool", "--flag"]
    assert dumps._with_secret(Source(name="s", type=kind, project="p", service="x"), ["tool"]) == ["tool"]
