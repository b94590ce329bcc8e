"""The fake server's field resolver below the root: a GraphQL field reads the simulated object's attribute.

A field ``fooBarBaz`` of a simulated object (a ``sim_account`` dataclass, or an :class:`Of`) is its
attribute ``foo_bar_baz`` (None when it has none), unless the type's table (``serialize.FIELDS``) says
otherwise: an attribute of another name, a constant, or a function of the object and the :class:`Call`
(``now`` is the request context's, which the root resolver sets). The value is
then written as Kraken writes the field's scalar type: Decimal as a plain string (``1.0``, ``-7.5``),
DateTime in ISO 8601 UTC, Date in ISO 8601, Time as ``HH:MM:SS``. A dict (what a root resolver built by
hand) is read as graphql-core's default resolver reads it: by key, calling a callable with the field's
arguments, nothing converted.

The type of an interface or union member: a dict's ``__typename``, else the abstract type's entry in
``serialize.TYPES`` (a function of the object), else its one possible type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from graphql import (
    GraphQLAbstractType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)


@dataclass(frozen=True)
class Call:
    """What a field function sees besides its object: the time of the root field and the field's arguments."""

    now: datetime
    args: Mapping[str, Any]


#: A field's value: a constant, or ``fn(obj, call)`` (see :func:`attr` for an attribute of another name).
FieldFn = Callable[[Any, Call], Any]
Fields = Mapping[str, Mapping[str, Any]]
Types = Mapping[str, Callable[[Any], str]]


@dataclass(frozen=True)
class Of:
    """A simulated object seen with what it belongs to (an agreement with its meter point); its own fields
    are those of ``item``."""

    item: Any
    owner: Any


def attr(name: str) -> FieldFn:
    """The field is the object's attribute ``name``."""
    return lambda o, _c: getattr(o.item if isinstance(o, Of) else o, name)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat()


def dec(x: float | None) -> str | None:
    """A Decimal as a plain string: 1.0, -7.5, 0.125."""
    if x is None:
        return None
    s = f"{x:.6f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def hhmmss(t: str | None) -> str | None:
    """'07:00' / '07:00:00' -> '07:00:00'."""
    if t is None:
        return None
    parts = t.split(":")
    return f"{int(parts[0]):02d}:{int(parts[1]):02d}:00"


def parse_dt(value: Any) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # "If no UTC offset is included, UTC is assumed."


def _decimal(v: Any) -> Any:
    return dec(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


_WRITE: dict[str, Callable[[Any], Any]] = {
    "Decimal": _decimal,
    "NormalizedDecimal": _decimal,
    "DateTime": lambda v: iso(v) if isinstance(v, datetime) else v,
    "Date": lambda v: v.isoformat() if isinstance(v, date) else v,
    "Time": lambda v: hhmmss(v) if isinstance(v, str) else v,
}


def write(value: Any, type_: GraphQLOutputType) -> Any:
    """``value`` as Kraken writes a ``type_`` (lists element by element)."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        return [write(v, type_.of_type) for v in value]
    if isinstance(type_, GraphQLScalarType) and type_.name in _WRITE:
        return _WRITE[type_.name](value)
    return value


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """``stateOfChargeLimit`` -> ``state_of_charge_limit``."""
    return _CAMEL.sub("_", name).lower()


def _same_name(name: str) -> FieldFn:
    """The attribute of the field's name in snake_case; None if there is none (a field not simulated)."""
    attribute = snake(name)

    def value(o: Any, _c: Call) -> Any:
        v = getattr(o.item if isinstance(o, Of) else o, attribute, None)
        return None if callable(v) else v  # not a method of a tuple or dataclass

    return value


def _field_resolver(table: Mapping[str, Any], name: str, field: GraphQLField) -> Callable[..., Any]:
    spec = table[name] if name in table else _same_name(name)

    def resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if isinstance(source, dict):
            value = source.get(name)
            return value(info, **args) if callable(value) else value
        value = spec(source, Call(info.context.now, args)) if callable(spec) else spec
        return write(value, field.type)

    return resolve


def _type_resolver(abstract: GraphQLAbstractType, types: Types) -> Callable[..., str | None]:
    fn = types.get(abstract.name)

    def resolve_type(value: Any, info: GraphQLResolveInfo, _abstract: GraphQLAbstractType) -> str | None:
        if isinstance(value, dict) and isinstance(value.get("__typename"), str):
            return str(value["__typename"])
        if fn is not None:
            return fn(value.item if isinstance(value, Of) else value)
        possible = info.schema.get_possible_types(abstract)
        return possible[0].name if len(possible) == 1 else None

    return resolve_type


def install(schema: GraphQLSchema, fields: Fields, types: Types) -> None:
    """Resolve every non-root field of ``schema`` as the module docstring says."""
    roots = {t for t in (schema.query_type, schema.mutation_type) if t is not None}
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or type_ in roots:
            continue
        if isinstance(type_, GraphQLObjectType):
            table = fields.get(type_.name, {})
            for name, field in type_.fields.items():
                field.resolve = _field_resolver(table, name, field)
        elif isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
            type_.resolve_type = _type_resolver(type_, types)
