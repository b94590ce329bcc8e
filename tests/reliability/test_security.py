"""Item 6, security: MQTT over TLS with a password file (a real Mosquitto and a throwaway CA made with
openssl), a wrong password failing cleanly, secrets kept out of logs, MQTT, metrics, ``status`` and
tracebacks even when Kraken echoes them back, loopback-only endpoints by default, 0600/0700 state, and a
world-readable credentials file refused with a clear message."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kraken2mqtt.app import print_status
from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import SystemClock
from kraken2mqtt.daemon import Daemon
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.settings import Settings, load_settings
from tests.brokers import Broker, free_port
from tests.reliability.rig import (
    API_KEY,
    MQTT_PASSWORD,
    MQTT_USER,
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

WRONG_PASSWORD = "rel-wrong-pw-0b7d22c1"


def _openssl(work: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True, timeout=scaled(60))


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Path]]:
    if not (shutil.which("openssl") and shutil.which("mosquitto_passwd")):
        pytest.skip("openssl and mosquitto_passwd are needed for the TLS broker")
    work = tmp_path_factory.mktemp("tls")
    _openssl(work, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=kraken2mqtt test CA")  # fmt: skip
    _openssl(work, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost")  # fmt: skip
    (work / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(work, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")  # fmt: skip
    passwords = work / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), MQTT_USER, MQTT_PASSWORD],
        check=True,
        capture_output=True,
        timeout=scaled(30),
    )
    os.chmod(passwords, 0o600)
    extra = (
        f"cafile {work / 'ca.crt'}\ncertfile {work / 'server.crt'}\nkeyfile {work / 'server.key'}\n"
        f"password_file {passwords}\nallow_anonymous false\n"
    )
    with mosquitto(extra, persistence=False) as broker:
        yield broker, work / "ca.crt"


def _tls_settings(tmp_path: Path, broker: Broker, ca: Path, password: str = MQTT_PASSWORD) -> Settings:
    return daemon_settings(
        tmp_path,
        broker,
        mqtt={
            "username": MQTT_USER,
            "password": password,
            "tls": {"enabled": True, "ca_file": str(ca)},
        },
    )


async def test_tls_with_auth_and_no_secret_anywhere(
    tmp_path: Path, tls_broker: tuple[Broker, Path], outputs: Outputs
) -> None:
    broker, ca = tls_broker
    (tmp_path / "state").mkdir()
    os.chmod(tmp_path / "state", 0o755)  # noqa: S103 - a too-open state directory is tightened
    settings = _tls_settings(tmp_path, broker, ca)
    base, prefix = settings.mqtt.base_topic, settings.mqtt.discovery_prefix
    tls = ssl.create_default_context(cafile=str(ca))
    with fake_kraken(outputs) as fk:
        daemon = Daemon(settings, clock=SystemClock(), target=target_for(fk))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            async with Recorder(
                broker, outputs, username=MQTT_USER, password=MQTT_PASSWORD, tls_context=tls
            ) as rec:
                await until(
                    lambda: sum(t.startswith(f"{prefix}/device/") for t, _ in rec.live_since(0)) >= 5,
                    scaled(20),
                    "discovery over TLS",
                )
                assert (f"{base}/status", b"online") in [(t, p) for _, t, p, _ in rec.messages]
                TALLY.fault("MQTT over TLS + password file: connect and discovery")
                # Kraken echoes the secrets back in errors (a proxy's error page, a buggy server):
                token = fk.tokens.issued()[0]
                echo = {"errors": [{"message": f"bad key {API_KEY} / token {token}", "path": ["account"]}]}
                served = 0
                for body, status in ((echo, 200), ({"detail": f"Authorization: JWT {token}"}, 500)):
                    fk.faults.inject("raw", times=3, body=body, status=status)
                    await daemon.poller.refresh()
                    served += 3 - sum(f.remaining for f in fk.faults.pending())
                    fk.faults.clear()
                assert served >= 2
                daemon._wake.set()
                TALLY.fault("Kraken echoing the API key and token in errors", n=served)
                host, port = daemon.metrics.address or ("", 0)
                assert host == "127.0.0.1"  # loopback by default
                async with httpx.AsyncClient() as http:
                    metrics = (await http.get(f"http://{host}:{port}/metrics")).text
                outputs.add("metrics", metrics)
                assert "kraken2mqtt_mqtt_connected 1.0" in metrics
                await until(lambda: daemon.poller.snapshot.account_number is not None, scaled(10), "data")
        finally:
            stop.set()
            await asyncio.wait_for(task, scaled(15))
    for as_json in (False, True):
        out = io.StringIO()
        assert print_status(settings, as_json=as_json, out=out) == 0
        outputs.add(f"status json={as_json}", out.getvalue())
        assert "token valid until" in out.getvalue() or "token_expires_at" in out.getvalue()
    state = settings.state_dir
    assert (state.stat().st_mode & 0o777) == 0o700
    for f in state.iterdir():
        assert (f.stat().st_mode & 0o777) == 0o600, f
    # the grep of every output (logs, MQTT, metrics, status) runs in the conftest at teardown


async def test_wrong_password_fails_cleanly(
    tmp_path: Path, tls_broker: tuple[Broker, Path], outputs: Outputs
) -> None:
    broker, ca = tls_broker
    settings = _tls_settings(tmp_path, broker, ca, password=WRONG_PASSWORD)
    outputs.texts.append(("(secret list)", ""))
    supervisor = MqttSupervisor(settings.mqtt, reconnect_backoff=Backoff(base=0.2, cap=0.5))
    task = asyncio.create_task(supervisor.run())
    try:
        await until(lambda: task.done() or _attempts(outputs) >= 3, scaled(15), "three refused attempts")
        assert not task.done() and supervisor.connections == 0  # retries with backoff, no crash
    finally:
        await supervisor.stop()
        await asyncio.wait_for(task, scaled(10))
    TALLY.fault("MQTT wrong password (refused, retried)")


def _attempts(outputs: Outputs) -> int:
    import logging

    handler = logging.getLogger().handlers[0]
    stream = getattr(handler, "stream", None)
    text = stream.getvalue() if isinstance(stream, io.StringIO) else ""
    assert WRONG_PASSWORD not in text
    return text.count("mqtt.disconnected")


def test_world_readable_credentials_are_refused(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "kraken_api_key").write_text(API_KEY)
    os.chmod(creds / "kraken_api_key", 0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN2MQTT_")}
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    env["KRAKEN2MQTT_STATE_DIR"] = str(tmp_path / "state")
    for command in (["check-config"], ["run"]):
        done = subprocess.run(
            [sys.executable, "-m", "kraken2mqtt.cli", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(60),
        )
        assert done.returncode == 2, (done.stdout, done.stderr)
        text = done.stdout + done.stderr
        assert "readable by every user" in text and f"chmod 600 {creds / 'kraken_api_key'}" in text
        assert API_KEY not in text
    os.chmod(creds / "kraken_api_key", 0o600)
    done = subprocess.run(
        [sys.executable, "-m", "kraken2mqtt.cli", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    TALLY.fault("world-readable credentials file (refused)")


def test_endpoints_are_loopback_by_default() -> None:
    settings = load_settings(None)
    assert settings.metrics.host == "127.0.0.1"
    assert settings.mqtt.host == "127.0.0.1"
    assert free_port() > 0
