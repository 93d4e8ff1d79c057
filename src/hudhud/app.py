"""The composition root: the one place that knows the concrete classes and wires them together."""

from __future__ import annotations

import logging

from hudhud.bus import Bus, make_bus
from hudhud.bus.online import LocalOnline, OnlineRegistry, RedisOnline
from hudhud.bus.ratelimit import SharedCounts
from hudhud.bus.redis import RedisBus
from hudhud.clock import Clock, SystemClock
from hudhud.config import Settings
from hudhud.gateways.sms import ConsoleSms, FileSms, SmsGateway, WebhookSms
from hudhud.media.s3 import S3MediaStore
from hudhud.media.store import LocalMediaStore, MediaStore
from hudhud.metrics import Metrics
from hudhud.services.accounts import AccountService
from hudhud.services.broadcasts import BroadcastService
from hudhud.services.chatstate import ChatStateService
from hudhud.services.contacts import ContactService
from hudhud.services.erasure import AccountDeletion
from hudhud.services.groups import GroupService
from hudhud.services.linking import LinkService
from hudhud.services.media import MediaService
from hudhud.services.messaging import MessagingService
from hudhud.services.presence import PresenceService
from hudhud.services.safety import SafetyService
from hudhud.store import migrate
from hudhud.store.db import Database
from hudhud.web.admission import Admission

log = logging.getLogger("hudhud")


__all__ = ["Hudhud", "Metrics"]


class Hudhud:
    """Everything a running node holds: settings, store, bus, gateways and services."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sms: SmsGateway | None = None,
        bus: Bus | None = None,
        media_store: MediaStore | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(
            settings.effective_database_url, durability=settings.durability, batch_max=settings.batch_max
        )
        self.bus = bus or make_bus(settings.bus_url, poll_interval=settings.bus_poll_interval)
        self.sms = sms or self._make_sms(settings)
        self.accounts = AccountService(self.db, self.bus, self.sms, self.clock, settings)
        self.linking = LinkService(self.db, self.clock, settings)
        self.contacts = ContactService(self.db, self.clock, settings)
        shared = SharedCounts(self.bus.client) if isinstance(self.bus, RedisBus) else None
        self.safety = SafetyService(self.db, self.bus, self.clock, settings, shared)
        self.messaging = MessagingService(self.db, self.bus, self.clock, settings, self.safety)
        self.chat_state = ChatStateService(self.db, self.bus, self.clock)
        self.groups = GroupService(self.db, self.bus, self.clock, settings)
        self.broadcasts = BroadcastService(self.db, self.clock)
        online: OnlineRegistry = (
            RedisOnline(self.bus.client, self.bus.origin) if isinstance(self.bus, RedisBus) else LocalOnline()
        )
        self.presence = PresenceService(self.db, self.bus, self.clock, online)
        self.media = MediaService(self.db, self.clock, settings, media_store or self._make_media_store(settings))
        self.deletion = AccountDeletion(self.db, self.bus, self.clock, self.groups, self.media)
        self.metrics = Metrics(now=self.clock.now)
        self.admission = Admission(settings.hello_rate, settings.hello_burst)
        if isinstance(self.bus, RedisBus):
            self.bus.on_received = self.metrics.notice_received
        self.ready = False

    @staticmethod
    def _make_sms(settings: Settings) -> SmsGateway:
        if settings.sms_backend == "webhook":
            return WebhookSms(settings.sms_webhook_url)
        if settings.sms_backend == "file":
            log.warning("SMS codes are written to %s, not sent to phones (development only)", settings.sms_path)
            return FileSms(settings.sms_path)
        return ConsoleSms()

    @staticmethod
    def _make_media_store(settings: Settings) -> MediaStore:
        if settings.media_store_url:
            return S3MediaStore.from_url(
                settings.media_store_url,
                endpoint=settings.media_s3_endpoint,
                region=settings.media_s3_region,
                access_key=settings.media_s3_access_key,
                secret_key=settings.media_s3_secret_key,
            )
        return LocalMediaStore(settings.data_dir / "media" / "store")

    async def start(self, *, run_migrations: bool = True) -> None:
        if self.db.dialect == "sqlite":
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if run_migrations:
            await migrate.upgrade(self.settings.effective_database_url)
        await self.db.start()
        await self.bus.start()
        await self.presence.online.start()
        if self.safety.limiter.shared is not None:
            await self.safety.limiter.shared.start()
        await self.media.start()
        self.ready = True
        log.info(
            "hudhud ready: database %s, bus %s, durability %s",
            self.db.dialect,
            self.settings.bus_url.rsplit("@", 1)[-1],
            self.settings.durability,
        )

    async def close(self) -> None:
        self.ready = False
        await self.accounts.flush_touches()
        await self.media.close()
        await self.presence.online.close()
        if self.safety.limiter.shared is not None:
            await self.safety.limiter.shared.close()
        await self.bus.close()
        await self.db.close()
        await self.sms.close()
