"""Prometheus metrics: names, labels and units, the real /metrics endpoint, ``promtool check metrics``."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kraken2mqtt.kraken import errors
from kraken2mqtt.kraken.client import RequestEvent, UndocumentedFieldError
from kraken2mqtt.ops.metrics import (
    ACTIONS,
    COMMAND_RESULTS,
    MAX_LABEL_VALUES,
    REQUEST_OUTCOMES,
    Metrics,
    outcome_label,
)
from kraken2mqtt.planner.model import ActionKind, DeviceAction
from kraken2mqtt.redact import register_secret
from kraken2mqtt.settings import MetricsSettings

NOW = 1_800_000_000.0

# name -> (type, labels) of every family the daemon promises (the list, plus process metrics).
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "kraken2mqtt_build_info": ("gauge", {"version", "python_version"}),  # an Info, as text 0.0.4 shows it
    "kraken2mqtt_api_requests": ("counter", {"operation", "outcome"}),
    "kraken2mqtt_api_request_duration_seconds": ("histogram", set()),
    "kraken2mqtt_api_rate_limit_points_remaining": ("gauge", set()),
    "kraken2mqtt_api_rate_limit_points": ("gauge", set()),
    "kraken2mqtt_api_rate_limit_reset_timestamp_seconds": ("gauge", set()),
    "kraken2mqtt_api_token_expiry_timestamp_seconds": ("gauge", set()),
    "kraken2mqtt_data_fetched_timestamp_seconds": ("gauge", {"stream"}),
    "kraken2mqtt_data_age_seconds": ("gauge", {"stream"}),
    "kraken2mqtt_mqtt_connected": ("gauge", set()),
    "kraken2mqtt_commands": ("counter", {"kind", "result"}),
    "kraken2mqtt_commands_pending": ("gauge", set()),
    "kraken2mqtt_import_price_per_kwh": ("gauge", set()),
    "kraken2mqtt_export_price_per_kwh": ("gauge", set()),
    "kraken2mqtt_dispatch_active": ("gauge", set()),
    "kraken2mqtt_planned_energy_joules": ("gauge", {"device"}),
    "kraken2mqtt_device_state_of_charge_ratio": ("gauge", {"device"}),
    "kraken2mqtt_device_power_watts": ("gauge", {"device"}),
    "kraken2mqtt_device_action": ("gauge", {"device", "action"}),
    "kraken2mqtt_device_action_power_watts": ("gauge", {"device"}),
    "kraken2mqtt_planner_run_duration_seconds": ("histogram", set()),
    "kraken2mqtt_plan_cost": ("gauge", set()),
    "kraken2mqtt_plan_timestamp_seconds": ("gauge", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_cpu_seconds": ("counter", set()),
}


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def populated(clock: Clock | None = None) -> Metrics:
    """A Metrics object with every family holding at least one sample."""
    m = Metrics(version="1.2.3", clock=clock or Clock())
    m.observe_request(RequestEvent("PollAccountGb", "ok", 0.31))
    m.observe_request(RequestEvent("PollAccountGb", "RateLimitedError", 0.05))
    m.observe_request(RequestEvent("ObtainKrakenToken", "CredentialsError", 0.4))
    m.set_rate_limit(remaining=87, limit=100, resets_at=NOW + 900)
    m.set_token_expiry(NOW + 3600)
    m.mark_fetched("tariffs", at=NOW - 120)
    m.mark_fetched("dispatches")
    m.set_mqtt_connected(True)
    m.command("charge", "ok")
    m.command("stop", "timeout")
    m.set_pending_commands(2)
    m.set_prices(0.2451, 0.15)
    m.set_dispatch_active(True)
    m.set_planned_energy("ev", 12.5)
    m.set_device("ev", soc_ratio=0.42, power_watts=7200.0)
    m.set_device("battery", soc_ratio=0.9, power_watts=-2500.0)
    m.set_actions(
        {"ev": DeviceAction(ActionKind.CHARGE, power_kw=7.2), "battery": DeviceAction(ActionKind.HOLD)}
    )
    m.observe_plan(0.084, 3.21)
    m.observe_tasks(
        [{"name": "poller", "state": "running", "restarts": 1}, {"name": "mqtt", "state": "running"}]
    )
    return m


def families(text: str) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    return {
        f.name: (f.type, [(s.name, dict(s.labels), s.value) for s in f.samples])
        for f in text_string_to_metric_families(text)
    }


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise KeyError(f"{name}{labels}")


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http://127.0.0.1 only)
        return response.status, response.headers["Content-Type"], response.read().decode()


async def test_scrape_the_real_endpoint_on_loopback() -> None:
    m = populated()
    host, port = await m.start_server("127.0.0.1", 0)
    try:
        assert host == "127.0.0.1" and port > 0
        assert m.address == (host, port)
        status, content_type, text = await asyncio.to_thread(_get, f"http://{host}:{port}/metrics")
    finally:
        await m.stop_server()
    assert status == 200
    assert content_type.startswith("text/plain")
    found = families(text)
    for name, (kind, labels) in EXPECTED.items():
        assert name in found, name
        assert found[name][0] == kind, name
        seen = {k for _, sample_labels, _ in found[name][1] for k in sample_labels} - {"le"}
        assert seen == labels, name
    assert value(text, "kraken2mqtt_build_info", version="1.2.3") == 1
    assert (
        value(text, "kraken2mqtt_api_requests_total", operation="PollAccountGb", outcome="rate_limited") == 1
    )
    assert value(text, "kraken2mqtt_api_requests_total", operation="ObtainKrakenToken", outcome="auth") == 1
    assert value(text, "kraken2mqtt_api_request_duration_seconds_count") == 3
    assert value(text, "kraken2mqtt_planned_energy_joules", device="ev") == pytest.approx(12.5 * 3.6e6)
    assert value(text, "kraken2mqtt_device_power_watts", device="battery") == -2500
    assert value(text, "kraken2mqtt_data_age_seconds", stream="tariffs") == pytest.approx(120)
    assert value(text, "kraken2mqtt_data_age_seconds", stream="dispatches") == 0
    assert value(text, "kraken2mqtt_import_price_per_kwh") == pytest.approx(0.2451)
    # Stopped: the port is closed again.
    assert m.address is None
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(_get, f"http://{host}:{port}/metrics")


async def test_server_defaults_to_loopback_and_stops_cleanly() -> None:
    assert MetricsSettings().host == "127.0.0.1"
    m = Metrics()
    await m.stop_server()  # not running: a no-op
    host, _ = await m.start_server(port=0)
    assert host == "127.0.0.1"
    with pytest.raises(RuntimeError):
        await m.start_server(port=0)
    await m.stop_server()
    await m.stop_server()
    # It can be started again after a stop.
    await m.start_server(port=0)
    await m.stop_server()


async def test_a_busy_port_raises() -> None:
    a, b = Metrics(), Metrics()
    _, port = await a.start_server(port=0)
    try:
        with pytest.raises(OSError, match="in use"):
            await b.start_server(port=port)
        assert b.address is None
    finally:
        await a.stop_server()


def test_promtool_check_metrics() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    for m in (Metrics(), populated()):
        result = subprocess.run(
            [promtool, "check", "metrics"], input=m.render(), capture_output=True, timeout=30, check=False
        )
        assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_naming_conventions() -> None:
    for family in populated().registry.collect():
        name = family.name
        assert name.startswith(("kraken2mqtt_", "process_")), name
        if family.type == "counter":
            assert not name.endswith("_total")  # the parser strips it; samples carry it
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        for banned in ("milli", "kilo", "percent", "pence", "minutes", "hours", "kwh_"):
            assert banned not in name, name
        assert family.documentation, name


def test_registries_are_independent() -> None:
    a, b = Metrics(), Metrics()
    a.set_mqtt_connected(True)
    assert value(a.render().decode(), "kraken2mqtt_mqtt_connected") == 1
    assert value(b.render().decode(), "kraken2mqtt_mqtt_connected") == 0


def test_unknown_values_are_nan_and_dropped_series_vanish() -> None:
    m = populated()
    m.set_prices(None, None)
    m.set_token_expiry(None)
    m.set_rate_limit(None)
    m.observe_plan(0.01, None)
    text = m.render().decode()
    for name in (
        "kraken2mqtt_import_price_per_kwh",
        "kraken2mqtt_export_price_per_kwh",
        "kraken2mqtt_api_token_expiry_timestamp_seconds",
        "kraken2mqtt_api_rate_limit_points_remaining",
        "kraken2mqtt_plan_cost",
    ):
        assert math.isnan(value(text, name)), name
    m.set_device("ev", soc_ratio=None, power_watts=11.0)
    m.set_planned_energy("battery", None)  # never set: no error
    m.forget_device("battery")
    text = m.render().decode()
    with pytest.raises(KeyError):
        value(text, "kraken2mqtt_device_state_of_charge_ratio", device="ev")
    assert value(text, "kraken2mqtt_device_power_watts", device="ev") == 11
    with pytest.raises(KeyError):
        value(text, "kraken2mqtt_device_power_watts", device="battery")


def test_data_age_follows_the_clock() -> None:
    clock = Clock()
    m = Metrics(clock=clock)
    m.mark_fetched("tariffs")
    clock.now += 300
    text = m.render().decode()
    assert value(text, "kraken2mqtt_data_age_seconds", stream="tariffs") == pytest.approx(300)
    assert value(text, "kraken2mqtt_data_fetched_timestamp_seconds", stream="tariffs") == NOW


def test_every_client_error_has_a_fixed_outcome() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.KrakenError)]
    classes.append(UndocumentedFieldError)
    for cls in classes:
        label = outcome_label(cls.__name__)
        assert label in REQUEST_OUTCOMES
        assert label != "error" or cls is errors.KrakenError, cls.__name__
    assert outcome_label("ok") == "ok"
    assert outcome_label("partial") == "partial"
    assert outcome_label("SomethingNew") == "error"
    assert outcome_label("AuthBackoffError") == "auth"
    assert outcome_label("RateLimitedError") == "rate_limited"


def test_label_cardinality_is_bounded() -> None:
    m = Metrics()
    for i in range(MAX_LABEL_VALUES + 25):
        m.observe_request(RequestEvent(f"Operation{i}", "ok", 0.1))
        m.command(f"kind{i}", "no-such-result")
        m.set_device(f"dev{i}", 0.5, 1.0)
    m.set_device("bad label with spaces", 0.1, 1.0)
    m.set_device("x" * 65, 0.1, 1.0)
    text = m.render().decode()
    found = families(text)

    def label_values(family: str, label: str) -> set[str]:
        return {labels[label] for _, labels, _ in found[family][1] if label in labels}

    operations = label_values("kraken2mqtt_api_requests", "operation")
    assert len(operations) == MAX_LABEL_VALUES + 1 and "other" in operations
    assert label_values("kraken2mqtt_commands", "result") <= set(COMMAND_RESULTS)
    assert len(label_values("kraken2mqtt_device_power_watts", "device")) == MAX_LABEL_VALUES + 1
    assert label_values("kraken2mqtt_api_requests", "outcome") <= set(REQUEST_OUTCOMES)


def test_no_secret_reaches_the_exposition() -> None:
    secret = "hunter2-mqtt-password"
    register_secret(secret)
    m = populated()
    m.set_device(secret, 0.5, 1.0)
    m.observe_request(RequestEvent("sk_live_abcdefghijkl", "ok", 0.1))
    m.mark_fetched("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
    text = m.render().decode()
    assert secret not in text
    assert "sk_live" not in text
    assert "eyJ" not in text
    assert 'device="other"' in text


def test_observe_request_fits_the_client_hook() -> None:
    m = Metrics()
    hook: Callable[[RequestEvent], None] = m.observe_request  # KrakenClient(on_request=...), checked by mypy
    hook(RequestEvent("Viewer", "partial", -1.0))  # a clock step backwards is not a negative duration
    text = m.render().decode()
    assert value(text, "kraken2mqtt_api_requests_total", operation="Viewer", outcome="partial") == 1
    assert value(text, "kraken2mqtt_api_request_duration_seconds_sum") == 0


def test_names_include_sample_suffixes() -> None:
    names = populated().names()
    assert "kraken2mqtt_api_requests_total" in names
    assert "kraken2mqtt_api_request_duration_seconds_bucket" in names
    assert "kraken2mqtt_api_request_duration_seconds_sum" in names
    assert "kraken2mqtt_build_info" in names


def test_task_metrics_follow_the_supervisors_report() -> None:
    m = Metrics(process_metrics=False)
    m.observe_tasks([{"name": "poller", "state": "running", "restarts": 0}])
    text = m.render().decode()
    assert value(text, "kraken2mqtt_task_up", task="poller") == 1
    assert value(text, "kraken2mqtt_task_restarts_total", task="poller") == 0
    m.observe_tasks([{"name": "poller", "state": "restarting", "restarts": 2}])
    m.observe_tasks([{"name": "poller", "state": "running", "restarts": 2}])  # no new restart
    m.observe_tasks([{"name": "poller", "state": "failed", "restarts": 3, "last_error": "x"}])
    text = m.render().decode()
    assert value(text, "kraken2mqtt_task_up", task="poller") == 0
    assert value(text, "kraken2mqtt_task_restarts_total", task="poller") == 3
    m.observe_tasks([{"name": "bad name with spaces", "state": "running"}])  # bounded labels
    assert value(m.render().decode(), "kraken2mqtt_task_up", task="other") == 1


def test_the_action_now_is_a_state_set_per_device() -> None:
    m = Metrics(process_metrics=False)
    m.set_actions({"ev": DeviceAction(ActionKind.CHARGE, power_kw=7.2, reason="cheap")})
    text = m.render().decode()
    states = {a: value(text, "kraken2mqtt_device_action", device="ev", action=a) for a in ACTIONS}
    assert states == {a: (1.0 if a == "charge" else 0.0) for a in ACTIONS}
    assert set(ACTIONS) == {kind.value for kind in ActionKind}
    assert value(text, "kraken2mqtt_device_action_power_watts", device="ev") == pytest.approx(7200)
    m.set_actions({"ev": DeviceAction(ActionKind.STOP)})  # the next pass: the series move, none is added
    text = m.render().decode()
    assert value(text, "kraken2mqtt_device_action", device="ev", action="stop") == 1
    assert value(text, "kraken2mqtt_device_action", device="ev", action="charge") == 0
    assert value(text, "kraken2mqtt_device_action_power_watts", device="ev") == 0
    m.forget_device("ev")
    text = m.render().decode()
    with pytest.raises(KeyError):
        value(text, "kraken2mqtt_device_action", device="ev")
    with pytest.raises(KeyError):
        value(text, "kraken2mqtt_device_action_power_watts", device="ev")
