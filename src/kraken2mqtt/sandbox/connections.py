"""Relay connections over a list of nodes (``edges { cursor node }``, ``pageInfo``, totals), as Kraken pages
its lists: cursors are ``arrayconnection:<index>`` in base64."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError

Json = dict[str, Any]


def _cursor(i: int) -> str:
    return base64.b64encode(f"arrayconnection:{i}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise GraphQLError(f"Invalid cursor {cursor!r}.") from exc


def connection(nodes: Sequence[Any], args: Mapping[str, Any], *, totals: bool = True) -> Json:
    """A Relay connection over ``nodes`` honouring first/last/before/after."""
    n = len(nodes)
    start, end = 0, n
    if args.get("after"):
        start = _uncursor(args["after"]) + 1
    if args.get("before"):
        end = min(end, _uncursor(args["before"]))
    if args.get("first") is not None:
        end = min(end, start + max(0, int(args["first"])))
    if args.get("last") is not None:
        start = max(start, end - max(0, int(args["last"])))
    edges = [{"cursor": _cursor(i), "node": nodes[i]} for i in range(start, end)]
    out: Json = {"edges": edges, "pageInfo": page_info(edges, end < n, start > 0)}
    if totals:
        out["totalCount"] = n
        out["edgeCount"] = len(edges)
    return out


def page_info(edges: list[Json], has_next: bool, has_previous: bool) -> Json:
    return {
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": edges[-1]["cursor"] if edges else None,
        "hasNextPage": has_next,
        "hasPreviousPage": has_previous,
    }
