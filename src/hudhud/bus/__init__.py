"""The node-to-node doorbell. A notice says "something is waiting for you in the store"; it never carries a
message. Losing a notice delays delivery until the next notice or reconnect; it never loses a message."""

from hudhud.bus.base import Bus, Handler, Notice
from hudhud.bus.memory import MemoryBus

__all__ = ["Bus", "Handler", "MemoryBus", "Notice", "make_bus"]


def make_bus(url: str) -> Bus:
    if url.startswith("memory:"):
        return MemoryBus()
    raise ValueError(f"unsupported bus URL: {url} (memory:// is built in; redis:// comes with scale-out)")
