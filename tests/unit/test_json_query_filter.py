# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.json_query: the two expressions the roles use, on data shaped like the APIs' answers."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.filter.query import FilterModule

json_query = FilterModule().filters()["json_query"]


def test_firing_alerts_are_projected():
    alerts = [{"state": "firing", "labels": {"alertname": "EdgeDown", "severity": "page", "instance": "e1"},
               "annotations": {"summary": "down"}},
              {"state": "pending", "labels": {"alertname": "Slow"}, "annotations": {}}]
    assert json_query(alerts, "[?state=='firing'].{name: labels.alertname, severity: labels.severity, "
                              "instance: labels.instance, summary: annotations.summary, state: state}") == [
        {"name": "EdgeDown", "severity": "page", "instance": "e1", "summary": "down", "state": "firing"}]


def test_secrets_keep_only_what_a_backup_needs():
    secret = {"type": "kubernetes.io/tls", "data": {"tls.crt": "Yw=="}, "kind": "Secret",
              "metadata": {"name": "k", "namespace": "kube-system", "labels": {"a": "b"}, "uid": "1",
                           "resourceVersion": "7"}}
    assert json_query([secret], "[].{apiVersion: 'v1', kind: 'Secret', type: type, data: data, metadata: "
                                "{name: metadata.name, namespace: metadata.namespace, labels: metadata.labels}}") == [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": {"tls.crt": "Yw=="},
         "metadata": {"name": "k", "namespace": "kube-system", "labels": {"a": "b"}}}]


def test_a_bad_expression_is_named():
    with pytest.raises(AnsibleFilterError, match=r"\[\?state=="):
        json_query([], "[?state==")


def test_data_that_is_not_json_is_refused():
    with pytest.raises(AnsibleFilterError, match="not JSON data"):
        json_query({"when": object()}, "when")
