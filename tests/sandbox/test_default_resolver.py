"""The fake server's default field resolver and its tables (``sandbox/default_resolver.py``,
``sandbox/serialize.py``): what the responses look like is checked by the other sandbox tests; these check
the tables name real types and fields (a misspelt name would silently fall back to the default), the
conversions, and that fields below the root resolve from a snapshot taken under the account lock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from graphql import GraphQLFloat, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.sandbox.default_resolver import snake, write
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.resolvers import RequestContext
from kraken2mqtt.sandbox.schema import SCHEMAS, build_schema
from kraken2mqtt.sandbox.serialize import FIELDS, TYPES
from tests.sandbox.conftest import T0


def _types() -> dict[str, set[str]]:
    """Type name -> its fields, over every deployment's and endpoint's schema."""
    out: dict[str, set[str]] = {}
    for name in SCHEMAS:
        for t in build_schema(name).type_map.values():
            fields = getattr(t, "fields", None)
            if fields is not None:
                out.setdefault(t.name, set()).update(fields)
            else:
                out.setdefault(t.name, set())
    return out


def test_every_table_names_a_type_and_each_entry_a_field_of_one_of_its_types() -> None:
    types = _types()
    assert set(FIELDS) <= set(types), set(FIELDS) - set(types)
    assert set(TYPES) <= set(types), set(TYPES) - set(types)
    users: dict[int, set[str]] = {}  # a table shared by several types (tariffs, devices) serves their union
    for type_name, table in FIELDS.items():
        users.setdefault(id(table), set()).add(type_name)
    for type_name, table in FIELDS.items():
        known = set().union(*(types[t] for t in users[id(table)]))
        assert set(table) <= known, (type_name, set(table) - known)


def test_snake_case_attributes() -> None:
    assert snake("stateOfChargeLimit") == "state_of_charge_limit"
    assert snake("id") == "id"
    assert snake("preVatUnitRate") == "pre_vat_unit_rate"


def test_values_are_written_as_their_scalar_type() -> None:
    def scalar(name: str) -> GraphQLScalarType:
        return GraphQLScalarType(name)

    at = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    assert write(7.5, scalar("Decimal")) == "7.5"
    assert write(2, GraphQLNonNull(scalar("NormalizedDecimal"))) == "2.0"
    assert write("0.19", scalar("Decimal")) == "0.19"
    assert write(at, scalar("DateTime")) == "2026-01-15T17:00:00+00:00"
    assert write(date(2026, 1, 15), scalar("Date")) == "2026-01-15"
    assert write("7:00", scalar("Time")) == "07:00:00"
    assert write([1.0, None], GraphQLList(scalar("Decimal"))) == ["1.0", None]
    assert write(7.5, GraphQLFloat) == 7.5
    assert write(None, scalar("Decimal")) is None


def test_a_field_without_an_attribute_or_table_entry_is_null() -> None:
    fk = FakeKraken(clock=ManualClock(T0))
    preferences = fk.schema.type_map["SmartFlexDevicePreferences"]
    assert isinstance(preferences, GraphQLObjectType)
    resolve = preferences.fields["gridExport"].resolve  # SimPreferences has no grid_export
    assert resolve is not None

    class Info:
        context = RequestContext(fk.resolvers, "valid", now=T0)

    assert resolve(fk.account.devices[0].preferences, Info()) is None
    assert preferences.fields["mode"].resolve is not None
    assert preferences.fields["mode"].resolve(fk.account.devices[0].preferences, Info()) == "CHARGE"


def test_fields_below_the_root_resolve_from_a_copy_taken_under_the_lock() -> None:
    clock = ManualClock(T0)
    fk = FakeKraken(clock=clock)
    ctx = RequestContext(fk.resolvers, "valid")
    devices: Any = fk.resolvers.call("devices", {"accountNumber": fk.account.number}, ctx)
    assert ctx.now == T0
    assert [d.id for d in devices] == [d.id for d in fk.account.devices]
    assert all(mine is not live for mine, live in zip(devices, fk.account.devices, strict=True))
    fk.account.devices[0].sim_soc_pct = 99.0  # the world moves on after the lock is released
    assert devices[0].sim_soc_pct != 99.0
    account = fk.resolvers.call("account", {"accountNumber": fk.account.number}, ctx)
    assert account is not fk.account and account == fk.account
