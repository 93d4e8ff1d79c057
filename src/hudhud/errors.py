"""The error tree. Every error a client can cause has a stable string code.

`ClientError` is the client's fault: it carries the HTTP status and the code to send back, and the
connection stays up. Anything else is our fault and is logged; the client sees `internal_error`.
"""

from __future__ import annotations


class HudhudError(Exception):
    """Base of all errors raised on purpose by Hudhud."""


class ClientError(HudhudError):
    code = "invalid_request"
    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retry_after"] = round(self.retry_after, 3)
        body.update(self.details)
        return body

    # Extra fields for the error body and HTTP headers (an upload's current offset, say); empty for most errors.
    details: dict[str, object] = {}  # noqa: RUF012 - replaced per instance, never mutated
    headers: dict[str, str] = {}  # noqa: RUF012 - replaced per instance, never mutated


class InvalidRequest(ClientError):
    code = "invalid_request"


class InvalidPhone(ClientError):
    code = "invalid_phone"


class Unauthorized(ClientError):
    code = "unauthorized"
    status = 401


class NotFound(ClientError):
    code = "not_found"
    status = 404


class NotMember(ClientError):
    code = "not_member"
    status = 403


class Conflict(ClientError):
    code = "user_exists"
    status = 409


class ContentTooLarge(ClientError):
    code = "content_too_large"
    status = 413


class PinLimit(ClientError):
    """Pinning a fourth chat (docs/protocol.md 3.13a)."""

    code = "pin_limit"
    status = 409


class RateLimited(ClientError):
    code = "rate_limited"
    status = 429


class ServiceUnavailable(ClientError):
    """The outside world failed us (for example the SMS provider); the client may retry."""

    code = "unavailable"
    status = 503


# Every code a client can see, with the HTTP status REST uses for it. docs/protocol.md lists the same table and
# a test checks that the two agree.
ERROR_CODES: dict[str, int] = {
    "invalid_request": 400,
    "invalid_phone": 400,
    "code_invalid": 400,
    "code_expired": 400,
    "code_attempts_exceeded": 429,
    "rate_limited": 429,
    "too_many_connections": 429,
    "discovery_budget_exceeded": 429,
    "unauthorized": 401,
    "device_revoked": 401,
    "not_member": 403,
    "not_found": 404,
    "not_admin": 403,
    "admins_only": 403,
    "account_suspended": 403,
    "link_invalid": 404,
    "pairing_invalid": 404,
    "invitation_invalid": 404,
    "already_member": 409,
    "group_full": 409,
    "new_chat_limit": 429,
    "forward_limit": 400,
    "pin_limit": 409,
    "method_not_allowed": 405,
    "user_exists": 409,
    "device_limit": 409,
    "content_too_large": 413,
    "unavailable": 503,
    "internal_error": 500,
    "bad_frame": 400,
    "unknown_frame": 400,
    "unsupported_version": 400,
    "not_authenticated": 401,
    "already_authenticated": 400,
    "media_not_found": 404,
    "media_too_large": 413,
    "media_type_mismatch": 415,
    "media_corrupt": 400,
    "checksum_mismatch": 400,
    "upload_offset_mismatch": 409,
    "upload_incomplete": 409,
    "quota_exceeded": 403,
    "range_not_satisfiable": 416,
    "url_expired": 403,
    "url_invalid": 403,
}
