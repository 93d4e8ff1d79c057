from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

log = logging.getLogger("hudhud.bus")

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


def hand_over(handlers: Iterable[Handler], topic: str, notice: Notice) -> None:
    """Give `notice` to each handler in turn (over a copy: a handler may unsubscribe); one that fails is logged
    and the others still get it."""
    for handler in list(handlers):
        try:
            handler(notice)
        except Exception:
            log.exception("bus handler failed for %s", topic)
