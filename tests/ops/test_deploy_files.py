"""deploy/grafana and deploy/prometheus use only metric names the daemon exports, and are valid."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.test_metrics import populated

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "kraken2mqtt.json"
SCRAPE = ROOT / "deploy" / "prometheus" / "scrape.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\b(?:kraken2mqtt|process)_[A-Za-z0-9_]+\b")
# Prometheus's own series, which the scrape adds to every target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def panel_expressions() -> list[str]:
    return [str(n["expr"]) for n in walk(dashboard()) if "expr" in n]


def expressions() -> list[str]:
    """Every query of the dashboard: panel targets (PromQL) and template-variable queries (Grafana's)."""
    exprs = panel_expressions()
    for var in dashboard()["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def exported() -> set[str]:
    """Sample names the daemon exposes (``_total``, ``_bucket``, ``_sum``, ``_count``, ``_created``, ...)."""
    return populated().names()


def test_dashboard_uses_only_exported_metrics() -> None:
    exprs = expressions()
    assert len(exprs) >= 20
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    unknown = used - exported()
    assert not unknown, f"the dashboard queries metrics the daemon does not export: {sorted(unknown)}"
    # ... and it shows everything the issue asks for.
    for required in (
        "kraken2mqtt_import_price_per_kwh",
        "kraken2mqtt_export_price_per_kwh",
        "kraken2mqtt_dispatch_active",
        "kraken2mqtt_device_state_of_charge_ratio",
        "kraken2mqtt_device_power_watts",
        "kraken2mqtt_device_action",
        "kraken2mqtt_planned_energy_joules",
        "kraken2mqtt_api_requests_total",
        "kraken2mqtt_api_request_duration_seconds_bucket",
        "kraken2mqtt_api_rate_limit_points_remaining",
        "kraken2mqtt_api_token_expiry_timestamp_seconds",
        "kraken2mqtt_data_age_seconds",
        "kraken2mqtt_mqtt_connected",
        "kraken2mqtt_commands_total",
        "kraken2mqtt_commands_pending",
        "kraken2mqtt_planner_run_duration_seconds_bucket",
        "kraken2mqtt_plan_cost",
        "kraken2mqtt_build_info",
        "kraken2mqtt_task_up",
        "kraken2mqtt_task_restarts_total",
    ):
        assert required in used, required


def test_dashboard_structure() -> None:
    data = dashboard()
    assert data["uid"] == "kraken2mqtt" and data["title"]
    names = {v["name"] for v in data["templating"]["list"]}
    assert {"datasource", "instance"} <= names
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'instance=~"$instance"' in target["expr"], panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]


def test_alert_rules_use_only_exported_metrics() -> None:
    used = set(METRIC.findall(ALERTS.read_text()))
    assert used and not used - exported(), sorted(used - exported())


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return tool


def test_prometheus_files_are_valid() -> None:
    tool = _promtool()
    for args in (["check", "config", "--syntax-only", str(SCRAPE)], ["check", "rules", str(ALERTS)]):
        result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "127.0.0.1:9842" in SCRAPE.read_text()


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """Each expression, with Grafana's variables filled in, as a recording rule promtool must accept."""
    tool = _promtool()
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(panel_expressions()):
        concrete = (
            expr.replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1d")
            .replace("$instance", ".*")
        )
        assert "$" not in concrete, expr
        lines += [f"      - record: dashboard:expr{i}", f"        expr: {json.dumps(concrete)}"]
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = subprocess.run([tool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
