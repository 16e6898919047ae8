# -*- coding: utf-8 -*-
"""The backup's textfile metrics (module_utils/_backup_metrics.py): exactly the README's names, one
series per repository, carried over between backup and check runs, written atomically 0644."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_metrics as metrics

README = Path(__file__).resolve().parents[2] / "README.md"


def module(check_mode=False):
    with patch_module_args({"_ansible_check_mode": check_mode}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_names_are_exactly_the_readme_table_rows_of_the_backup_writer():
    rows = re.findall(r"^\| `(squaremcp_backup_[a-z_]+)` \| gauge \| `repository` \|", README.read_text(), re.MULTILINE)
    assert sorted(rows) == sorted(name for _field, name, _help in metrics.METRICS)


def test_a_repository_without_success_reports_zero_so_staleness_alerts():
    merged = metrics.merge({}, {"local": {"last_run": 100.0}}, ["local"])
    assert merged["local"].last_success == 0.0


def test_updates_carry_the_other_series_over_and_drop_removed_repositories(tmp_path):
    path = tmp_path / "squaremcp_backup.prom"
    files = module()
    first = {"local": {"last_run": 10.0, "last_success": 10.0, "size": 5.0, "files": 2.0}, "old": {"last_run": 1.0}}
    assert metrics.update(files, str(path), first, ["local", "old"]) is None
    assert metrics.update(files, str(path), {"local": {"check": 0.0}}, ["local"]) is None
    parsed = metrics.parse(path.read_text())
    assert parsed == {"local": metrics.RepositoryMetrics(last_run=10.0, last_success=10.0, size=5.0, files=2.0, check=0.0)}
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert 'squaremcp_backup_check_success{repository="local"} 0.0' in path.read_text()


def test_check_mode_writes_nothing_and_garbage_is_replaced(tmp_path):
    path = tmp_path / "squaremcp_backup.prom"
    assert metrics.update(module(check_mode=True), str(path), {"local": {"last_run": 1.0}}, ["local"]) is None
    assert not path.exists()
    path.write_text("this is { not prometheus\n")
    assert metrics.update(module(), str(path), {"local": {"last_run": 2.0}}, ["local"]) is None
    assert metrics.parse(path.read_text())["local"].last_run == 2.0


def test_an_unwritable_directory_is_reported_not_raised(tmp_path):
    problem = metrics.update(module(), str(tmp_path / "missing" / "squaremcp_backup.prom"), {"local": {"last_run": 1.0}}, ["local"])
    assert problem.startswith("metrics not written to") and "does not exist" in problem
