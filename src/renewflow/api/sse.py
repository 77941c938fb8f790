"""Server-Sent Events: one way to frame an event and answer a stream, for the API and the
console alike."""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

# what a producer thread puts: (event name, JSON data), then None when it is done
Events = queue.Queue[tuple[str, Any] | None]


def frame(number: int, event: str, data: Any) -> str:
    return f"id: {number}\nevent: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def response(stream: AsyncIterator[str]) -> StreamingResponse:
    """A stream of frames, never cached or buffered by a proxy."""
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def from_queue(events: Events) -> StreamingResponse:
    """The events a producer thread puts on `events`, numbered, until it puts None. The
    producer runs on whether or not the client stays."""

    async def stream() -> AsyncIterator[str]:
        number = 0
        while True:
            item = await run_in_threadpool(events.get)
            if item is None:
                return
            number += 1
            yield frame(number, *item)
            await asyncio.sleep(0)

    return response(stream())
