"""Typed settings. Every setting has a default for one machine; each can be set by an environment variable
(HUDHUD_<NAME>) or, for `hudhud serve`, by a flag. Backends are chosen by URL scheme."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    # sqlite:///path or postgresql://user@host/db. Empty: SQLite file in data_dir.
    database_url: str = ""
    # "normal": an acknowledged message survives a crash of the server process (SQLite WAL, synchronous=NORMAL).
    # "full": it also survives power loss (fsync before the acknowledgement; group commit keeps throughput).
    durability: str = "normal"
    # memory:// (one process) or redis://host:port/db (several processes and nodes; docs/deploy.md).
    bus_url: str = "memory://"
    # Seconds between looks in the store, while the Redis bus is unreachable, for messages whose notice was lost.
    bus_poll_interval: float = 2.0
    # Sessions (hello) a process starts per second, with room for a burst (web/admission.py); 0: no limit.
    hello_rate: float = 1000.0
    hello_burst: int = 2000
    # Worker processes of `hudhud serve` on one port (0: one per core with PostgreSQL and Redis, else 1).
    workers: int = 0
    log_level: str = "info"
    # text: for a terminal; json: one JSON object a line, with connection and request ids (production).
    log_format: str = "text"

    default_region: str = "EG"
    # console: codes printed on standard output; file: appended as JSON lines to sms_file (default
    # data_dir/sms-codes.jsonl); webhook: POSTed to sms_webhook_url (a real provider). Only webhook reaches
    # phones: the other two are for development, tests and load generators (docs/protocol.md section 2.4).
    sms_backend: str = "console"
    sms_webhook_url: str = ""
    sms_file: str = ""
    code_ttl: float = 600.0
    code_max_attempts: int = 5
    code_resend_interval: float = 60.0
    code_max_per_phone_hour: int = 5
    code_max_per_ip_hour: int = 20

    max_devices: int = 5
    # Linking a device with a pairing code (docs/protocol.md section 2.5).
    link_request_ttl: float = 300.0
    link_requests_per_ip_hour: int = 30
    link_misses_per_day: int = 20  # wrong pairing codes an account may try in a UTC day
    max_content_bytes: int = 64 * 1024
    # Contact discovery (docs/protocol.md section 3.11): units a day per account and per client address; a number
    # costs 1 if you have a chat with its owner in which either of you wrote, else `discovery_unknown_cost`.
    discovery_daily_budget: int = 1000
    discovery_daily_budget_per_address: int = 5000
    discovery_unknown_cost: int = 2
    discovery_alarm_per_hour: int = 20000  # service-wide units in an hour past which operators are warned
    max_ws_frame_bytes: int = 256 * 1024
    # Bytes a connection may have waiting in its socket's write buffer before its feed pauses; at twice this
    # the server also stops reading the connection's frames until the client has read most of it.
    send_buffer_bytes: int = 256 * 1024
    # Seconds a connection's write buffer may stay full without shrinking before the client is dropped as too
    # slow (close 4408; it resumes from its last ack when it returns).
    send_stall_timeout: float = 30.0

    max_group_size: int = 1024
    invitation_ttl: float = 72 * 3600
    # Abuse controls. Rate limits are per account; a "stranger" to a sender is someone who does not have the
    # sender's number in their address book (section 10.2 of docs/protocol.md).
    messages_per_minute: int = 120
    new_stranger_chats_per_day: int = 50
    complaint_window: float = 24 * 3600  # blocks and reports by distinct users counted over this window
    complaint_threshold: int = 10  # ... and this many make the account throttled
    throttle_duration: float = 24 * 3600
    throttled_messages_per_minute: int = 10
    batch_max: int = 512

    # The HTTP edge (web/edge.py). Seconds a client has to send a whole request head, from connecting or from
    # the previous response; seconds with no byte of a request body the server waits for; seconds an idle
    # keep-alive connection stays open.
    http_head_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keepalive_timeout: float = 5.0
    # Open connections (WebSockets included) per client address (0: no cap), and in all (0: a little under
    # the process's open-file limit). Addresses in connection_limit_exempt (comma-separated; a reverse proxy
    # on this machine connects from loopback) have no per-address cap: the proxy must cap its clients.
    max_connections_per_address: int = 256
    max_connections: int = 0
    connection_limit_exempt: str = "127.0.0.1,::1"

    # Media (docs/subsystems/media.md). Size limits per kind, in bytes.
    media_max_image_bytes: int = 16 * 1024 * 1024
    media_max_video_bytes: int = 16 * 1024 * 1024
    media_max_voice_bytes: int = 16 * 1024 * 1024
    media_max_audio_bytes: int = 16 * 1024 * 1024
    media_max_document_bytes: int = 100 * 1024 * 1024
    media_quota_bytes: int = 2 * 1024 * 1024 * 1024  # per user, over the media they uploaded; 0: no quota
    media_strip_exif: bool = True  # remove EXIF/XMP (GPS above all) from images
    media_max_image_pixels: int = 50_000_000  # larger images are refused rather than decoded
    media_retention: float = 30 * 24 * 3600  # media that no message refers to is deleted after this long
    media_upload_retention: float = 24 * 3600  # unfinished uploads are deleted after this long without progress
    media_sweep_interval: float = 3600.0
    # Where blobs live: "" (files under data_dir/media) or s3://bucket[/prefix] with the endpoint and keys below.
    media_store_url: str = ""
    media_s3_endpoint: str = ""
    media_s3_region: str = "us-east-1"
    media_s3_access_key: str = ""
    media_s3_secret_key: str = ""
    # Key for signed download URLs. Empty: a random key kept in data_dir/media-url.key (set it on every node
    # of a cluster, or URLs signed by one node fail on another).
    media_url_secret: str = ""
    media_url_max_ttl: float = 7 * 24 * 3600

    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hudhud.db').as_posix()}"

    @property
    def sms_path(self) -> Path:
        return Path(self.sms_file) if self.sms_file else self.data_dir / "sms-codes.jsonl"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f"HUDHUD_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.durability not in ("normal", "full"):
            raise ValueError("durability must be 'normal' or 'full'")
        if min(self.http_head_timeout, self.http_body_timeout, self.http_keepalive_timeout) <= 0:
            raise ValueError("the http_*_timeout settings are seconds above 0")
        if self.max_connections < 0 or self.max_connections_per_address < 0:
            raise ValueError("max_connections and max_connections_per_address are 0 (see docs) or more")
        if self.log_format not in ("text", "json"):
            raise ValueError("log_format must be 'text' or 'json'")
        if self.sms_backend not in ("console", "webhook", "file"):
            raise ValueError("sms_backend must be 'console', 'file' or 'webhook'")
        if self.sms_backend == "webhook" and not self.sms_webhook_url:
            raise ValueError("sms_backend=webhook needs sms_webhook_url")
        if not self.effective_database_url.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError("database_url must start with sqlite: or postgresql:")
        if not self.bus_url.startswith(("memory:", "redis:", "rediss:", "unix:")):
            raise ValueError("bus_url must be memory:// or redis://host:port/db")
        if self.bus_poll_interval <= 0:
            raise ValueError("bus_poll_interval is seconds above 0")
        if self.workers < 0:
            raise ValueError("workers is 0 (automatic) or more")
        if self.media_store_url and not self.media_store_url.startswith("s3://"):
            raise ValueError("media_store_url is empty (local files) or s3://bucket[/prefix]")
        if self.media_store_url and not self.media_s3_endpoint:
            raise ValueError("media_store_url=s3://… needs media_s3_endpoint")


def _coerce(type_name: object, raw: str) -> Any:
    t = str(type_name)
    if t == "int":
        return int(raw)
    if t == "float":
        return float(raw)
    if t == "Path":
        return Path(raw)
    if t == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
