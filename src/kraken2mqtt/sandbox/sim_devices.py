"""Simulated local devices that speak the MQTT APIs our adapters use, acting on the :class:`SimWorld`.

Each device is pure: :meth:`~SimMqttDevice.handle` turns one received command into world changes and the
messages the real device would publish; :meth:`~SimMqttDevice.tick` gives its periodic state. The thin
:func:`run_devices` task connects them to a broker with aiomqtt. State is published retained (as with the
devices' "retain" options on), so a daemon that subscribes later sees it at once.

=================  ==================================  ==============================================
device             commands (subscribed)               state (published)
=================  ==================================  ==============================================
SimOpenEVSE        ``<base>/claim/set`` JSON | release  ``<base>/{amp (mA), voltage, power (W), pilot,
                                                       state, status, vehicle, battery_level}``,
                                                       ``<base>/claim`` echo, ``openevse/announce/<id>``
SimGivTcp          ``<root>/control/<SN>/<command>``   ``<root>/<SN>/Power/Power/{SOC, Battery_Power,
                   forceCharge/forceExport/             Charge_Power, Discharge_Power, Load_Power,
                   tempPauseDischarge N|Cancel,         Grid_Power, PV_Power}``,
                   setChargeRate/setDischargeRate W,    ``<root>/<SN>/Control/{Force_Charge, Force_Export,
                                                        Temp_Pause_Discharge}`` Running|Normal
                   setBatteryMode Eco
SimTasmota         ``cmnd/<topic>/POWER[1]`` ON|OFF|    ``stat/<topic>/RESULT`` {"POWER":..},
                   TOGGLE|1|0|"" (query),               ``stat/<topic>/POWER``, ``tele/<topic>/STATE``,
                   ``cmnd/<topic>/PulseTime1``          ``tele/<topic>/SENSOR`` {"ENERGY":{"Power":W}},
                                                       ``tele/<topic>/LWT`` Online
SimEbusd           ``<root>/<circuit>/<setpoint>/set``  ``<root>/<circuit>/<setpoint>``,
                   ``…/get`` (also for the room temp)   ``<root>/<circuit>/<temperature>``,
                                                       ``<root>/global/running`` true
=================  ==================================  ==============================================
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import aiomqtt

from kraken2mqtt.clock import Clock
from kraken2mqtt.sandbox.physics import BatteryMode
from kraken2mqtt.sandbox.world import SimWorld
from kraken2mqtt.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Out(NamedTuple):
    topic: str
    payload: str
    retain: bool = True


class SimMqttDevice(ABC):
    """A simulated device: pure command handling and state, no I/O."""

    name: str = "device"

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self._last: dict[str, str] = {}

    @abstractmethod
    def subscriptions(self) -> list[str]: ...

    @abstractmethod
    def handle(self, topic: str, payload: str) -> list[Out]:
        """Apply one received message; the messages the device publishes in answer."""

    @abstractmethod
    def state(self) -> list[Out]:
        """The device's full current state."""

    def announce(self) -> list[Out]:
        """Published once on connect (LWT/online markers, empty echoes)."""
        return []

    @abstractmethod
    def config_entry(self) -> dict[str, Any]:
        """The daemon's ``[[devices]]`` entry that controls this device with our adapter."""

    def tick(self, now: datetime, *, full: bool = False) -> list[Out]:
        """State messages whose payload changed since the last tick (all of them with ``full``)."""
        out = [m for m in self.state() if full or self._last.get(m.topic) != m.payload]
        for m in out:
            self._last[m.topic] = m.payload
        return out


# -- OpenEVSE ------------------------------------------------------------------------------------------------
class SimOpenEVSE(SimMqttDevice):
    """OpenEVSE WiFi (ESP32) with the sandbox EV on its cable. An MQTT claim (priority 500) of
    ``"state":"active"`` forces charging at ``charge_current`` A, ``"disabled"`` blocks it; without a claim
    the car charges when Kraken dispatches it."""

    name = "openevse"

    def __init__(
        self,
        world: SimWorld,
        base: str = "openevse-sim",
        *,
        announce_id: str = "sim1",
        voltage: float = 230.0,
        phases: int = 1,
        max_current_a: int = 32,
    ) -> None:
        super().__init__(world)
        self.base, self.announce_id = base, announce_id
        self.voltage, self.phases, self.max_current_a = voltage, phases, max_current_a
        self.claim: dict[str, Any] = {}

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/claim/set"]

    def config_entry(self) -> dict[str, Any]:
        return {
            "id": "sandbox_ev",
            "name": "Sandbox EV charger",
            "kind": "ev",
            "adapter": "openevse",
            "topic": self.base,
            "announce_id": self.announce_id,
            "voltage": self.voltage,
            "phases": self.phases,
            "max_current_a": self.max_current_a,
        }

    def announce(self) -> list[Out]:
        return [
            Out(
                f"openevse/announce/{self.announce_id}", json.dumps({"state": "connected", "name": self.base})
            ),
            self._claim_echo(),
        ]

    def _claim_echo(self) -> Out:
        body = dict(self.claim) if self.claim else {"state": "null"}
        return Out(f"{self.base}/claim", json.dumps(body, separators=(",", ":")))

    def handle(self, topic: str, payload: str) -> list[Out]:
        if topic != f"{self.base}/claim/set":
            return []
        text = payload.strip()
        if text == "release":
            self.claim = {}
        else:
            try:
                update = json.loads(text)
            except ValueError:
                return []
            if not isinstance(update, dict):
                return []
            for key, value in update.items():
                if key not in ("state", "charge_current", "max_current", "auto_release"):
                    continue
                if value == "clear":
                    self.claim.pop(key, None)
                else:
                    self.claim[key] = value
        self.world.set_ev_charger(self.claim_limit_kw(), source="OpenEVSE claim")
        return [self._claim_echo(), *self.tick(self.world.now)]

    def reboot(self) -> list[Out]:
        """The charger restarts: claims live in RAM only (evse_man.cpp), so ours is gone."""
        self.claim = {}
        self.world.set_ev_charger(None, source="OpenEVSE reboot")
        return [self._claim_echo()]

    def tick(self, now: datetime, *, full: bool = False) -> list[Out]:
        extra: list[Out] = []
        # auto_release is acted on only at the end of a charging session (evse_man.cpp 369-373, 488-499)
        if self.claim.get("auto_release") is True and not self.world.ev.plugged_in:
            self.claim = {}
            self.world.set_ev_charger(None, source="OpenEVSE auto_release")
            extra = [self._claim_echo()]
        return extra + super().tick(now, full=full)

    def claim_limit_kw(self) -> float | None:
        state = self.claim.get("state")
        if state == "disabled":
            return 0.0
        if state != "active":
            return None
        amps = float(self.claim.get("charge_current") or self.max_current_a)
        amps = min(amps, float(self.claim.get("max_current") or self.max_current_a), self.max_current_a)
        return max(0.0, amps) * self.voltage * self.phases / 1000

    def state(self) -> list[Out]:
        ev = self.world.ev
        kw = self.world.ev_power_kw()
        amps = kw * 1000 / (self.voltage * self.phases) if kw > 0 else 0.0
        plugged = ev.plugged_in
        blocked = self.claim.get("state") == "disabled"
        code = 3 if kw > 0 else (254 if blocked else 2 if plugged else 1)
        b = self.base
        return [
            Out(f"{b}/amp", str(round(amps * 1000))),
            Out(f"{b}/voltage", f"{self.voltage:g}"),
            Out(f"{b}/power", str(round(kw * 1000))),
            Out(f"{b}/pilot", str(int(self.claim.get("charge_current") or self.max_current_a))),
            Out(f"{b}/state", str(code)),
            Out(f"{b}/status", "disabled" if blocked else "active"),
            Out(f"{b}/vehicle", "1" if plugged else "0"),
            Out(f"{b}/battery_level", str(round(ev.soc_pct))),
        ]


# -- GivTCP --------------------------------------------------------------------------------------------------
_RUNS: dict[str, BatteryMode] = {
    "forceCharge": "charge",
    "forceExport": "export",
    "tempPauseDischarge": "pause",
}
_ENTITIES: dict[BatteryMode, str] = {
    "charge": "Force_Charge",
    "export": "Force_Export",
    "pause": "Temp_Pause_Discharge",
}


class SimGivTcp(SimMqttDevice):
    """GivTCP in front of a GivEnergy inverter driving the world's battery, with GivTCP's own rate handling
    (britkat1980/giv_tcp @b6a3ba8, ``write.py``/``read.py``; facts doc, "Re-checked against the device
    sources"):

    * ``forceCharge``/``forceExport`` set the charge/discharge rate register to its maximum and schedule a
      revert to the rate in GivTCP's cache *at force start* (``write.py`` 1145, 1170, 1015); ``forceCharge``
      is ignored while one runs (1180). ``setChargeRate``/``setDischargeRate`` write the register (kept by
      the inverter: :attr:`charge_rate_w` / :attr:`discharge_rate_w`) and the cache (555).
    * ``tempPauseDischarge`` sets the discharge rate to 0 and reverts to the cached rate, with **no guard**
      (1215-1240); register reads refresh the cache to the live value (``read.py`` 659-660), so a second pause
      during a pause reverts to 0 W for good.
    * Timed runs revert to Eco on their own (the battery model's ``mode_until``)."""

    name = "givtcp"

    def __init__(self, world: SimWorld, serial: str = "SA0000SIM1", root: str = "GivEnergy") -> None:
        super().__init__(world)
        self.serial, self.root = serial, root
        b = world.battery
        self.charge_rate_w = round(b.charge_rate_kw * 1000)  # the inverter's registers
        self.discharge_rate_w = round(b.discharge_rate_kw * 1000)
        self.cache = {"charge": self.charge_rate_w, "discharge": self.discharge_rate_w}  # GivTCP's regcache
        self.reverts: list[tuple[datetime, str, int]] = []  # scheduled rate reverts (at, register, W)
        self.register_writes = 0  # what GivTCP's log_num_writes would count (rate registers)

    def subscriptions(self) -> list[str]:
        return [f"{self.root}/control/{self.serial}/#"]

    @property
    def pv_topic(self) -> str:
        """Where the panels' output is published (W), for the daemon's measured sun."""
        return f"{self.root}/{self.serial}/Power/Power/PV_Power"

    def config_entry(self) -> dict[str, Any]:
        return {
            "id": "sandbox_battery",
            "name": "Sandbox battery",
            "kind": "battery",
            "adapter": "givtcp",
            "serial": self.serial,
            "topic": self.root,
        }

    def _set_rate(self, register: str, watts: int) -> None:
        b = self.world.battery
        limit = round((b.max_charge_kw if register == "charge" else b.max_discharge_kw) * 1000)
        watts = max(0, min(limit, watts))
        self.register_writes += 1
        if register == "charge":
            self.charge_rate_w = watts
            self.world.set_battery_rate(charge_kw=watts / 1000)
        else:
            self.discharge_rate_w = watts
            self.world.set_battery_rate(discharge_kw=watts / 1000)
        self.cache[register] = watts

    def _start(self, command: str, minutes: float) -> None:
        w, battery = self.world, self.world.battery
        mode = _RUNS[command]
        if command == "forceCharge" and battery.mode == "charge":
            return  # write.py 1180: already running
        until = w.now + timedelta(minutes=minutes)
        register = "charge" if command == "forceCharge" else "discharge"
        revert = self.cache[register]
        if command == "tempPauseDischarge":
            self._set_rate("discharge", 0)
        else:
            b = self.world.battery
            top = b.max_charge_kw if register == "charge" else b.max_discharge_kw
            self._set_rate(register, round(top * 1000))
        self.reverts.append((until, register, revert))
        w.command_battery(mode, until=until)

    def handle(self, topic: str, payload: str) -> list[Out]:
        prefix = f"{self.root}/control/{self.serial}/"
        if not topic.startswith(prefix):
            return []
        command, value = topic[len(prefix) :], payload.strip()
        w, battery = self.world, self.world.battery
        if command in _RUNS:
            mode = _RUNS[command]
            if value.lower() in ("cancel", "normal", "0"):
                if battery.mode == mode:
                    register = "charge" if command == "forceCharge" else "discharge"
                    for at, reg, watts in list(self.reverts):
                        if reg == register:
                            self.reverts.remove((at, reg, watts))
                            self._set_rate(reg, watts)
                    w.command_battery("eco")
            else:
                try:
                    minutes = float(value)
                except ValueError:
                    return []
                self._start(command, minutes)
        elif command in ("setChargeRate", "setDischargeRate"):
            try:
                watts = round(float(value))
            except ValueError:
                return []
            self._set_rate("charge" if command == "setChargeRate" else "discharge", watts)
        elif command == "setBatteryMode" and value.lower().startswith("eco"):
            w.command_battery("eco" if value.lower() == "eco" else "pause")
        else:
            return []
        return self.tick(w.now)

    def tick(self, now: datetime, *, full: bool = False) -> list[Out]:
        for at, register, watts in sorted(self.reverts, key=lambda r: r[0]):
            if now >= at:
                self.reverts.remove((at, register, watts))
                self._set_rate(register, watts)
        # read.py 659-660: each register read refreshes the cache to the live values
        self.cache = {"charge": self.charge_rate_w, "discharge": self.discharge_rate_w}
        return super().tick(now, full=full)

    def state(self) -> list[Out]:
        b, w = self.world.battery, self.world
        base = f"{self.root}/{self.serial}"
        watts = round(-b.power_kw * 1000)  # GivTCP: >= 0 discharging
        out = [
            Out(f"{base}/Power/Power/SOC", str(round(b.soc_pct))),
            Out(f"{base}/Power/Power/Battery_Power", str(watts)),
            Out(f"{base}/Power/Power/Charge_Power", str(max(0, -watts))),
            Out(f"{base}/Power/Power/Discharge_Power", str(max(0, watts))),
            Out(f"{base}/Power/Power/Grid_Power", str(round(-w.grid_kw * 1000))),
            Out(self.pv_topic, str(round(w.solar_kw * 1000))),
            # the house's own use: what comes from the grid and the panels, less what the battery takes
            Out(f"{base}/Power/Power/Load_Power", str(round((w.grid_kw - b.power_kw + w.solar_kw) * 1000))),
            Out(f"{base}/Control/Battery_Charge_Rate", str(self.charge_rate_w)),
            Out(f"{base}/Control/Battery_Discharge_Rate", str(self.discharge_rate_w)),
        ]
        for mode, entity in _ENTITIES.items():
            out.append(Out(f"{base}/Control/{entity}", "Running" if b.mode == mode else "Normal"))
        return out


# -- Tasmota -------------------------------------------------------------------------------------------------
class SimTasmota(SimMqttDevice):
    """A Tasmota relay switching the world's immersion heater, with the ``PulseTime`` dead-man timer."""

    name = "tasmota"

    def __init__(self, world: SimWorld, topic: str = "tasmota_immersion") -> None:
        super().__init__(world)
        self.topic = topic
        self.pulse_s: float | None = None
        self.pulse_raw = 0
        self.settings_saves = 0  # SaveData: writes of changed settings (PulseTime, the power state)
        self.off_at: datetime | None = None

    def subscriptions(self) -> list[str]:
        t = self.topic
        return [f"cmnd/{t}/POWER", f"cmnd/{t}/POWER1", f"cmnd/{t}/PulseTime1", f"cmnd/{t}/PulseTime"]

    def announce(self) -> list[Out]:
        return [Out(f"tele/{self.topic}/LWT", "Online")]

    def config_entry(self) -> dict[str, Any]:
        return {
            "id": "sandbox_immersion",
            "name": "Sandbox immersion heater",
            "kind": "hot_water",
            "adapter": "tasmota",
            "topic": self.topic,
            "pulse_time_seconds": 3600,
        }

    def _on(self) -> bool:
        return self.world.hot_water.relay_on

    def _power(self) -> list[Out]:
        word = "ON" if self._on() else "OFF"
        t = self.topic
        return [
            Out(f"stat/{t}/RESULT", json.dumps({"POWER": word}), retain=False),
            Out(f"stat/{t}/POWER", word, retain=False),
        ]

    def handle(self, topic: str, payload: str) -> list[Out]:
        t, value = self.topic, payload.strip().upper()
        if topic in (f"cmnd/{t}/PulseTime1", f"cmnd/{t}/PulseTime"):
            if value:  # an empty payload is a query
                try:
                    raw = int(value)
                except ValueError:
                    return []
                self.pulse_raw = raw
                self.pulse_s = None if raw == 0 else raw / 10 if raw <= 111 else raw - 100
                self.settings_saves += 1  # PulseTime is a setting: saved to flash
            body = {"PulseTime1": {"Set": self.pulse_raw, "Remaining": 0}}
            return [Out(f"stat/{t}/RESULT", json.dumps(body), retain=False)]
        if topic not in (f"cmnd/{t}/POWER", f"cmnd/{t}/POWER1"):
            return []
        if value in ("ON", "1"):
            on = True
        elif value in ("OFF", "0"):
            on = False
        elif value == "TOGGLE":
            on = not self._on()
        elif value == "":
            return self._power()
        else:
            return []
        now = self.world.now
        self.off_at = now + timedelta(seconds=self.pulse_s) if on and self.pulse_s else None
        if on != self._on():
            self.settings_saves += 1  # SetOption0: the power state is saved when it changes
        self.world.set_immersion(on, source="Tasmota relay")
        return self._power() + self.tick(now)

    def tick(self, now: datetime, *, full: bool = False) -> list[Out]:
        extra: list[Out] = []
        if self.off_at is not None and now >= self.off_at:
            self.off_at = None
            self.world.set_immersion(False, source="Tasmota PulseTime")
            extra = self._power()
        return extra + super().tick(now, full=full)

    def state(self) -> list[Out]:
        t = self.topic
        watts = round(self.world.hot_water.power_kw * 1000) if self._on() else 0
        return [
            Out(f"tele/{t}/STATE", json.dumps({"POWER": "ON" if self._on() else "OFF"}), retain=False),
            Out(f"tele/{t}/SENSOR", json.dumps({"ENERGY": {"Power": watts}}), retain=False),
        ]


# -- ebusd ---------------------------------------------------------------------------------------------------
class SimEbusd(SimMqttDevice):
    """ebusd in front of the heat pump's controller: a writable room setpoint and a readable room
    temperature (names as configured in the adapter's ``circuit``/``setpoint``/``temperature``)."""

    name = "ebusd"

    def __init__(
        self,
        world: SimWorld,
        root: str = "ebusd",
        circuit: str = "700",
        setpoint: str = "z1DayTemp",
        temperature: str = "z1RoomTemp",
    ) -> None:
        super().__init__(world)
        self.root, self.circuit, self.setpoint, self.temperature = root, circuit, setpoint, temperature

    @property
    def setpoint_topic(self) -> str:
        return f"{self.root}/{self.circuit}/{self.setpoint}"

    @property
    def temperature_topic(self) -> str:
        return f"{self.root}/{self.circuit}/{self.temperature}"

    def subscriptions(self) -> list[str]:
        return [f"{self.setpoint_topic}/set", f"{self.setpoint_topic}/get", f"{self.temperature_topic}/get"]

    def announce(self) -> list[Out]:
        return [Out(f"{self.root}/global/running", "true")]

    def config_entry(self) -> dict[str, Any]:
        return {
            "id": "sandbox_heat_pump",
            "name": "Sandbox heat pump",
            "kind": "heat_pump",
            "adapter": "ebusd",
            "topic": self.root,
            "circuit": self.circuit,
            "setpoint": self.setpoint,
            "temperature_circuit": self.circuit,
            "temperature": self.temperature,
            "min_c": 15.0,
            "max_c": 24.0,
            "default_c": 20.0,
            "off_c": 17.0,
            "boost_c": 22.0,
            # simulated seconds: at ×1440 a busy machine takes that long to carry an echo back
            "readback_timeout_seconds": 900.0,
        }

    def handle(self, topic: str, payload: str) -> list[Out]:
        if topic == f"{self.setpoint_topic}/set":
            try:
                value = float(payload.strip().split(";", 1)[0])
            except ValueError:
                return []
            self.world.set_heat_pump(setpoint_c=value, source="ebusd")
            return self.state()[:1]
        if topic == f"{self.setpoint_topic}/get":
            return self.state()[:1]
        if topic == f"{self.temperature_topic}/get":
            return self.state()[1:]
        return []

    def state(self) -> list[Out]:
        hp = self.world.heat_pump
        return [
            Out(self.setpoint_topic, f"{hp.setpoint_c:g}"),
            Out(self.temperature_topic, f"{round(hp.indoor_c, 1):g}"),
        ]


# -- ESPAltherma ---------------------------------------------------------------------------------------------
class SimEspAltherma(SimMqttDevice):
    """ESPAltherma's Smart Grid relays on the world's heat pump (raomin/ESPAltherma @10a1948): ``sg/set``
    0 free running, 1 forced off, 2 recommended on, 3 forced on; the state on ``sg/state``. On every MQTT
    (re)connect it publishes ``sg/state`` ``0`` without touching its relays (``include/mqtt.h`` 108-113);
    Smart Grid mode is not saved and the relays come up inactive at boot (``main.cpp`` 399-404)."""

    name = "espaltherma"

    def __init__(self, world: SimWorld, topic: str = "espaltherma") -> None:
        super().__init__(world)
        self.topic = topic
        self.relays = 0  # what the SG relays really do

    def subscriptions(self) -> list[str]:
        return [f"{self.topic}/sg/set"]

    def announce(self) -> list[Out]:
        """Each MQTT (re)connect: LWT Online and the fake sg/state 0 (relays unchanged)."""
        return [Out(f"{self.topic}/LWT", "Online"), Out(f"{self.topic}/sg/state", "0")]

    def boot(self) -> list[Out]:
        self.relays = 0
        self._apply()
        return self.announce()

    def config_entry(self) -> dict[str, Any]:
        return {"id": "sandbox_daikin", "kind": "heat_pump", "adapter": "espaltherma", "topic": self.topic}

    def _apply(self) -> None:
        if self.relays == 1:
            self.world.set_heat_pump(enabled=False, source="ESPAltherma SG forced off")
        else:
            self.world.set_heat_pump(enabled=True, source="ESPAltherma SG")

    def handle(self, topic: str, payload: str) -> list[Out]:
        if topic != f"{self.topic}/sg/set" or payload.strip() not in ("0", "1", "2", "3"):
            return []
        self.relays = int(payload.strip())
        self._apply()
        return [Out(f"{self.topic}/sg/state", str(self.relays))]

    def state(self) -> list[Out]:
        return []  # sg/state only on a change (and the fake 0 on connect)


def sandbox_devices(world: SimWorld) -> list[SimMqttDevice]:
    """One of each, on their default topics."""
    return [SimOpenEVSE(world), SimGivTcp(world), SimTasmota(world), SimEbusd(world)]


def device_entries(devices: Sequence[SimMqttDevice]) -> list[dict[str, Any]]:
    """The ``[[devices]]`` entries (settings ``devices``) for the daemon to control ``devices``."""
    return [d.config_entry() for d in devices]


# -- MQTT glue -----------------------------------------------------------------------------------------------
async def run_devices(
    devices: Sequence[SimMqttDevice],
    host: str,
    port: int,
    *,
    clock: Clock,
    tick_seconds: float = 30.0,
    full_every: int = 10,
    client_id: str = "kraken2mqtt-sim-devices",
    on_message: Callable[[str, str], None] | None = None,
    on_connected: Callable[[], None] | None = None,
) -> None:
    """Connect the devices to a broker and run until cancelled: commands in, state out every
    ``tick_seconds`` of simulated time (all of it every ``full_every`` ticks). ``on_connected`` is called
    once subscribed and announced."""
    async with aiomqtt.Client(host, port, identifier=client_id) as client:
        routes: list[tuple[str, SimMqttDevice]] = []
        for dev in devices:
            for sub in dev.subscriptions():
                await client.subscribe(sub, qos=1)
                routes.append((sub, dev))
        for dev in devices:
            await _publish(client, dev.announce() + dev.tick(clock.now(), full=True))
        if on_connected is not None:
            on_connected()

        async def ticker() -> None:
            n = 0
            while True:
                await clock.sleep(tick_seconds)
                n += 1
                for dev in devices:
                    await _publish(client, dev.tick(clock.now(), full=n % full_every == 0))

        task = asyncio.create_task(ticker())
        try:
            async for message in client.messages:
                topic = message.topic.value
                payload = message.payload
                text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else ""
                if isinstance(payload, str | int | float):
                    text = str(payload)
                if on_message is not None:
                    on_message(topic, text)
                for dev in dict.fromkeys(d for sub, d in routes if message.topic.matches(sub)):
                    try:
                        await _publish(client, dev.handle(topic, text))
                    except aiomqtt.MqttError:
                        raise  # the broker is gone: the supervisor reconnects
                    except Exception:  # a bad command must not stop the simulation
                        log.exception("sim device %s failed on %s", dev.name, topic)
        finally:
            await cancel_and_wait(task)


async def _publish(client: aiomqtt.Client, messages: Sequence[Out]) -> None:
    for m in messages:
        await client.publish(m.topic, m.payload, qos=1, retain=m.retain)
