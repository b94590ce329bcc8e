"""Adapters registered by name; :func:`build_adapter` makes one from a device's configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kraken2mqtt.devices.base import Adapter
from kraken2mqtt.devices.config import DeviceConfigBase

AdapterType = type[Adapter[Any]]
_REGISTRY: dict[str, AdapterType] = {}
A = TypeVar("A", bound=AdapterType)


def register(name: str) -> Callable[[A], A]:
    """Class decorator: make an adapter available under ``name`` (the ``adapter`` key in the TOML file)."""

    def add(cls: A) -> A:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"adapter {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return add


def _register_builtins() -> None:
    from kraken2mqtt.devices.evcc import EvccAdapter
    from kraken2mqtt.devices.givtcp import GivTcpAdapter
    from kraken2mqtt.devices.goe import GoEAdapter
    from kraken2mqtt.devices.heat_pump import EbusdAdapter, EspAlthermaAdapter
    from kraken2mqtt.devices.openevse import OpenEVSEAdapter
    from kraken2mqtt.devices.relay import ShellyAdapter, TasmotaAdapter
    from kraken2mqtt.devices.template import TemplateAdapter

    for cls in (
        OpenEVSEAdapter,
        GoEAdapter,
        EvccAdapter,
        GivTcpAdapter,
        TasmotaAdapter,
        ShellyAdapter,
        EbusdAdapter,
        EspAlthermaAdapter,
        TemplateAdapter,
    ):
        register(cls.name)(cls)


def adapter_names() -> list[str]:
    return sorted(_REGISTRY)


def adapter_class(name: str) -> AdapterType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no adapter named {name!r}; known: {', '.join(adapter_names())}") from None


def build_adapter(config: DeviceConfigBase) -> Adapter[Any]:
    """The adapter for one ``[[devices]]`` entry (already validated by :mod:`.config`)."""
    cls = adapter_class(config.adapter)
    if config.kind not in cls.kinds:
        raise ValueError(f"adapter {config.adapter!r} cannot control a {config.kind.value!r} device")
    return cls(config)


_register_builtins()
