# -*- coding: utf-8 -*-
"""Figures for squaremcp.infra.sealed_secret's sealing core (in-process, no Ansible start-up).

Prints (no pass/fail), for RSA 2048 and 4096 controller certificates and a Secret shaped like
hermes-k8s.yaml's (``--keys`` values of ``--value-bytes`` each):
* sealing every value (RSA-OAEP + AES-256-GCM per value), per Secret and per value;
* the keyed digest that decides whether an unchanged Secret needs re-sealing (what a second run
  costs instead of sealing).

    .venv/bin/python benchmarks/sealed_secret.py [--keys 15] [--value-bytes 64] [--rounds 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".collections")]

from ansible_collections.squaremcp.infra.plugins.module_utils import sealing  # noqa: E402
from tests.fixtures.sealed_secrets import controller  # noqa: E402


def per_call(function, rounds):
    start = time.perf_counter()
    for _round in range(rounds):
        function()
    return (time.perf_counter() - start) / rounds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keys", type=int, default=15)
    parser.add_argument("--value-bytes", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    values = {"KEY_%02d" % index: os.urandom(args.value_bytes) for index in range(args.keys)}
    label = sealing.encryption_label("strict", "hermes-mcp", "hermes-secrets")
    digest_key = os.urandom(32).hex()
    print("Secret: %d values of %d bytes, strict scope, %d rounds each" % (args.keys, args.value_bytes, args.rounds))
    for bits in (2048, 4096):
        certificate = sealing.load_certificate(controller.key_pair(bits)[1])
        seal = per_call(lambda: sealing.seal_values(certificate, values, label), args.rounds)
        digest = per_call(lambda: sealing.keyed_digest(digest_key, "hermes-secrets", "hermes-mcp", "strict",
                                                       "Opaque", "0" * 64, values), args.rounds)
        print("RSA %d: seal %.2f ms per Secret (%.3f ms per value); unchanged-run digest %.3f ms per Secret"
              % (bits, seal * 1e3, seal * 1e3 / args.keys, digest * 1e3))


if __name__ == "__main__":
    main()
