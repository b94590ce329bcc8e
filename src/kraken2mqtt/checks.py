"""``kraken2mqtt check-config``: validate the settings and, with ``--online``, reach Kraken and the broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from kraken2mqtt.app import first_look
from kraken2mqtt.clock import SystemClock
from kraken2mqtt.daemon import make_client, open_store, target_from
from kraken2mqtt.kraken.errors import KrakenError
from kraken2mqtt.redact import redact_text
from kraken2mqtt.settings import Settings


async def check_config(settings: Settings, *, online: bool, out: TextIO) -> int:
    def step(ok: bool, text: str) -> bool:
        print(f"[{'ok' if ok else 'FAIL'}] {redact_text(text)}", file=out)
        return ok

    k, m = settings.kraken, settings.mqtt
    good = step(True, f"configuration valid: {k.deployment} at {k.endpoint_url}, broker {m.host}:{m.port}")
    good &= step(
        k.has_credentials,
        "Kraken credentials present"
        if k.has_credentials
        else "no Kraken credentials: set kraken.api_key (or email and password), "
        "KRAKEN2MQTT_KRAKEN__API_KEY, or the systemd credential kraken_api_key",
    )
    if not online:
        return 0 if good else 1
    if k.has_credentials:
        store = open_store(settings)
        try:
            async with make_client(settings, target_from(settings), store, SystemClock()) as client:
                found = await first_look(client)
            good &= step(True, f"Kraken: authenticated; accounts {', '.join(found.accounts) or '(none)'}")
            if k.account_number is not None:
                known = k.account_number in found.accounts
                good &= step(
                    known,
                    f"Kraken: account {k.account_number} "
                    + ("found" if known else "is not one of this login's accounts"),
                )
        except KrakenError as exc:
            good &= step(False, f"Kraken: {exc}")
        finally:
            store.close()
    good &= await _check_broker(settings, step)
    return 0 if good else 1


async def _check_broker(settings: Settings, step: Callable[[bool, str], bool]) -> bool:
    import aiomqtt

    from kraken2mqtt.mqtt.connection import make_client as make_mqtt_client

    m = settings.mqtt
    try:
        async with make_mqtt_client(m, client_id_suffix="-check", with_will=False):
            pass
    except (aiomqtt.MqttError, OSError) as exc:
        return step(False, f"MQTT: cannot connect to {m.host}:{m.port}: {exc}")
    return step(True, f"MQTT: connected to {m.host}:{m.port}" + (" over TLS" if m.tls.enabled else ""))
