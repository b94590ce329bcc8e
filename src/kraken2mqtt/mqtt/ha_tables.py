"""Entity descriptions: each device kind's Home Assistant entities declared as data, and the value
conversions they share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from kraken2mqtt.controls import Control
from kraken2mqtt.mqtt.ha_discovery import Entity

# ------------------------------------------------------------------------- entity descriptions
#
# Each device kind's entities are declared as data, the way Home Assistant's own integrations describe
# theirs (``SensorEntityDescription``): key, platform, name, the function that reads the value from the
# device's context, device class, unit, state class, category, the control it sends. The builders are
# loops over these tables. An :class:`EntityFamily` stands for entities that come and go with the data
# (one per polled stream, one per heat-pump zone).

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class EntityDescription(Generic[C]):
    key: str
    platform: str
    name: str
    value: Callable[[C], Any] | None = None
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    category: str | None = None  # "diagnostic" | "config"
    icon: str | None = None
    control: Control | None = None
    #: other discovery options (enum options, precision, climate modes...), or a function of the context
    more: Mapping[str, Any] | Callable[[C], Mapping[str, Any]] = field(default_factory=dict)
    attributes: Callable[[C], Mapping[str, Any] | None] | None = None
    enabled: bool | Callable[[C], bool] = True
    values: Callable[[C], Mapping[str, Any]] | None = None
    commands: Mapping[str, Control] = field(default_factory=dict)
    #: whether the device has this entity (None: always)
    exists: Callable[[C], bool] | None = None
    #: its own state topic under the device (``<base>/<device>/<topic>``), published apart from the state
    topic: str | None = None

    def options(self, ctx: C) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for option, value in (
            ("device_class", self.device_class),
            ("unit_of_measurement", self.unit),
            ("state_class", self.state_class),
            ("entity_category", self.category),
            ("icon", self.icon),
        ):
            if value is not None:
                out[option] = value
        out.update(self.more(ctx) if callable(self.more) else self.more)
        return out

    def entities(self, ctx: C) -> list[Entity]:
        if self.exists is not None and not self.exists(ctx):
            return []
        enabled = self.enabled(ctx) if callable(self.enabled) else self.enabled
        return [
            Entity(
                self.key,
                self.platform,
                self.name,
                self.value(ctx) if self.value is not None else None,
                control=self.control,
                options=self.options(ctx),
                attributes=self.attributes(ctx) if self.attributes is not None else None,
                enabled=enabled,
                values=self.values(ctx) if self.values is not None else {},
                commands=self.commands,
                topic=self.topic,
            )
        ]


@dataclass(frozen=True, slots=True)
class EntityFamily(Generic[C]):
    """Entities that come and go with the data: a function of the context."""

    make: Callable[[C], Iterable[Entity]]

    def entities(self, ctx: C) -> list[Entity]:
        return list(self.make(ctx))


Table = tuple[EntityDescription[C] | EntityFamily[C], ...]


def from_table(table: Table[C], ctx: C) -> list[Entity]:
    return [ent for desc in table for ent in desc.entities(ctx)]


DIAGNOSTIC = "diagnostic"
CONFIG = "config"
MEASUREMENT = "measurement"
TIMESTAMP = "timestamp"


def watts_sensor(
    key: str, name: str, value: Callable[[C], int | None], exists: Callable[[C], bool] | None = None
) -> EntityDescription[C]:
    return EntityDescription(key, "sensor", name, value, "power", "W", MEASUREMENT, exists=exists)


def to_float(value: Any) -> float | None:
    """A number's state as a float, whether it is Kraken's read-back or a command's (integer) value."""
    return None if value is None else float(value)


def num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def watts(kw: Decimal | None) -> int | None:
    return round(float(kw) * 1000) if kw is not None else None
