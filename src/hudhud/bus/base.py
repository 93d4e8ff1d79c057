from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Notice = dict[str, Any]
# Handlers run on the event loop and must not block: they note what changed and wake whoever sends.
Handler = Callable[[Notice], None]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, notice: Notice) -> None: ...
    def publish_nowait(self, topic: str, notice: Notice) -> None:
        """Publish without waiting, from a callback. Notices are handed over in the order of the calls."""
        ...

    async def subscribe(self, topic: str, handler: Handler) -> None: ...

    async def unsubscribe(self, topic: str, handler: Handler) -> None: ...
