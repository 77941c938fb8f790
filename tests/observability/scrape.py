"""Reading a Prometheus scrape in the tests: prometheus-client's own parser, then exact lookups."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by (sample name, its labels)."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def families(text: str) -> dict[str, str]:
    """The families of a scrape: name -> type."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def fetch(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample with exactly these labels (a KeyError naming what there is, if none)."""
    key = (name, frozenset(labels.items()))
    if key not in samples:
        there = sorted(str(dict(k[1])) for k in samples if k[0] == name)
        raise KeyError(f"no {name}{labels}; there are: {there}")
    return samples[key]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls), _ in samples.items() if n == name and label in dict(ls)}
