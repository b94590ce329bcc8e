"""The device side of the reconcile loop: adapters fed from MQTT, commands published through it.

The rules that keep devices in people's hands live in :mod:`.guard`; this module applies them: an unplanned
device gets nothing, a hand-back is one release, a person's change is held, actions are stabilised,
persistent writes are budgeted, device errors reach a log line, a metric and the device's state
(:attr:`ReportedState.result`), and :meth:`DeviceDriver.release_all` hands every device back on stop."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiomqtt
import structlog

from kraken2mqtt.devices.base import Adapter, CommandError, Message, ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.devices.guard import (
    RELEASE_KINDS,
    DeviceControl,
    DeviceDay,
    expect,
    forget_applied,
    stabilise,
    watch_person,
)
from kraken2mqtt.devices.registry import build_adapter
from kraken2mqtt.planner.model import DeviceAction

log = structlog.get_logger(__name__)

Publish = Callable[[Message], Awaitable[bool]]
Subscribe = Callable[[str, Callable[[aiomqtt.Message], Awaitable[None]]], None]


class DeviceMetrics(Protocol):
    def device_message(self, device: str, kind: str, count: int = 1, persistent: int = 0) -> None: ...
    def device_error(self, device: str) -> None: ...
    def device_manual_override(self, device: str) -> None: ...


class DayStore(Protocol):
    """Where each device's :class:`~kraken2mqtt.devices.guard.DeviceDay` is kept across restarts."""

    def load_days(self) -> Mapping[str, DeviceDay]: ...
    def save_day(self, device: str, record: DeviceDay) -> None: ...


class DeviceDriver:
    """Owns one adapter per configured device, and what the driver knows about each (:mod:`.guard`)."""

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        *,
        publish: Publish,
        now: Callable[[], datetime],
        on_state: Callable[[str, ReportedState], None] | None = None,
        on_action: Callable[[str, DeviceAction], None] | None = None,
        metrics: DeviceMetrics | None = None,
        timezone: str = "Europe/London",
        save_status: Callable[[str], None] | None = None,
        days: DayStore | None = None,
    ) -> None:
        self.devices = list(devices)
        self.configs: dict[str, DeviceConfig] = {d.id: d for d in devices}
        self.adapters: dict[str, Adapter[Any]] = {d.id: build_adapter(d) for d in devices}
        self.control: dict[str, DeviceControl] = {d.id: DeviceControl() for d in devices}
        self._publish = publish
        self._now = now
        self._on_state = on_state
        self._on_action = on_action
        self._metrics = metrics
        self._tz = ZoneInfo(timezone)
        self._save_status = save_status
        self._saved_status: str | None = None
        self.last_actions: dict[str, DeviceAction] = {}
        #: the action now each device was last given (``reconcile.wanted_actions``, holds applied)
        self.actions_now: dict[str, DeviceAction] = {}
        self._days = days
        self._saved_days: dict[str, DeviceDay] = {}
        if days is not None:
            try:
                saved = days.load_days()
            except Exception as exc:  # unreadable counts cost the budget's memory, not the daemon
                log.warning("device.counts_unread", error=str(exc)[:200])
                saved = {}
            for device_id, record in saved.items():
                if device_id in self.control:
                    self.control[device_id].restore(record)
                    self._saved_days[device_id] = record

    def install(self, subscribe: Subscribe) -> None:
        for device_id, adapter in self.adapters.items():
            for topic_filter in adapter.subscriptions():
                subscribe(topic_filter, self._handler(device_id, adapter))

    def _handler(self, device_id: str, adapter: Adapter[Any]) -> Callable[[aiomqtt.Message], Awaitable[None]]:
        async def handle(message: aiomqtt.Message) -> None:
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            if isinstance(message.payload, str):
                payload = message.payload.encode()
            was_online = adapter.reported.online
            error_at = adapter.error_at
            now = self._now()
            state = adapter.on_message(message.topic.value, bytes(payload), now)
            if adapter.error_at is not None and adapter.error_at != error_at and adapter.error:
                self._device_error(device_id, adapter.error)
            if state is None:
                return
            if state.online and was_online is False:
                adapter.forget_sent()  # it may have lost what we told it: say it again
            self._watch(device_id, now)
            if self._on_state is not None:
                self._on_state(device_id, state)

        return handle

    def reported(self) -> dict[str, ReportedState]:
        """Each device's reported state, with who is in charge and the last result (for people)."""
        now = self._now()
        return {
            device_id: replace(
                a.reported, control=self.control_text(device_id, now), result=self._result(device_id)
            )
            for device_id, a in self.adapters.items()
        }

    def control_text(self, device_id: str, now: datetime) -> str:
        ctl = self.control[device_id]
        if ctl.hold_until is not None and now < ctl.hold_until:
            return f"overridden by hand until {ctl.hold_until.astimezone(self._tz):%H:%M}"
        return "planned" if ctl.controlled else "released: the device's own logic"

    def _result(self, device_id: str) -> str | None:
        return self.control[device_id].result

    def counts(self, device_id: str) -> dict[str, int]:
        """Messages sent to the device today, by kind (change, keepalive, release)."""
        ctl = self.control[device_id]
        ctl.roll(self._now())
        return {k: ctl.counts.get(k, 0) for k in ("change", "keepalive", "release")}

    def status(self) -> list[dict[str, Any]]:
        """Per device, for ``kraken2mqtt status``: the action now (and why), who is in charge, messages sent
        today by kind, persistent writes today, the last result."""
        now = self._now()
        out = []
        for device_id in self.adapters:
            ctl = self.control[device_id]
            action = self.actions_now.get(device_id)
            out.append(
                {
                    "device": device_id,
                    "action": action.kind.value if action is not None else None,
                    "reason": action.reason if action is not None else None,
                    "day": now.date().isoformat(),
                    "control": self.control_text(device_id, now),
                    "sent_today": self.counts(device_id),
                    "persistent_today": ctl.persistent_today,
                    "result": ctl.result,
                }
            )
        return out

    def _publish_status(self) -> None:
        if self._save_status is None:
            return
        text = json.dumps(self.status(), separators=(",", ":"))
        if text != self._saved_status:
            self._saved_status = text
            try:
                self._save_status(text)
            except Exception:  # a status file that cannot be written costs the status line only
                log.exception("device.status_unsaved")

    async def on_connected(self) -> None:
        """After a (re)connect: ask devices for their state and send the current actions again."""
        for adapter in self.adapters.values():
            for msg in adapter.startup_messages():
                await self._publish(msg)
            adapter.forget_sent()

    # ---- people, errors

    def _watch(self, device_id: str, now: datetime) -> None:
        adapter, ctl, cfg = self.adapters[device_id], self.control[device_id], self.configs[device_id]
        if watch_person(cfg, ctl, adapter.control_value(adapter.reported), now):
            assert ctl.hold_until is not None
            until = f"{ctl.hold_until.astimezone(self._tz):%H:%M}"
            ctl.result = f"changed by hand: left alone until {until}"
            log.warning("device.manual_override", device=device_id, until=until)
            if self._metrics is not None:
                self._metrics.device_manual_override(device_id)

    def _device_error(self, device_id: str, error: str) -> None:
        ctl = self.control[device_id]
        ctl.errors += 1
        ctl.result = f"error: {error}"
        log.warning("device.error", device=device_id, error=error)
        if self._metrics is not None:
            self._metrics.device_error(device_id)

    # ---- applying actions

    async def apply(self, actions: Mapping[str, DeviceAction], *, import_p: float | None = None) -> int:
        """Publish what each device needs to reach its action; returns the number of messages sent.
        ``import_p``: the import price now (a battery may leave its dwell when the price changes sign)."""
        now = self._now()
        sent = 0
        for device_id, action in actions.items():
            if device_id in self.adapters:
                self.actions_now[device_id] = action
                sent += await self._apply_one(device_id, action, now, import_p)
        self._publish_status()
        return sent

    async def _apply_one(
        self, device_id: str, action: DeviceAction, now: datetime, import_p: float | None
    ) -> int:
        adapter, ctl, cfg = self.adapters[device_id], self.control[device_id], self.configs[device_id]
        ctl.roll(now)
        if (error := adapter.check(now)) is not None:
            self._device_error(device_id, error)
        if not ctl.checked_hold:
            ctl.checked_hold = True
            ctl.controlled = adapter.holds(adapter.reported)  # a control of ours left from a crash
        self._watch(device_id, now)
        if ctl.hold_until is not None:
            if now < ctl.hold_until:
                self._note_action(device_id, action)
                return 0
            ctl.hold_until = None
        if action.kind in RELEASE_KINDS:
            self._note_action(device_id, action)
            if not ctl.controlled:
                return 0  # leave alone means leave alone
            return await self._release(device_id, now)
        try:
            wanted = stabilise(cfg, ctl, adapter.quantise(action), now, import_p)
            if not ctl.controlled:
                adapter.take_over(adapter.reported)
            messages = adapter.commands(wanted, adapter.reported, now)
        except CommandError as exc:
            if self.last_actions.get(device_id) != action:
                log.warning(
                    "device.action_unsupported", device=device_id, action=action.kind.value, error=str(exc)
                )
                ctl.result = f"error: {exc}"
            self.last_actions[device_id] = action
            return 0
        ctl.controlled = True
        self._note_action(device_id, wanted)
        expect(ctl, adapter.wanted_value(wanted), now)
        return await self._send(device_id, messages, now)

    def _note_action(self, device_id: str, action: DeviceAction) -> None:
        if not _same(self.last_actions.get(device_id), action):
            if self._on_action is not None:
                self._on_action(device_id, action)
            log.info(
                "device.action",
                device=device_id,
                action=action.kind.value,
                power_kw=round(action.power_kw, 2),
                reason=action.reason,
            )
        self.last_actions[device_id] = action

    async def _send(self, device_id: str, messages: list[Message], now: datetime, kind: str = "") -> int:
        adapter, ctl, cfg = self.adapters[device_id], self.control[device_id], self.configs[device_id]
        budget = cfg.max_persistent_writes_per_day
        out: list[Message] = []
        for m in messages:
            if m.persistent and kind != "release" and ctl.persistent_today >= budget:
                if not ctl.budget_hit:
                    ctl.budget_hit = True
                    ctl.result = (
                        f"flash budget reached: {budget} persistent writes today; waiting for tomorrow"
                    )
                    log.warning("device.flash_budget", device=device_id, writes=budget)
                continue
            out.append(m)
        delivered = []
        for m in out:
            if await self._publish(m):
                delivered.append(m)
        by_kind: dict[str, int] = {}
        persistent = 0
        for m in delivered:
            last = adapter.last_sent(m.slot_name)
            k = kind or ("keepalive" if last is not None and last.key == m.value_key else "change")
            by_kind[k] = by_kind.get(k, 0) + 1
            if m.persistent:
                persistent += 1
        adapter.record_sent(delivered, now)
        ctl.persistent_today += persistent
        for k, n in by_kind.items():
            ctl.counts[k] += n
            if self._metrics is not None:
                self._metrics.device_message(device_id, k, n)
        if persistent and self._metrics is not None:
            self._metrics.device_message(device_id, "change", 0, persistent)
        self._save_day(device_id)
        return len(delivered)

    def _save_day(self, device_id: str) -> None:
        """Keep today's counts (the flash budget) across a restart; written only when they changed."""
        record = self.control[device_id].today()
        if self._days is None or record is None or self._saved_days.get(device_id) == record:
            return
        try:
            self._days.save_day(device_id, record)
        except Exception as exc:  # the disk must not stop a device command
            log.warning("device.counts_unsaved", device=device_id, error=str(exc)[:200])
            return
        self._saved_days[device_id] = record

    async def _release(self, device_id: str, now: datetime) -> int:
        adapter, ctl = self.adapters[device_id], self.control[device_id]
        messages = adapter.release(adapter.reported, now)
        sent = await self._send(device_id, messages, now, kind="release")
        if sent == len(messages):
            ctl.controlled = False
            forget_applied(ctl, now)
            if messages:
                log.info("device.released", device=device_id, messages=len(messages))
        return sent

    async def release_all(self) -> int:
        """Hand every device we control back to its own logic (on stop, before ``offline``)."""
        now = self._now()
        sent = 0
        for device_id, ctl in self.control.items():
            if ctl.controlled or (
                not ctl.checked_hold and self.adapters[device_id].holds(self.adapters[device_id].reported)
            ):
                ctl.controlled = True
                sent += await self._release(device_id, now)
        self._publish_status()
        return sent


def _same(before: DeviceAction | None, after: DeviceAction) -> bool:
    """The same action for people: kind, power and setpoint (a reason's wording may move on)."""
    return (
        before is not None
        and before.kind == after.kind
        and round(before.power_kw, 1) == round(after.power_kw, 1)
        and before.setpoint_c == after.setpoint_c
    )
