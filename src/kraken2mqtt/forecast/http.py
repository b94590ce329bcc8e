"""One GET helper for the forecast services: status codes to :mod:`.errors`, JSON or a clear error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from kraken2mqtt import __version__
from kraken2mqtt.forecast.errors import (
    ForecastMalformed,
    ForecastRateLimited,
    ForecastRejected,
    ForecastUnavailable,
)

USER_AGENT = f"kraken2mqtt/{__version__}"

#: Reads a retry time from a rate-limit answer's JSON body (None: not given).
RetryAt = Callable[[Any], datetime | None]


async def get_json(
    client: httpx.AsyncClient,
    service: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    retry_at: RetryAt | None = None,
) -> Any:
    """GET ``url`` and return its JSON body. ``service`` names the service in errors; the URL is never
    put in an error (a Forecast.Solar key lives in its path)."""
    try:
        response = await client.get(
            url,
            params=params,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        )
    except httpx.TimeoutException as exc:
        raise ForecastUnavailable(f"{service}: timed out") from exc
    except httpx.HTTPError as exc:
        raise ForecastUnavailable(f"{service}: {type(exc).__name__}") from exc
    body = _json_or_none(response)
    status = response.status_code
    if status == 429:
        when = retry_at(body) if retry_at is not None and body is not None else None
        raise ForecastRateLimited(f"{service}: rate limit reached", when)
    if status >= 500:
        raise ForecastUnavailable(f"{service}: HTTP {status}")
    if status >= 400:
        raise ForecastRejected(f"{service}: HTTP {status}: {_reason(body)}")
    if body is None:
        raise ForecastMalformed(f"{service}: the answer is not JSON")
    return body


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _reason(body: Any) -> str:
    """A short reason from a service's error body (Open-Meteo ``reason``, Forecast.Solar ``message.text``,
    Solcast ``response_status.message``), cut to 200 characters."""
    text = ""
    if isinstance(body, dict):
        msg = body.get("message")
        status = body.get("response_status")
        if isinstance(body.get("reason"), str):
            text = body["reason"]
        elif isinstance(msg, dict) and isinstance(msg.get("text"), str):
            text = msg["text"]
        elif isinstance(msg, str):
            text = msg
        elif isinstance(status, dict) and isinstance(status.get("message"), str):
            text = status["message"]
    return (text or "no reason given")[:200]
