# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cert sync's option set is defined once (certs.ARGUMENT_SPEC): the module uses it as its argument
spec, the timer's entry point checks its JSON against it, Options takes its defaults from it, and the
cert_rotation role maps its variables onto exactly those names and passes them through whole."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import certs

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "cert_rotation"
# Role defaults that differ from the module's on purpose: the timer may wait behind a manual run; the role
# names the host's absolute path.
DIFFERENT_ON_PURPOSE = {"lock_timeout", "config_path"}


def test_the_module_documents_exactly_the_option_set():
    from ansible_collections.squaremcp.infra.plugins.modules import traefik_cert_sync
    from ansible_collections.squaremcp.infra.plugins.doc_fragments import k8s

    documented = set(yaml.safe_load(traefik_cert_sync.DOCUMENTATION)["options"])
    documented |= set(yaml.safe_load(k8s.ModuleDocFragment.DOCUMENTATION)["options"])
    assert documented == set(certs.ARGUMENT_SPEC)


def test_the_role_maps_its_variables_onto_the_option_names_and_module_defaults():
    options = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["cert_rotation_sync_options"]
    assert set(options) <= set(certs.ARGUMENT_SPEC), set(options) - set(certs.ARGUMENT_SPEC)
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for option, expression in options.items():
        variable = "cert_rotation_" + option
        default = certs.ARGUMENT_SPEC[option].get("default")
        if variable in defaults and default is not None and option not in DIFFERENT_ON_PURPOSE:
            assert defaults[variable] == default, "%s: role default %r, module default %r" % (
                variable, defaults[variable], default)
        assert variable in expression or option in ("kubeconfig", "metrics_path"), (option, expression)


def test_the_manual_sync_passes_the_options_whole():
    """tasks/sync.yml hands the module cert_rotation_sync_args, never option by option."""
    tasks = yaml.safe_load((ROLE / "tasks" / "sync.yml").read_text())
    sync = tasks[0]["block"][0]
    assert sync["squaremcp.infra.traefik_cert_sync"] == {}
    assert sync["module_defaults"] == {"squaremcp.infra.traefik_cert_sync": "{{ cert_rotation_sync_args }}"}


@pytest.mark.parametrize("params, message", [
    ({"dest_dir": "/x", "source": "directory"}, "source=directory needs source_dir"),
    ({"dest_dir": "/x", "min_days_valid": "14"}, "min_days_valid must be of type int"),
    ({"dest_dir": "/x", "prune": "yes"}, "prune must be of type bool"),
    ({"dest_dir": "/x", "names": ["a", 1]}, "names must be a list of strings"),
    ({"dest_dir": "/x", "on_expiring": "ignore"}, "on_expiring must be one of fail, warn, skip"),
    ({"dest_dir": "/x", "dest": "/y"}, "unknown option dest"),
    ({"source": "directory"}, "dest_dir is required"),
])
def test_the_timer_configuration_is_checked_like_module_arguments(params, message):
    with pytest.raises(certs.SyncError, match=message):
        certs.check_params(params, "cert-sync.json")


def test_options_take_their_defaults_from_the_spec():
    options = certs.Options({"dest_dir": "/opt/traefik/certs", "namespaces": ["edge"]})
    for name in ("min_days_valid", "on_expiring", "max_prune_ratio", "lock_timeout"):
        assert getattr(options, name) == certs.ARGUMENT_SPEC[name]["default"]
    assert options.config_path == "/opt/traefik/dynamic/certificates.yml"
