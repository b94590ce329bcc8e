"""The device side of the reconcile loop: adapters fed from MQTT, commands published through it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import aiomqtt
import structlog

from kraken2mqtt.devices.base import Adapter, CommandError, Message, ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.devices.registry import build_adapter
from kraken2mqtt.planner.model import DeviceAction

log = structlog.get_logger(__name__)

Publish = Callable[[Message], Awaitable[bool]]
Subscribe = Callable[[str, Callable[[aiomqtt.Message], Awaitable[None]]], None]


class DeviceDriver:
    """Owns one adapter per configured device."""

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        *,
        publish: Publish,
        now: Callable[[], datetime],
        on_state: Callable[[str, ReportedState], None] | None = None,
        on_action: Callable[[str, DeviceAction], None] | None = None,
    ) -> None:
        self.devices = list(devices)
        self.adapters: dict[str, Adapter[Any]] = {d.id: build_adapter(d) for d in devices}
        self._publish = publish
        self._now = now
        self._on_state = on_state
        self._on_action = on_action
        self.last_actions: dict[str, DeviceAction] = {}

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
            state = adapter.on_message(message.topic.value, bytes(payload), self._now())
            if state is None:
                return
            if state.online and was_online is False:
                adapter.forget_sent()  # it may have lost what we told it: say it again
            if self._on_state is not None:
                self._on_state(device_id, state)

        return handle

    def reported(self) -> dict[str, ReportedState]:
        return {device_id: a.reported for device_id, a in self.adapters.items()}

    async def on_connected(self) -> None:
        """After a (re)connect: ask devices for their state and send the current actions again."""
        for adapter in self.adapters.values():
            for msg in adapter.startup_messages():
                await self._publish(msg)
            adapter.forget_sent()

    async def apply(self, actions: Mapping[str, DeviceAction]) -> int:
        """Publish what each device needs to reach its action; returns the number of messages sent."""
        now = self._now()
        sent = 0
        for device_id, action in actions.items():
            adapter = self.adapters.get(device_id)
            if adapter is None:
                continue
            try:
                messages = adapter.commands(action, adapter.reported, now)
            except CommandError as exc:
                if self.last_actions.get(device_id) != action:
                    log.warning(
                        "device.action_unsupported",
                        device=device_id,
                        action=action.kind.value,
                        error=str(exc),
                    )
                self.last_actions[device_id] = action
                continue
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
            delivered = [m for m in messages if await self._publish(m)]
            adapter.record_sent(delivered, now)
            sent += len(delivered)
        return sent


def _same(before: DeviceAction | None, after: DeviceAction) -> bool:
    """The same action for people: kind, power and setpoint (a reason's wording may move on)."""
    return (
        before is not None
        and before.kind == after.kind
        and round(before.power_kw, 1) == round(after.power_kw, 1)
        and before.setpoint_c == after.setpoint_c
    )
