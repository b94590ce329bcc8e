"""Publishes the Home Assistant view: discovery, availability, state and attributes, only what changed
(everything again after a reconnect or a Home Assistant restart).

Two things make what Home Assistant shows, and records, follow what a person would see:

* **Optimistic controls.** When Kraken answers a command ``done``, the control shows the command's value
  until Kraken's read-back changes (it then shows the read-back, whatever it says) or agrees. A control that
  Kraken never reports (the hot-water boost) keeps showing the last value asked for.
* **A held plan.** The planner runs on every pass and its costs move by pennies each time; the plan shown
  (the cost, the summaries, the reasons, the retained ``<base>/plan`` document) is replaced only when
  what it does changes: a device's actions or their times (:func:`homeassistant.plan_signature`), and
  at most every :data:`PLAN_MIN_HOLD` unless a device's action now changes (a block's end drifting across
  a five-minute mark is no news). Each local device's "Planned action now" keeps its reason while its
  action is the same and the plan shown is (the live reason quotes the current block's start and averages
  that move on every pass).

It also publishes the "Waiting for the clock" entity's own topic (the daemon calls :meth:`publish_clock`
from the clock gate, while nothing else is published), and once per run clears the retained attribute topics
earlier versions published (:class:`LegacyTopicSweeper`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.controls import Control
from kraken2mqtt.kraken.mutations import default_key_of
from kraken2mqtt.mqtt import homeassistant as ha
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.planner.model import DeviceAction, Plan

Publish = Callable[[str, str, bool], Awaitable[bool]]
_UNSET: Any = object()
#: entities whose attributes earlier versions published on ``<base>/<device>/<key>/attributes``
LEGACY_ATTRIBUTE_KEYS = ("plan_cost", "stale", "action")
#: the plan shown is replaced at most this often, unless a device's action now changes
PLAN_MIN_HOLD = timedelta(minutes=15)


class LegacyTopicSweeper:
    """Clears (empty retained payload) the attribute topics earlier versions published, once per device per
    run: the broker would keep them for ever and hand them to every new subscriber (Home Assistant's recorder
    included), though nothing reads them any more."""

    def __init__(self, base: str, keys: tuple[str, ...] = LEGACY_ATTRIBUTE_KEYS) -> None:
        self.base, self.keys = base, keys
        self._swept: set[str] = set()

    def pending(self, devices: Iterable[str]) -> list[str]:
        topics = (f"{self.base}/{device}/{key}/attributes" for device in sorted(devices) for key in self.keys)
        return [t for t in topics if t not in self._swept]

    def swept(self, topic: str) -> None:
        self._swept.add(topic)


@dataclass(slots=True)
class Optimistic:
    value: Any
    readback: Any = _UNSET  # Kraken's read-back when the command was done


class HaPublisher:
    def __init__(self, publish: Publish, topics: ha.Topics) -> None:
        self._publish = publish
        self.topics = topics
        self._last: dict[str, str] = {}  # topic → payload last published (retained)
        self._devices: set[str] = set()
        self._optimistic: dict[tuple[str, Control], Optimistic] = {}
        self._readbacks: dict[tuple[str, Control], Any] = {}
        self._plan: Plan | None = None
        self._plan_signature: tuple[Any, ...] | None = None
        self._plan_shown_at: datetime | None = None
        self._actions: dict[str, DeviceAction] = {}  # the action now shown per local device
        self._waiting_for: str | None = None  # the clock gate's reason, while it is closed
        self.sweeper = LegacyTopicSweeper(topics.base)

    def forget(self) -> None:
        """Publish everything on the next call (after a reconnect or HA's birth message)."""
        self._last.clear()

    def note_result(self, device: str, result: CommandResult) -> bool:
        """A command result: after ``done`` the control shows the command's value. True: the view changed
        (publish soon)."""
        if result.status != "done" or result.control is None or result.value is None:
            return False
        try:
            control = Control(result.control)
        except ValueError:
            return False
        if control in (Control.PLANNER_MODE, Control.REFRESH):
            return False  # shown from the daemon's own state
        key = (device, control)
        self._optimistic[key] = Optimistic(result.value, self._readbacks.get(key, _UNSET))
        return True

    def overrides(self, view: ha.View) -> dict[tuple[str, Control], Any]:
        """The optimistic values still shown, given Kraken's read-backs now."""
        self._readbacks = ha.readbacks(view, default_key_of)
        out: dict[tuple[str, Control], Any] = {}
        for key, opt in list(self._optimistic.items()):
            now = self._readbacks.get(key)
            if opt.readback is _UNSET:
                opt.readback = now
            if now == opt.value or now != opt.readback:
                del self._optimistic[key]  # Kraken agrees, or says something new: show the read-back
                continue
            out[key] = opt.value
        return out

    def shown_plan(self, view: ha.View) -> Plan | None:
        signature = ha.plan_signature(view.plan, view.now)
        if view.plan is None or self._plan is None or self._plan_shown_at is None:
            replaced = True
        elif signature == self._plan_signature:
            replaced = False
        else:
            replaced = view.now - self._plan_shown_at >= PLAN_MIN_HOLD or _now_blocks(
                signature
            ) != _now_blocks(self._plan_signature)
        if replaced:
            self._plan, self._plan_signature, self._plan_shown_at = view.plan, signature, view.now
            self._actions.clear()
        return self._plan

    def shown_actions(self, actions: Mapping[str, DeviceAction]) -> dict[str, DeviceAction]:
        """Each device's action now, keeping the one shown while its kind and setpoint are the same."""
        out: dict[str, DeviceAction] = {}
        for device, action in actions.items():
            held = self._actions.get(device)
            if held is None or _what(held) != _what(action):
                self._actions[device] = held = action
            out[device] = held
        return out

    async def publish_clock(self, waiting_for: str | None) -> int:
        """The "Waiting for the clock" entity: ON with the reason while the clock gate is closed."""
        self._waiting_for = waiting_for
        return await self._send([ha.clock_message(self.topics, waiting_for)])

    async def publish(self, view: ha.View) -> int:
        plan = self.shown_plan(view)
        actions = self.shown_actions(view.actions)
        view = replace(view, plan=plan, overrides=self.overrides(view), actions=actions)
        devices = ha.build(view, default_key_of)
        keys = {d.key for d in devices}
        out = [m for dev in devices for m in ha.messages(dev, self.topics)]
        out.append(ha.clock_message(self.topics, self._waiting_for))
        if plan is not None:
            out.append((self.topics.plan, json.dumps(ha.plan_document(plan, plan.now)), True))
        if self._devices:
            out += ha.removed(self._devices, keys, self.topics)
        sent = await self._send(out)
        self._devices = keys
        for topic in self.sweeper.pending(keys):
            if await self._publish(topic, "", True):
                self.sweeper.swept(topic)
        return sent

    async def _send(self, out: list[tuple[str, str, bool]]) -> int:
        """Publish what differs from what was last published; the number sent."""
        sent = 0
        for topic, payload, retain in out:
            if self._last.get(topic) == payload:
                continue
            if await self._publish(topic, payload, retain):
                self._last[topic] = payload
                sent += 1
        return sent


def _now_blocks(signature: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """Each device's current block (action, setpoint) of a plan signature."""
    return tuple((device, blocks[0][1:] if blocks else None) for device, blocks in signature or ())


def _what(action: DeviceAction) -> tuple[Any, ...]:
    setpoint = None if action.setpoint_c is None else round(action.setpoint_c * 2) / 2
    return (action.kind, setpoint)
