from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Notice = dict[str, Any]
# Handlers run on the event loop and must not block: they note what changed and wake whoever sends.
Handler = Callable[[Notice], None]
# Called when notices may have been lost (the bus lost its connection, and on a timer while it is down): whoever
# is woken by notices reads the store instead. Must not block either.
GapListener = Callable[[], None]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, notice: Notice) -> None:
        """Hand a notice to every subscriber of `topic` on every process. Never raises for a bus that is
        down: the store is the truth, and listeners are told of the gap instead."""
        ...

    def publish_nowait(self, topic: str, notice: Notice) -> None:
        """Publish without waiting, from a callback. Notices are handed over in the order of the calls."""
        ...

    async def subscribe(self, topic: str, handler: Handler) -> None:
        """Returns once a notice published anywhere after the return reaches `handler`."""
        ...

    async def unsubscribe(self, topic: str, handler: Handler) -> None: ...

    def watch_gaps(self, listener: GapListener) -> None: ...

    def unwatch_gaps(self, listener: GapListener) -> None: ...

    def status(self) -> str:
        """ "up", or what is wrong (for /readyz and the logs)."""
        ...
