"""The node-to-node doorbell. A notice says "something is waiting for you in the store"; it never carries a
message. Losing a notice delays delivery until the next notice or reconnect; it never loses a message."""

from hudhud.bus.base import Bus, GapListener, Handler, Notice
from hudhud.bus.memory import MemoryBus

__all__ = ["Bus", "GapListener", "Handler", "MemoryBus", "Notice", "make_bus"]


def make_bus(url: str, *, poll_interval: float = 2.0) -> Bus:
    """memory:// (one process) or redis://host:port/db (any number of processes and nodes; bus/redis.py)."""
    if url.startswith("memory:"):
        return MemoryBus()
    if url.startswith(("redis:", "rediss:", "unix:")):
        from hudhud.bus.redis import RedisBus

        return RedisBus(url, poll_interval=poll_interval)
    raise ValueError(f"unsupported bus URL: {url} (memory:// or redis://host:port/db)")
