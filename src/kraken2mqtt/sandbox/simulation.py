"""Everything the sandbox simulates, put together: scaled clock, replayed prices, the fake Kraken server
serving a living account, and the local MQTT devices.

>>> sim = Simulation.create(speed=600, seed=1)          # doctest: +SKIP
>>> url = sim.start()                                   # the fake Kraken endpoint for the daemon
>>> settings.devices = sim.device_entries()             # the daemon controls the simulated devices
>>> await sim.run(host, port, on_event=print)           # until cancelled (next to the daemon)
>>> sim.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.prices import AgilePrices
from kraken2mqtt.sandbox.sim_account import SimAccount
from kraken2mqtt.sandbox.sim_clock import ScaledClock
from kraken2mqtt.sandbox.sim_devices import SimMqttDevice, device_entries, run_devices, sandbox_devices
from kraken2mqtt.sandbox.sim_weather import FakeOpenMeteo
from kraken2mqtt.sandbox.world import SimWorld, WorldEvent
from kraken2mqtt.tasks import FixedDelay, Supervisor

#: Seconds between the simulated devices' reconnection attempts while the broker is away.
DEVICES_RECONNECT_SECONDS = 2.0

SANDBOX_API_KEY = "sk_test_sandbox_key"


@dataclass
class Simulation:
    clock: ScaledClock
    prices: AgilePrices
    server: FakeKraken
    world: SimWorld
    devices: list[SimMqttDevice]
    weather: FakeOpenMeteo

    @classmethod
    def create(
        cls,
        *,
        speed: float = 60.0,
        start: datetime | None = None,
        seed: int = 0,
        prices_csv: Path | None = None,
        api_key: str = SANDBOX_API_KEY,
    ) -> Simulation:
        """A GB demo account (``A-SANDBOX1``) from ``start`` (default: now, to the minute). Nothing runs
        until :meth:`start` / :meth:`run`."""
        begin = (start or datetime.now(UTC).replace(second=0, microsecond=0)).astimezone(UTC)
        clock = ScaledClock(begin, speed)
        prices = AgilePrices.load(prices_csv)
        account = SimAccount.demo(begin, import_rates=prices.rate_tuples(begin))
        server = FakeKraken(account, clock=clock, api_key=api_key)
        world = SimWorld(server.account, clock, rng_seed=seed, prices=prices, start=begin, lock=server.lock)
        return cls(
            clock, prices, server, world, sandbox_devices(world), FakeOpenMeteo(world.sky, clock.now)
        )

    @property
    def account(self) -> SimAccount:
        return self.server.account

    def start(self) -> str:
        """Start the fake Kraken server (and the fake Open-Meteo beside it); the Kraken URL."""
        self.weather.start()
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.weather.stop()

    def device_entries(self) -> list[dict[str, Any]]:
        """``[[devices]]`` entries for the daemon's settings, one per simulated device."""
        return device_entries(self.devices)

    def add_tasks(
        self,
        tasks: Supervisor,
        broker_host: str,
        broker_port: int,
        on_event: Callable[[WorldEvent], None],
        *,
        step_seconds: float = 60.0,
        tick_seconds: float = 30.0,
        on_status: Callable[[str], None] | None = None,
        status_every_seconds: float = 3600.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        """Put the world, the devices (and a status line every ``status_every_seconds`` of simulated
        time) under ``tasks``, the daemon's supervisor. The devices' MQTT client ends when the broker goes
        away: it is reconnected every 2 s of real time (``say`` gets a line each time it goes and comes
        back), for as long as it takes, never ending the run."""
        lost = False

        async def status() -> None:
            assert on_status is not None
            while True:
                await self.clock.sleep(status_every_seconds)
                on_status(self.world.status_line())

        def connected() -> None:
            nonlocal lost
            if lost and say is not None:
                say("simulated devices: back")
            lost = False

        async def devices() -> None:
            nonlocal lost
            try:
                await run_devices(
                    self.devices,
                    broker_host,
                    broker_port,
                    clock=self.clock,
                    tick_seconds=tick_seconds,
                    on_connected=connected,
                )
            except aiomqtt.MqttError:
                if not lost and say is not None:
                    say(f"simulated devices: broker gone, reconnecting in {DEVICES_RECONNECT_SECONDS:.0f} s")
                lost = True
                raise

        tasks.add("world", lambda: self.world.run(on_event, step_seconds=step_seconds))
        tasks.add(
            "sim_devices",
            devices,
            backoff=FixedDelay(DEVICES_RECONNECT_SECONDS),
            critical=False,  # the simulated devices are the world's, not the daemon's
            give_up_after=None,  # the broker may be away for long: keep trying
            real_time=True,  # reconnect delays in real seconds, whatever the simulation's speed
            quiet=(aiomqtt.MqttError,),  # a lost broker is said in one line above, not a traceback
        )
        if on_status is not None:
            tasks.add("world_status", status)

    async def run(
        self,
        broker_host: str,
        broker_port: int,
        on_event: Callable[[WorldEvent], None],
        *,
        step_seconds: float = 60.0,
        tick_seconds: float = 30.0,
        on_status: Callable[[str], None] | None = None,
        status_every_seconds: float = 3600.0,
    ) -> None:
        """Run the world and the devices on their own supervisor until cancelled (tests)."""
        tasks = Supervisor(self.clock)
        self.add_tasks(
            tasks,
            broker_host,
            broker_port,
            on_event,
            step_seconds=step_seconds,
            tick_seconds=tick_seconds,
            on_status=on_status,
            status_every_seconds=status_every_seconds,
        )
        try:
            await tasks.run(asyncio.Event())
        finally:
            await tasks.cancel()
