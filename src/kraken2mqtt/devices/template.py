"""Generic adapter: topics and payloads come from ``str.format`` templates in the configuration.

Template fields (nothing else is accepted, see :func:`kraken2mqtt.devices.config._check_template`):
``{device_id}``, ``{action}`` (the action kind, e.g. ``charge``), ``{power_w}`` (int), ``{power_kw}``
(float), ``{amps}`` (per phase, from voltage/phases/min/max current), ``{setpoint_c}`` (float; an action
without a setpoint cannot render a template that uses it). Format specs work: ``{power_kw:.1f}``.

Resending: the device state is not compared (the adapter does not know what the payload means), so
``resend = "refresh"`` repeats an identical message every ``refresh_seconds`` and ``"on_change"`` never
does; ``keepalive_seconds`` repeats it at that interval whatever happens.

Persistent writes: unknown to the adapter (the person's templates decide); none is counted against the
flash budget. Handing back sends the ``follow_kraken`` templates once, if configured, else nothing.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.devices.base import (
    Adapter,
    CommandError,
    Ignored,
    LocalKind,
    ReportedState,
    Resend,
    Write,
    parse_bool,
    parse_float,
    parse_json,
    topic_matches,
)
from kraken2mqtt.devices.config import StateMapping, TemplateConfig
from kraken2mqtt.planner.model import DeviceAction

_BOOL_FIELDS = frozenset({"plugged_in", "charging", "relay_on", "online"})


class TemplateAdapter(Adapter[TemplateConfig]):
    name = "template"
    kinds = frozenset(LocalKind)

    def subscriptions(self) -> list[str]:
        return list(dict.fromkeys(m.topic for m in self.config.state))

    def _value(self, mapping: StateMapping, text: str) -> Any:
        if mapping.json_path is None:
            raw: Any = text
        else:
            raw = parse_json(text)
            for part in mapping.json_path.split("."):
                if isinstance(raw, dict) and part in raw:
                    raw = raw[part]
                elif isinstance(raw, list) and part.isdigit() and int(part) < len(raw):
                    raw = raw[int(part)]
                else:
                    raise Ignored(f"{mapping.json_path}: not in the payload")
        if mapping.field in _BOOL_FIELDS:
            if isinstance(raw, bool):
                return raw
            return parse_bool(
                str(raw),
                frozenset(v.lower() for v in mapping.true_values),
                frozenset(v.lower() for v in mapping.false_values),
            )
        if isinstance(raw, bool):
            raise Ignored(f"{mapping.field}: expected a number")
        number = float(raw) if isinstance(raw, int | float) else parse_float(str(raw))
        if not math.isfinite(number):
            raise Ignored(f"{mapping.field}: not a finite number")
        return number * mapping.scale

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        for mapping in self.config.state:
            if topic_matches(mapping.topic, topic):
                fields[mapping.field] = self._value(mapping, text)
        return fields

    def render_values(self, action: DeviceAction) -> dict[str, Any]:
        cfg = self.config
        values: dict[str, Any] = {
            "device_id": cfg.id,
            "action": action.kind.value,
            "power_w": round(action.power_kw * 1000.0),
            "power_kw": action.power_kw,
            "amps": cfg.amps(action.power_kw),
        }
        if action.setpoint_c is not None:
            values["setpoint_c"] = action.setpoint_c
        return values

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        cfg = self.config
        templates = cfg.commands.get(action.kind)
        if templates is None:
            raise self.unsupported(f"template device {cfg.id!r}", action)
        values = self.render_values(action)
        keepalive = timedelta(seconds=cfg.keepalive_seconds) if cfg.keepalive_seconds is not None else None
        resend = Resend(cfg.resend)
        writes = []
        for i, t in enumerate(templates):
            try:
                topic = t.topic.format_map(values)
                payload = t.payload.format_map(values)
            except KeyError as exc:
                raise CommandError(f"template device {cfg.id!r}: {action.kind.value!r} has no {exc}") from exc
            except ValueError as exc:  # a format spec that does not fit the value
                raise CommandError(f"template device {cfg.id!r}: {exc}") from exc
            if not topic or any(c in topic for c in "+#\x00"):
                raise CommandError(f"template device {cfg.id!r}: rendered topic {topic!r} is not publishable")
            message = self.msg(topic, payload, retain=t.retain, slot=f"{t.topic}#{i}", qos=t.qos)
            writes.append(Write(message, None, resend, keepalive=keepalive))
        return writes
