"""Providers built in a test are closed after it (their SDK clients pool connections)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from renewflow.llm import LLMProvider, LLMSettings, provider_from_settings

MakeProvider = Callable[[LLMSettings, Mapping[str, str]], LLMProvider]


@pytest.fixture
def providers() -> Iterator[MakeProvider]:
    made: list[LLMProvider] = []

    def make(settings: LLMSettings, env: Mapping[str, str]) -> LLMProvider:
        provider = provider_from_settings(settings, env)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()
