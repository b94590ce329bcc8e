"""Fixtures for the fake-Kraken tests: a started server on a ManualClock and a small GraphQL helper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.sandbox.fake_kraken import FakeKraken

# 17:00 UK (GMT in January): after 16:00, so the demo Agile tariff has tomorrow's prices too.
T0 = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
ACCOUNT = "A-SANDBOX1"
API_KEY = "sk_test_fake_api_key"


class Gql:
    """POST GraphQL documents to a FakeKraken over a real keep-alive connection."""

    def __init__(self, fk: FakeKraken, client: httpx.Client) -> None:
        self.fk = fk
        self.client = client
        self.token: str | None = None

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        op: str | None = None,
        token: str | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        headers = {}
        tok = token if token is not None else self.token
        if auth and tok:
            headers["Authorization"] = tok
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if op is not None:
            body["operationName"] = op
        return self.client.post(self.fk.url, json=body, headers=headers)

    def __call__(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        resp = self.post(query, variables, **kw)
        assert resp.status_code in (200, 400), resp.text
        out = resp.json()
        assert isinstance(out, dict)
        # The live server's split (HAOE issue 972): a document that fails to parse or validate gets 400
        # with errors and no data; everything else (KT-CT errors included) gets 200.
        assert (resp.status_code == 400) == ("data" not in out and bool(out.get("errors"))), resp.text
        return out

    def mint(self, credential: dict[str, Any]) -> dict[str, Any]:
        out = self(
            "mutation ObtainKrakenToken($input: ObtainJSONWebTokenInput!) {"
            " obtainKrakenToken(input: $input) { token payload refreshToken refreshExpiresIn } }",
            {"input": credential},
            op="ObtainKrakenToken",
            auth=False,
        )
        data = out["data"]["obtainKrakenToken"]
        assert isinstance(data, dict), out
        return data

    def login(self) -> str:
        token = self.mint({"APIKey": API_KEY})["token"]
        assert isinstance(token, str)
        self.token = token
        return token


def error_codes(out: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("errorCode") for e in out.get("errors", [])]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fk(clock: ManualClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock) as server:
        yield server


@pytest.fixture
def gql(fk: FakeKraken) -> Iterator[Gql]:
    with httpx.Client(timeout=5.0) as client:
        yield Gql(fk, client)


@pytest.fixture
def authed(gql: Gql) -> Gql:
    gql.login()
    return gql


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run that included test_live_queries: how many of the live clients' production documents the
    fake's SDL accepts, which it rejects and why, and which select a field past its removal date."""
    ran = any(
        "test_live_queries" in getattr(report, "nodeid", "")
        for reports in terminalreporter.stats.values()
        for report in reports
    )
    if not ran:
        return
    from tests.sandbox.test_live_queries import AS_OF, KNOWN_REJECTED, acceptance, removed_as_of

    accepted, total = acceptance()
    tr = terminalreporter
    tr.write_sep("-", "live clients' production queries (tests/sandbox/live_queries)")
    tr.write_line(f"accepted by the fake's SDL: {accepted} of {total} ({100 * accepted / total:.0f} %)")
    for name, why in sorted(KNOWN_REJECTED.items()):
        tr.write_line(f"  rejected {name}: {why}")
    removed = removed_as_of()
    tr.write_line(
        f"accepted with fields past their docs removal date rejected (as of {AS_OF}): "
        f"{accepted - len(removed)} of {total} ({100 * (accepted - len(removed)) / total:.0f} %)"
    )
    for name, errors in sorted(removed.items()):
        tr.write_line(f"  {name}: " + "; ".join(errors))
