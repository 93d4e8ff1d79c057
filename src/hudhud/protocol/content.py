"""The shape a message's content may have, checked when a frame is decoded and again on every read of a
stored message (docs/protocol.md, section 5.2).

The server never interprets content, but it does parse and serialise it, and so do clients: JSON nested
hundreds of levels deep breaks recursive encoders (orjson's limit is 255 levels) and many client parsers.
So content is at most `MAX_DEPTH` containers deep, and no object or array in it has more than `MAX_ITEMS`
members. Checking costs nothing for ordinary content: a scan of the encoded bytes (fewer brackets than
levels allowed and fewer commas than members allowed proves the rules hold) decides whether the decoded
value needs walking at all.
"""

from __future__ import annotations

import orjson

MAX_DEPTH = 32
MAX_ITEMS = 1024

# What a stored message whose content breaks the rules (written before they existed) is served as: a kind no
# client knows, which clients show as "not supported" (section 5.2).
UNAVAILABLE = b'{"type":"unavailable"}'


def may_break_rules(data: bytes) -> bool:
    """False when the encoded JSON `data` certainly keeps the rules; True when its value must be walked."""
    if len(data) <= MAX_DEPTH:
        return False
    return data.count(b"{") + data.count(b"[") > MAX_DEPTH or data.count(b",") >= MAX_ITEMS


def rule_broken(value: object) -> str | None:
    """What is wrong with the decoded JSON `value`, or None if it keeps the rules. Iterative, so that no depth
    can exhaust the stack; it stops at the first container that breaks a rule."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v  # type: ignore[assignment]
        else:
            continue
        if depth > MAX_DEPTH:
            return f"content is nested more than {MAX_DEPTH} levels deep"
        if len(v) > MAX_ITEMS:
            return f"an object or array in content has more than {MAX_ITEMS} members"
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return None


def servable(data: bytes) -> bytes:
    """Stored content as it may be served: unchanged when it keeps the rules, else `UNAVAILABLE`."""
    if not may_break_rules(data):
        return data
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return UNAVAILABLE
    return data if rule_broken(value) is None else UNAVAILABLE
