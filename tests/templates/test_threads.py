"""Compiling templates from several threads at once, as the API's request threads do."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from renewflow.templates import Environment

SLOW_THREAD = "slow-compiler"
SLOW_COMPILES = 3


@pytest.fixture
def slow_thread_pauses_at_every_allocation() -> Iterator[None]:
    """In the thread named SLOW_THREAD, a garbage collection at every allocation that lets the
    other threads run: it pauses in the middle of every syntax-tree conversion it makes, and the
    others convert theirs meanwhile."""

    def pause(phase: str, _: dict[str, Any]) -> None:
        if phase == "start" and threading.current_thread().name == SLOW_THREAD:
            time.sleep(0.0005)

    thresholds = gc.get_threshold()
    gc.set_threshold(1)
    gc.callbacks.append(pause)
    try:
        yield
    finally:
        gc.callbacks.remove(pause)
        gc.set_threshold(*thresholds)


def _at_depth(depth: int, call: Callable[[], str]) -> str:
    return _at_depth(depth - 1, call) if depth else call()


@pytest.mark.usefixtures("slow_thread_pauses_at_every_allocation")
def test_concurrent_compiles_all_succeed() -> None:
    environment = Environment(cache_size=0)  # every compile does the whole work
    errors: list[BaseException] = []
    slow_done = threading.Event()
    rendered: dict[str, int] = {}

    def compile_and_render(tag: str) -> str:
        source = "{{#if on}}{{#each items}}{{name}}{{/each}} " + tag + "{{/if}}"
        template = environment.compile(source)
        return template.render({"on": True, "items": [{"name": "a"}, {"name": "b"}]})

    def work(name: str, depth: int) -> None:
        count = 0
        try:
            while not slow_done.is_set():
                tag = f"{name}.{count}"
                # at different stack depths, as request threads are
                assert _at_depth(depth, partial(compile_and_render, tag)) == f"ab {tag}"
                count += 1
                if name == SLOW_THREAD and count == SLOW_COMPILES:
                    slow_done.set()
        except BaseException as error:
            errors.append(error)
            slow_done.set()
        rendered[name] = count

    threads = [
        threading.Thread(target=work, args=(name, depth), name=name)
        for name, depth in ((SLOW_THREAD, 0), ("fast-1", 20), ("fast-2", 40))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rendered[SLOW_THREAD] == SLOW_COMPILES
    assert rendered["fast-1"] > 0
    assert rendered["fast-2"] > 0
