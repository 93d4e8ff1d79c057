"""A WebSocket client on a bare socket, for clients that misbehave below what a WebSocket library allows:
one that never reads, or that sends bytes no library would (bad UTF-8 in a text message)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from typing import Any

TEXT, BINARY = 0x1, 0x2


def frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    body = _mask(payload, mask)
    return head + mask + body


def _mask(payload: bytes, mask: bytes) -> bytes:
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")


def text(obj: Any) -> bytes:
    return frame(json.dumps(obj).encode())


class RawSocket:
    """A connected, upgraded WebSocket that reads only when told to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.eof = False  # the server closed the TCP connection (with or without a close frame first)

    @classmethod
    async def open(cls, url: str, *, rcvbuf: int | None = None) -> RawSocket:
        host, port = url.replace("http://", "").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /v1/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 1)  # byte by byte: leave the first frames unread
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    async def send(self, data: bytes, timeout: float | None = None) -> bool:
        """Write `data`; False if it could not all be written within `timeout` (the server stopped reading)."""
        try:
            await asyncio.wait_for(self.loop.sock_sendall(self.sock, data), timeout)
        except TimeoutError:
            return False
        return True

    async def read_frames(self, timeout: float = 5.0) -> list[tuple[int, bytes]]:
        """Read (opcode, payload) server frames until the server closes or `timeout` passes without data."""
        buf = b""
        out: list[tuple[int, bytes]] = []
        while True:
            try:
                chunk = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), timeout)
            except TimeoutError:
                return out
            except ConnectionError:
                self.eof = True
                return out
            if not chunk:
                self.eof = True
                return out
            buf += chunk
            while len(buf) >= 2:
                opcode, n, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n, at = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n, at = struct.unpack("!Q", buf[2:10])[0], 10
                if len(buf) < at + n:
                    break
                out.append((opcode, buf[at : at + n]))
                buf = buf[at + n :]
                if opcode == 0x8:
                    return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def close_code(frames: list[tuple[int, bytes]]) -> int | None:
    for opcode, payload in frames:
        if opcode == 0x8 and len(payload) >= 2:
            return int(struct.unpack("!H", payload[:2])[0])
    return None
