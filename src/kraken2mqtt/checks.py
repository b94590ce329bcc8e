"""``kraken2mqtt check-config``: validate the settings and, with ``--online``, reach Kraken and the broker.

Online, every query document the daemon may send to the deployment is sent once (no retries), and the
result says per document whether the server accepted it: a GraphQL validation error ("Cannot query field
'x' on type 'Y'") means rejected; data, or an application error of the account (not found, a disabled
field, a variable this check cannot know such as a device id) means the document itself is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from kraken2mqtt.app import first_look
from kraken2mqtt.clock import SystemClock
from kraken2mqtt.daemon import make_client, open_store, target_from
from kraken2mqtt.kraken import capabilities, documents
from kraken2mqtt.kraken.client import (
    GraphQLResult,
    KrakenClient,
    RequestEvent,
    UnknownEndpointError,
    declared_endpoint,
)
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    CredentialsError,
    KrakenError,
    KrakenValidationError,
    RateLimitedError,
    TransportError,
)
from kraken2mqtt.mqtt.holds import describe_links
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
    for line in describe_links(settings.devices, m.ha_person_hold_minutes):
        step(True, line)
    if not online:
        return 0 if good else 1
    if k.has_credentials:
        store = open_store(settings)
        try:
            sent: dict[str, str] = {}  # operation -> outcome of the requests sent so far

            def record(event: RequestEvent) -> None:
                sent.setdefault(event.operation, event.outcome)

            target = target_from(settings)
            async with make_client(settings, target, store, SystemClock(), record, attempts=1) as client:
                found = await first_look(client)
                good &= step(True, f"Kraken: authenticated; accounts {', '.join(found.accounts) or '(none)'}")
                if k.account_number is not None:
                    known = k.account_number in found.accounts
                    good &= step(
                        known,
                        f"Kraken: account {k.account_number} "
                        + ("found" if known else "is not one of this login's accounts"),
                    )
                account = k.account_number or (found.accounts[0] if found.accounts else None)
                done = {op for op, outcome in sent.items() if outcome in ("ok", "partial")}
                for check in await check_documents(client, k.deployment, account, already=done):
                    good &= step(check.accepted, f"Kraken document {check.name}: {check.verdict}")
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


@dataclass(frozen=True, slots=True)
class DocumentCheck:
    name: str
    endpoint: str
    accepted: bool
    verdict: str  # what a person reads: "accepted", "rejected: Cannot query field ..."


_VARIABLE_ERROR = re.compile(r"^Variable '\$\w+'")


def documents_for(deployment: str) -> list[documents.Document]:
    """Every query the daemon may send to ``deployment``: its root fields are documented there and the
    document does not declare other deployments (``# deployments: ...``). Mutations are never sent."""
    found = []
    for name in documents.names():
        doc = documents.load(name)
        if doc.kind != "query":
            continue
        declared = _declared_deployments(doc.source)
        if declared is not None and deployment not in declared:
            continue
        if documents.retired(doc, datetime.now(UTC).date()):
            continue  # past its `# until:` date (a removed field): never sent
        if all(capabilities.has(deployment, f) for f in doc.root_fields):
            found.append(doc)
    return found


def _declared_deployments(source: str) -> tuple[str, ...] | None:
    names = documents.header(source, "deployments")
    return None if names is None else tuple(names.split())


async def check_documents(
    client: KrakenClient, deployment: str, account: str | None, *, already: set[str] | None = None
) -> list[DocumentCheck]:
    """Send each of :func:`documents_for` once (not those in ``already``, answered a moment ago); say per
    document whether the server accepted it."""
    results = []
    for doc in documents_for(deployment):
        endpoint = declared_endpoint(doc) or "main"
        if already and doc.name in already:
            results.append(DocumentCheck(doc.name, endpoint, True, "accepted"))
            continue
        variables: dict[str, Any] = {"accountNumber": account} if account else {}
        try:
            result = await client.execute(doc, variables, allow_partial=True, max_wait=30.0)
        except (CredentialsError, AuthBackoffError, RateLimitedError, TransportError):
            raise  # the same for every document: reported once
        except UnknownEndpointError as exc:
            results.append(DocumentCheck(doc.name, endpoint, False, f"not sent: {exc.message}"))
            continue
        except KrakenError as exc:
            results.append(_verdict_of_error(doc.name, endpoint, exc))
            continue
        results.append(_verdict(doc.name, endpoint, result))
    return results


def _verdict_of_error(name: str, endpoint: str, exc: KrakenError) -> DocumentCheck:
    if isinstance(exc, KrakenValidationError) and exc.code is None:
        if _VARIABLE_ERROR.match(exc.message):
            return DocumentCheck(name, endpoint, True, f"accepted (not run: {exc.message})")
        return DocumentCheck(name, endpoint, False, f"rejected: {exc.message}")
    return DocumentCheck(name, endpoint, True, f"accepted (the account answered {exc})")


def _verdict(name: str, endpoint: str, result: GraphQLResult) -> DocumentCheck:
    if not result.errors:
        return DocumentCheck(name, endpoint, True, "accepted")
    notes = sorted({f"{e.root_field or '?'}: {e.code or type(e).__name__}" for e in result.errors})
    return DocumentCheck(name, endpoint, True, f"accepted (field errors: {', '.join(notes)})")
