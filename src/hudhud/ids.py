"""Identifiers and secrets.

Public ids are random, not sequential, so that nobody can walk the id space to find accounts or chats.
Bearer tokens carry 256 random bits and only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str, nbytes: int = 10) -> str:
    n = int.from_bytes(secrets.token_bytes(nbytes), "big")
    chars = []
    for _ in range((nbytes * 8 + 4) // 5):
        chars.append(_ALPHABET[n & 31])
        n >>= 5
    return prefix + "".join(chars)


def new_token() -> str:
    return "hh_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_code(phone: str, code: str) -> str:
    return hashlib.sha256(f"{phone}:{code}".encode()).hexdigest()
