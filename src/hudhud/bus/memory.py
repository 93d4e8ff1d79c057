from __future__ import annotations

from hudhud.bus.base import GapListener, Handler, Notice, hand_over


class MemoryBus:
    """In-process bus for a single process: a notice reaches every subscriber before `publish` returns, and
    none is ever lost, so it has no gaps to report."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Handler]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subs.clear()

    async def publish(self, topic: str, notice: Notice) -> None:
        self.publish_nowait(topic, notice)

    def publish_nowait(self, topic: str, notice: Notice) -> None:
        hand_over(self._subs.get(topic, ()), topic, notice)

    async def subscribe(self, topic: str, handler: Handler) -> None:
        self._subs.setdefault(topic, []).append(handler)

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._subs.get(topic)
        if not handlers:
            return
        try:
            handlers.remove(handler)
        except ValueError:
            return
        if not handlers:
            del self._subs[topic]

    def topic_count(self) -> int:
        return len(self._subs)

    def watch_gaps(self, listener: GapListener) -> None:
        return None

    def unwatch_gaps(self, listener: GapListener) -> None:
        return None

    def status(self) -> str:
        return "up"
