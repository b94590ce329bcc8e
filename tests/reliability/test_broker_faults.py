"""Item 1, broker faults: Mosquitto (persistence on, as Home Assistant's add-on runs it) is stopped and
restarted 20 times under the running daemon. After each restart availability, discovery and state are
republished within 5 s, and the commands Home Assistant publishes before the daemon is back (it is still in
its reconnect backoff) are handled once it is."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiomqtt

from kraken2mqtt.clock import SystemClock
from kraken2mqtt.daemon import Daemon
from kraken2mqtt.mqtt.connection import SOCKET_OPTIONS
from tests.brokers import Broker
from tests.reliability.rig import (
    TALLY,
    Outputs,
    Recorder,
    daemon_settings,
    fake_kraken,
    mosquitto,
    target_for,
    until,
)
from tests.timing import scaled

RESTARTS = 20
MODES = ("force_on", "off", "auto")


async def _ha_publish(broker: Broker, messages: list[tuple[str, str]]) -> None:
    """Home Assistant sends commands the moment the broker is back (QoS 1)."""
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=f"ha-{uuid.uuid4().hex[:6]}", socket_options=SOCKET_OPTIONS
    ) as ha:
        for topic, payload in messages:
            await ha.publish(topic, payload, qos=1)


async def test_twenty_broker_restarts(tmp_path: Path, outputs: Outputs) -> None:
    with mosquitto() as broker:
        # a generous Kraken budget: 20 target_soc commands in 30 s would otherwise (rightly) be held back
        settings = daemon_settings(tmp_path, broker, kraken={"requests_per_hour": 5000})
        base, prefix = settings.mqtt.base_topic, settings.mqtt.discovery_prefix
        with fake_kraken(outputs) as fk:
            ev = next(d for d in fk.account.devices if d.kind == "vehicle" or "Vehicle" in type(d).__name__)
            ev_key = ev.id.lower()
            daemon = Daemon(settings, clock=SystemClock(), target=target_for(fk))
            stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(stop))
            try:
                async with Recorder(broker, outputs) as rec:
                    t_start = time.monotonic()

                    def topics_since(t0: float) -> dict[str, bytes]:
                        return dict(rec.live_since(t0))

                    def configs(seen: dict[str, bytes]) -> set[str]:
                        return {
                            t for t in seen if t.startswith(f"{prefix}/device/") and t.endswith("/config")
                        }

                    await until(
                        lambda: len(configs(topics_since(t_start))) >= 5, scaled(20), "first discovery"
                    )
                    await until(
                        lambda: f"{base}/account/state" in topics_since(t_start), scaled(20), "account state"
                    )
                    expected = configs(topics_since(t_start))
                    recoveries: list[float] = []
                    unhandled: list[str] = []
                    for i in range(RESTARTS):
                        await asyncio.to_thread(broker.stop)
                        await until(lambda: not daemon.mqtt.connected, scaled(10), "the daemon to notice")
                        await asyncio.to_thread(broker.start)
                        t0 = time.monotonic()
                        mode, soc = MODES[i % 3], 20 + i
                        was_connected = daemon.mqtt.connected
                        await _ha_publish(
                            broker,
                            [
                                (f"{base}/ev/planner_mode/set", mode),
                                (f"{base}/{ev_key}/target_soc/set", str(soc)),
                            ],
                        )
                        TALLY.commands_sent += 2

                        def back(t0: float = t0) -> bool:
                            seen = topics_since(t0)
                            return (
                                seen.get(f"{base}/status") == b"online"
                                and expected <= configs(seen)
                                and f"{base}/account/state" in seen
                            )

                        try:
                            recoveries.append(
                                await until(back, scaled(5), f"republish after restart {i + 1}")
                            )
                        except BaseException:
                            seen = topics_since(t0)
                            print("status", seen.get(f"{base}/status"), "missing", expected - configs(seen))
                            print("state", f"{base}/account/state" in seen, sorted(seen)[:40])
                            raise

                        def results(t0: float = t0) -> set[str]:
                            done = set()
                            for topic, payload in rec.live_since(t0):
                                if topic.endswith("/result"):
                                    body = json.loads(payload)
                                    if body["status"] == "done":
                                        done.add(f"{body['control']}={body.get('value')}")
                            return done

                        wanted = {f"planner_mode={mode}", f"target_soc={soc}"}

                        def handled(wanted: set[str] = wanted, t0: float = t0) -> bool:
                            return wanted <= results(t0)

                        try:
                            await until(handled, scaled(10), f"commands of round {i + 1}")
                        except BaseException:
                            unhandled += sorted(wanted - results())
                            TALLY.commands_lost += len(wanted - results())
                            raise
                        TALLY.fault("mosquitto restart", survived=True)
                        if not was_connected:
                            TALLY.fault("HA command published while the daemon was reconnecting", n=2)
                    assert not unhandled
                    assert daemon.overrides.get("ev") == MODES[(RESTARTS - 1) % 3]
                    socs = [inp for name, inp in fk.mutations if name == "setDevicePreferences"]
                    assert len(socs) >= RESTARTS
                    assert daemon.mqtt.connections == RESTARTS + 1
                    assert not task.done()
                    TALLY.note(
                        f"broker restarts: republished in {min(recoveries):.2f}-{max(recoveries):.2f} s "
                        f"(limit {scaled(5):.0f} s)"
                    )
            finally:
                stop.set()
                await asyncio.wait_for(task, scaled(15))
