"""Device adapters: turn "what this device should do now" into the device's own MQTT API, and read the
device's reported state back. See :mod:`.base` for the contract and :mod:`.config` for the TOML options."""

from kraken2mqtt.devices.base import (
    Adapter,
    CommandError,
    LocalKind,
    Message,
    ReportedState,
    UnsupportedAction,
)
from kraken2mqtt.devices.config import DeviceConfig, DeviceList
from kraken2mqtt.devices.registry import adapter_names, build_adapter, register

__all__ = [
    "Adapter",
    "CommandError",
    "DeviceConfig",
    "DeviceList",
    "LocalKind",
    "Message",
    "ReportedState",
    "UnsupportedAction",
    "adapter_names",
    "build_adapter",
    "register",
]
