# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read textfile metrics the way Prometheus does (prometheus_client's parser), for assertions."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text):
    """{(name, ((label, value), ...)): value} of every sample of an exposition text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text, metric_name, /, **labels):
    """The value of one sample (KeyError when the text has no such sample)."""
    return samples(text)[(metric_name, tuple(sorted(labels.items())))]
