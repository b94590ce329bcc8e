#!/usr/bin/env python3
"""Collect the production GraphQL documents of three live Kraken clients into tests/sandbox/live_queries/.

Dev-time tool. Give it a git directory of each client (a clone or a bare mirror) holding the pinned commit::

    tools/collect_live_queries.py --haoe DIR --pb DIR --oeg DIR

It reads each client's source at the pinned commit with ``git show`` (never runs it), takes every string
that is sent as a GraphQL document (module-level templates the module uses, and ``query = ...`` strings
inside functions), fills the client's ``str.format`` / f-string placeholders with the sample values below,
and writes one ``.graphql`` file per document with a header naming the repository, path, commit, name and
the endpoint it is sent to (``# deployments: ...``, as our own documents declare them). Deterministic.
Needs Python 3.12+ to parse HAOE (PEP 701 f-strings); no third-party imports.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "sandbox" / "live_queries"


@dataclass(frozen=True)
class Client:
    key: str
    repo: str
    path: str
    commit: str
    default_endpoint: str
    #: Names of documents sent to another endpoint -> that endpoint.
    endpoints: dict[str, str]


HAOE_BACKEND = (
    "heat_pump_ids_query",
    "heat_pump_status_and_config_query",
    "heat_pump_set_hush_mode_mutation",
    "heat_pump_update_flow_temp_config_mutation",
    "heat_pump_set_zone_mode_with_setpoint_mutation",
    "heat_pump_set_zone_mode_without_setpoint_mutation",
    "heat_pump_boost_zone_mutation",
    "greener_night_forecast_query",
    "octoplus_saving_session_query",
    "octoplus_saving_session_join_mutation",
    "wheel_of_fortune_query",
    "wheel_of_fortune_mutation",
)

CLIENTS = (
    Client(
        "haoe",
        "BottlecapDave/HomeAssistant-OctopusEnergy",
        "custom_components/octopus_energy/api_client/__init__.py",
        "4c25c7260ae26954eaebc16664797475c0523767",
        "octopus-gb",
        dict.fromkeys(HAOE_BACKEND, "octopus-gb-backend"),
    ),
    Client(
        "pb",
        "springfall2008/batpred",
        "apps/predbat/octopus.py",
        "aaba48fcd6e7976704ad63faf05f0fe1f40e045a",
        "octopus-gb",
        # async_graphql_query(..., use_backend=True)
        dict.fromkeys(
            ("octoplus_saving_session_query", "octoplus_saving_session_join_mutation"), "octopus-gb-backend"
        ),
    ),
    Client(
        "oeg",
        "thecem/octopus_germany",
        "custom_components/octopus_germany/octopus_germany.py",
        "213bdb0d5d088596ca9ef599ef54423131bf3338",
        "octopus-de",
        {},
    ),
)

#: Sample values for the clients' placeholders (by placeholder name).
VALUES: dict[str, str] = {
    "account_id": "A-1234ABCD",
    "api_key": "sk_test_fake_api_key",
    "refresh_token": "refresh-token",
    "device_id": "00000000-0000-4000-8000-00000000e001",
    "property_id": "1234567",
    "euid": "00:1e:5e:09:02:aa:bb:cc",
    "period_from": "2026-12-01T00:00:00+0000",
    "period_to": "2026-12-02T00:00:00+0000",
    "event_code": "EVENT-1",
    "points": "800",
    "zone_id": "ZONE1",
    "zone_mode": "ON",
    "target_temperature": "21.0",
    "end_at": "2026-12-02T18:00:00+00:00",
    "is_enabled": "true",
    "weather_comp_enabled": "true",
    "weather_comp_min_temperature": "30.0",
    "weather_comp_max_temperature": "45.0",
    "fixed_flow_temperature": "40.0",
    "fuel_type": "ELECTRICITY",
    "mpan": "1234567890123",
    "campaign_slug": "octoplus-saving-sessions",
    "day_of_week": "MONDAY",
    "target_time": "07:00",
    "target_percentage": "80",
    "formatted_time": "07:00",
}

_DOCUMENT = re.compile(r"^\s*(query|mutation)\b")


def _git_show(git_dir: Path, commit: str, path: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed arguments, dev-time tool
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _render(node: ast.expr, module_strings: dict[str, str]) -> str | None:
    """The text of a str constant (``str.format`` template) or an f-string, placeholders filled."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
        if "{{" in text or re.search(r"\{[a-z_]+\}", text):
            values = dict(VALUES)
            schedule = module_strings.get("intelligent_settings_mutation_schedule")
            if schedule is not None:
                values["schedules"] = schedule.format_map(VALUES)
            return text.format_map(values)
        return text
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append(VALUES[ast.unparse(value.value)])
        return "".join(parts)
    return None


def collect(client: Client, source: str) -> list[tuple[str, str, str]]:
    """(name, endpoint, document) of every document the module sends, in source order."""
    tree = ast.parse(source)
    module_strings = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    found: list[tuple[int, str, str]] = []
    for node in tree.body:  # module-level templates the module uses
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            text = _render(node.value, module_strings)
            if text is not None and _DOCUMENT.match(text) and name in used:
                found.append((node.lineno, name, text))
    for fn in ast.walk(tree):  # query = "..." inside functions
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "query"
            ):
                text = _render(node.value, module_strings)
                if text is not None and _DOCUMENT.match(text):
                    found.append((node.lineno, f"{fn.name}_query", text))
    return [
        (name, client.endpoints.get(name, client.default_endpoint), text) for _, name, text in sorted(found)
    ]


def write(client: Client, documents: list[tuple[str, str, str]]) -> list[Path]:
    paths = []
    for name, endpoint, text in documents:
        path = OUT / client.key / f"{name}.graphql"
        header = (
            f"# deployments: {endpoint}\n"
            f"# source: {client.repo} {client.path} @ {client.commit} ({name})\n"
            "# Placeholders filled with tools/collect_live_queries.py sample values.\n"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + text.strip("\n") + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for c in CLIENTS:
        ap.add_argument(f"--{c.key}", type=Path, required=True, help=f"git dir of {c.repo}")
    args = ap.parse_args(argv)
    total = 0
    for c in CLIENTS:
        docs = collect(c, _git_show(getattr(args, c.key), c.commit, c.path))
        for stale in sorted((OUT / c.key).glob("*.graphql")):
            stale.unlink()
        write(c, docs)
        total += len(docs)
        print(f"{c.key}: {len(docs)} documents")
    print(f"{total} documents in {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
