"""The redaction registry: credentials kept, tokens forgotten once stale, bounded, compiled on change."""

from __future__ import annotations

import base64
import json
import re
import threading

import pytest

from kraken2mqtt.redact import MASK, REGISTRY, SecretRegistry, jwt_expiry, redact, register_secret

HOUR = 3600.0


def _jwt(exp: float, n: int = 0) -> str:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'exp': exp, 'n': n})}.c2lnbmF0dXJl"


def test_credentials_are_kept_for_ever() -> None:
    reg = SecretRegistry(max_expiring=4, clock=Clock(1e9))
    reg.register("api-key-value")
    for n in range(100):
        reg.register(f"token-{n:04d}", expires_at=n * HOUR)
    assert "api-key-value" in reg
    assert reg.redact_text("key=api-key-value") == f"key={MASK}"


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_hourly_for_a_year_keeps_about_a_week_of_them() -> None:
    clock = Clock()
    reg = SecretRegistry(clock=clock)
    reg.register("the-password")
    for n in range(24 * 365):  # one access token and one refresh token an hour, for a year
        clock.now = n * HOUR
        reg.register(f"access-{n:05d}", expires_at=clock.now + HOUR)
        reg.register(f"refresh-{n:05d}", expires_at=clock.now + 7 * 24 * HOUR)
    assert len(reg) <= 1 + 7 * 24 + 4 + reg.keep_recent  # the password, live refresh tokens, a few more
    assert "access-08759" in reg and "refresh-08759" in reg  # the newest are masked
    assert "access-08000" not in reg and "refresh-08000" not in reg  # long expired
    assert "refresh-08700" in reg  # not expired yet
    assert reg.redact_text("refresh-08759 access-08759") == f"{MASK} {MASK}"


def test_expired_tokens_drop_out_but_the_most_recent_stay() -> None:
    clock = Clock(10_000.0)
    reg = SecretRegistry(keep_recent=2, retain_expired=HOUR, clock=clock)
    reg.register("old-token", expires_at=1000.0)
    reg.register("live-token", expires_at=20_000.0)
    assert "old-token" in reg  # one of the two registered last
    reg.register("sim-token-1", expires_at=5.0)  # a simulated clock's tokens, long "expired"
    reg.register("sim-token-2", expires_at=6.0)
    assert "old-token" not in reg and "live-token" in reg
    assert "sim-token-1" in reg and "sim-token-2" in reg


def test_at_most_the_most_recent_tokens_are_kept() -> None:
    reg = SecretRegistry(max_expiring=3, clock=Clock())
    for n in range(5):
        reg.register(f"token-{n}", expires_at=100.0)
    assert [f"token-{n}" in reg for n in range(5)] == [False, False, True, True, True]


def test_the_pattern_is_compiled_only_when_the_set_changes() -> None:
    reg = SecretRegistry(clock=Clock())
    reg.register("secret-one")
    assert reg.redact_text("secret-one") == MASK
    reg.register("secret-one")
    reg.register("tok-a", expires_at=5.0)
    reg.register("tok-a", expires_at=5.0)  # known already
    reg.register("secret-one", expires_at=5.0)  # now a token: same set of values
    reg.register("abc")  # too short to register
    assert reg.compilations == 1  # at the first redaction; registering alone compiles nothing
    assert reg.redact_text("secret-one tok-a") == f"{MASK} {MASK}"
    assert reg.redact_text("tok-a") == MASK
    assert reg.compilations == 2  # once more for tok-a, at the next redaction only


def test_a_jwts_own_expiry_is_used() -> None:
    token = _jwt(1_800_000_000.0)
    assert jwt_expiry(token) == 1_800_000_000.0
    assert jwt_expiry("not.a.jwt") is None and jwt_expiry("plain") is None
    reg = SecretRegistry(keep_recent=0, retain_expired=HOUR, clock=Clock(1_800_000_000.0 + 2 * HOUR))
    reg.register(token)
    assert token not in reg  # expired two hours ago: dropped as soon as it is seen
    reg.register(_jwt(1_900_000_000.0))
    assert len(reg) == 1


def test_the_module_registry_masks_values_and_secret_keys() -> None:
    register_secret("module-level-secret-42")
    assert "module-level-secret-42" in REGISTRY
    assert redact({"msg": "x module-level-secret-42 y", "password": "hunter2!", "n": 3}) == {
        "msg": f"x {MASK} y",
        "password": MASK,
        "n": 3,
    }


def test_a_redaction_while_the_pattern_compiles_does_not_wait_for_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Compiling can run a finalizer that logs (an asyncio task destroyed while pending), so redacts, on the
    # same thread: the nested call must not wait on a lock the outer one holds (a test run hung here once).
    reg = SecretRegistry(clock=Clock())
    reg.register("secret-one")
    real = re.compile
    nested: list[str] = []

    def compile_and_log(pattern: str, flags: int = 0) -> re.Pattern[str]:
        if not nested:
            nested.append("")
            nested[0] = reg.redact_text("finalizer says secret-one")
        return real(pattern, flags)

    monkeypatch.setattr("kraken2mqtt.redact.re.compile", compile_and_log)
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(reg.redact_text("secret-one")), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "redaction deadlocked"
    assert done == [MASK] and nested == [f"finalizer says {MASK}"]
