"""Shared pytest fixtures: a Kubernetes REST double per test and a client for it."""

from __future__ import annotations

import os
import tempfile

import kubernetes
import pytest

from tests import certs_factory
from tests.kube.double import KubeDouble


@pytest.fixture
def kube(tmp_path, monkeypatch):
    """A started :class:`KubeDouble` (stopped after the test) with an isolated environment.

    TMPDIR points into ``tmp_path`` (DynamicClient and kubernetes.core cache discovery there,
    keyed by host:port only), 127.0.0.1 bypasses proxies, KUBECONFIG is the double's and no
    in-cluster or K8S_AUTH_* setting can leak in. Child processes (ansible-playbook) inherit it.
    """
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1", "localhost"])))
    for name in list(os.environ):
        if name.startswith("K8S_AUTH_") or name.startswith("KUBERNETES_SERVICE_"):
            monkeypatch.delenv(name)
    with KubeDouble(workdir=tmp_path / "kube") as double:
        monkeypatch.setenv("KUBECONFIG", double.kubeconfig_path)
        yield double


@pytest.fixture
def kube_client(kube):
    """A ``kubernetes.client.ApiClient`` configured from the double's kubeconfig."""
    client = kubernetes.config.new_client_from_config(config_file=kube.kubeconfig_path, persist_config=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def promtool():
    """Path of promtool from Debian's prometheus package (unpacked once, cached); fails the test without it."""
    try:
        return certs_factory.promtool()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def monitoring_tools():
    """Debian's prometheus, prometheus-alertmanager and prometheus-blackbox-exporter unpacked once into .cache
    (nothing installed, no daemon started): the directory holding usr/bin and usr/share."""
    try:
        return certs_factory.unpack_debian_packages(
            "monitoring-tools", ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"])
    except RuntimeError as exc:
        pytest.fail(str(exc))
