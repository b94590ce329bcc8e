"""Every fault kind, and keep-alive, over real sockets."""

from __future__ import annotations

import http.client
import json
import time

import httpx
import pytest

from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.sandbox.conftest import ACCOUNT, Gql, error_codes

VIEWER = "query Viewer { viewer { id } }"
TWO = f'query Two {{ viewer {{ id }} plannedDispatches(accountNumber: "{ACCOUNT}") {{ start }} }}'


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_http_errors(authed: Gql, fk: FakeKraken, kind: str, status: int) -> None:
    fk.faults.inject(kind, times=2)
    assert authed.post(VIEWER).status_code == status
    assert authed.post(VIEWER).status_code == status
    assert authed.post(VIEWER).status_code == 200
    assert [r.status for r in fk.requests[-3:]] == [status, status, 200]


def test_http_429_with_retry_after(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("http_429", retry_after=7)
    resp = authed.post(VIEWER)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"


def test_fault_only_for_named_operation(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("http_500", operation="Two")
    assert authed.post(VIEWER, op="Viewer").status_code == 200
    assert authed.post(TWO, op="Two").status_code == 500
    assert authed.post(TWO, op="Two").status_code == 200
    fk.faults.inject("http_500", times=5)
    fk.faults.clear()
    assert authed.post(VIEWER).status_code == 200
    with pytest.raises(ValueError, match="unknown fault"):
        fk.faults.inject("gremlins")


def test_timeout_and_slow(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("timeout", delay=0.3)
    with pytest.raises(httpx.ReadTimeout):
        authed.client.post(
            fk.url, json={"query": VIEWER}, headers={"Authorization": authed.token or ""}, timeout=0.1
        )
    fk.faults.inject("slow", delay=0.15)
    t0 = time.monotonic()
    out = authed(VIEWER)
    assert time.monotonic() - t0 >= 0.15 and out["data"]["viewer"]


def test_reset(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("reset")
    with pytest.raises(httpx.TransportError):
        authed.post(VIEWER)
    assert fk.requests[-1].status == 0
    assert authed(VIEWER)["data"]["viewer"]


def test_invalid_json_wrong_shape_and_raw(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("invalid_json")
    resp = authed.post(VIEWER)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)
    fk.faults.inject("wrong_shape")
    assert authed.post(VIEWER).json() == {"data": [1, 2]}
    fk.faults.inject("wrong_shape", body=[{"data": None}])
    assert authed.post(VIEWER).json() == [{"data": None}]
    body = {"data": {"viewer": {"id": "1", "mood": "UNKNOWN_ENUM_VALUE"}}}
    fk.faults.inject("raw", body=body, status=418)
    resp = authed.post(VIEWER)
    assert resp.status_code == 418 and resp.json() == body


def test_rate_limited_and_expired_token_faults(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("rate_limited")
    out = authed(TWO)
    assert out["data"] == {"viewer": None, "plannedDispatches": None}
    assert error_codes(out) == ["KT-CT-1199", "KT-CT-1199"]
    assert out["errors"][0]["extensions"]["errorCode"] == "KT-CT-1199"
    fk.faults.inject("expired_token")
    out = authed(VIEWER)
    assert error_codes(out) == ["KT-CT-1120"]
    assert "errors" not in authed(VIEWER)  # the token itself is still fine


def test_brownout_all_fields_or_one(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("brownout")
    out = authed(TWO)
    assert error_codes(out) == ["KT-CT-1113", "KT-CT-1113"]
    assert out["errors"][0]["message"] == "Disabled GraphQL field requested."
    fk.faults.inject("brownout", field="plannedDispatches")
    out = authed(TWO)
    assert out["data"]["viewer"] == {"id": "1"} and out["data"]["plannedDispatches"] is None
    assert out["errors"][0]["path"] == ["plannedDispatches"]
    assert error_codes(out) == ["KT-CT-1113"]


def test_bad_requests(authed: Gql, fk: FakeKraken) -> None:
    assert authed.client.post(fk.url, content=b"{not json").status_code == 400
    assert authed.client.post(fk.url, json=[{"query": VIEWER}]).status_code == 400
    assert (
        authed.client.post(fk.url.replace("/v1/graphql/", "/elsewhere/"), json={"query": VIEWER}).status_code
        == 404
    )
    out = authed("query { viewer { nope } }")
    assert "data" not in out and "nope" in out["errors"][0]["message"]
    # The live server's answer (HAOE issue 972): HTTP 400, {"errors":[{"message", "locations"}]}, no data.
    resp = authed.post("query {\n  viewer { nope } }")
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {
        "errors": [
            {
                "message": "Cannot query field 'nope' on type 'AccountUserType'.",
                "locations": [{"line": 2, "column": 12}],
            }
        ]
    }
    assert authed.post("query { viewer { id }").status_code == 400  # a syntax error too
    assert fk.stats.requests["anonymous"] >= 3


def test_keep_alive_two_requests_on_one_connection(authed: Gql, fk: FakeKraken) -> None:
    url = httpx.URL(fk.url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=5)
    try:
        body = json.dumps({"query": "{ krakenVersion { number } }"})
        conn.request("POST", url.path, body=body, headers={"Content-Type": "application/json"})
        first = conn.getresponse()
        assert first.status == 200 and first.getheader("Content-Length")
        first.read()
        sock = conn.sock
        assert sock is not None
        conn.request("POST", url.path, body=body, headers={"Content-Type": "application/json"})
        second = conn.getresponse()
        assert second.status == 200 and json.loads(second.read())["data"]["krakenVersion"]
        assert conn.sock is sock  # same socket: the server kept the connection open
    finally:
        conn.close()


# -- the live API's error shapes --------------------------------------------------------------------------


def test_live_error_shapes(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("edge_block")
    resp = authed.post(VIEWER)
    assert resp.status_code == 403 and resp.headers["Content-Type"].startswith("text/html")
    assert b"Generated by cloudfront" in resp.content
    for kind, code in [
        ("backend_rate_limited", "OE-0002"),
        ("backend_unauthenticated", "OE-0103"),
    ]:
        fk.faults.inject(kind)
        out = authed(VIEWER)
        assert out["data"] is None and error_codes(out) == [code] and "path" not in out["errors"][0]
    fk.faults.inject("field_unauthorized", field="viewer")
    out = authed(TWO)
    assert out["data"]["viewer"] is None and out["data"]["plannedDispatches"] is not None
    assert out["errors"][0]["path"] == ["viewer"]
    assert out["errors"][0]["extensions"]["errorType"] == "AUTHORIZATION"
    fk.faults.inject("missing_first", field="plannedDispatches")
    assert error_codes(authed(TWO)) == ["KT-CT-1201"]


def test_jwt_expired_expires_the_token(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("jwt_expired")
    out = authed(VIEWER)
    assert error_codes(out) == ["KT-CT-1124"]
    assert out["errors"][0]["message"] == "Signature of the JWT has expired."
    assert error_codes(authed(VIEWER)) == ["KT-CT-1120"]  # the token stays expired


def test_complexity_only_for_combined_documents(authed: Gql, fk: FakeKraken) -> None:
    fk.faults.inject("too_complex", times=2)
    assert authed(VIEWER)["data"]["viewer"]  # one root field: answered (and the fault used up)
    assert error_codes(authed(TWO)) == ["KT-CT-1188"]
    fk.faults.inject("too_many_nodes", max_root_fields=2)
    assert authed(TWO)["data"]["viewer"]
    fk.faults.inject("too_many_nodes")
    assert error_codes(authed(TWO)) == ["KT-CT-1189"]


def test_nested_error_keeps_the_rest(authed: Gql, fk: FakeKraken) -> None:
    query = f'query D {{ devices(accountNumber: "{ACCOUNT}") {{ id status {{ current }} }} }}'
    fk.faults.inject("nested_error", path=["devices", 0, "status"])
    out = authed(query)
    devices = out["data"]["devices"]
    assert devices[0]["status"] is None and devices[1]["status"] is not None
    assert out["errors"][0]["path"] == ["devices", 0, "status"] and error_codes(out) == ["KT-CT-4360"]
