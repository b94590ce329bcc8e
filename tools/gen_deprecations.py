#!/usr/bin/env python3
"""Generate the SDL's ``@deprecated`` directives from the scraped Kraken docs (dev-time tool).

Reads ``../shared/kraken-docs`` (relative to the repository root) and

1. writes every deprecation notice the docs give (objects page 002, query pages 000/001/003) plus the few
   the live API announced outside the docs (:data:`LIVE`) to
   ``tests/sandbox/fixtures/docs_deprecations.json``;
2. rewrites ``src/kraken2mqtt/sandbox/schema.graphql`` in place so that every field of our SDL that a notice
   names carries ``@deprecated(reason: "removal on or after YYYY-MM-DD; <the docs' advice> (<source>)")``.

Deterministic: same docs, same SDL in -> same bytes out. ``--check`` changes nothing and exits 1 when either
file is out of date (the test suite does the same check).

Notices on the query pages name root fields: they are applied to ``Query`` (the union over deployments; one
Kraken platform, one removal) and to that deployment's ``QueryFor<Deployment>`` variant when it redefines
the field. The objects page lost some headings; a notice under a lost heading is applied to every SDL type
that has the field and whose fields all appear in that object's field list.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    Source,
    parse,
)

REPO = Path(__file__).resolve().parents[1]
#: ``../shared/kraken-docs`` beside the repository (CI); a worktree one level deeper finds it one level up.
DOCS = next(
    (
        d
        for d in (REPO.parent / "shared" / "kraken-docs", REPO.parent.parent / "shared" / "kraken-docs")
        if d.is_dir()
    ),
    REPO.parent / "shared" / "kraken-docs",
)
SDL = REPO / "src" / "kraken2mqtt" / "sandbox" / "schema.graphql"
LISTING = REPO / "tests" / "sandbox" / "fixtures" / "docs_deprecations.json"

#: Query pages: file prefix -> (deployment label, variant type name in our SDL).
QUERY_PAGES = {
    "000": ("GB", "Query"),
    "001": ("DE", "QueryForOctopusDe"),
    "003": ("AU", "QueryForRedEnergyAu"),
}
OBJECTS_PAGE = "002"


@dataclass(frozen=True)
class Notice:
    """One deprecation notice: ``type_name`` is None where the docs lost the object's heading."""

    source: str
    type_name: str | None
    field: str
    marked: str | None
    removal: str
    advice: str
    #: Field names of the object the notice sits in (only for a lost heading, to find the type).
    sibling_fields: tuple[str, ...] = ()

    def sort_key(self) -> tuple[str, str, str, str, tuple[str, ...]]:
        return (self.source, self.type_name or "", self.field, self.removal, self.sibling_fields)

    @property
    def reason(self) -> str:
        marked = f", marked {self.marked}" if self.marked else ""
        return f"removal on or after {self.removal}; {self.advice} ({self.source}{marked})"


#: Deprecations the live API announced outside the scraped docs (see ../shared/kraken-live-api.md).
LIVE: tuple[Notice, ...] = (
    Notice(
        "live: Kraken announcement 2025-05-27, HAOE issue 1652",
        "Query",
        "plannedDispatches",
        "2025-05-27",
        "2026-01-16",
        "use 'flexPlannedDispatches(deviceId)' per device.",
    ),
    *(
        Notice(
            "live: HAOE ef536f3 (no longer works properly after 8 April 2026)",
            "Query",
            name,
            None,
            "2026-04-08",
            f"use '{new}' on the GB backend endpoint.",
        )
        for name, new in (
            ("octoHeatPumpControllerEuids", "heatPumpControllersAtLocation"),
            ("octoHeatPumpControllerStatus", "heatPumpControllerStatus"),
            ("octoHeatPumpControllerConfiguration", "heatPumpControllerConfiguration"),
            ("octoHeatPumpLivePerformance", "heatPumpLivePerformance"),
        )
    ),
)

_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_FIELD = re.compile(r"^([a-z_][A-Za-z0-9_]*) \(([\[\]A-Za-z0-9_!]+)\)$")
_QUERY_HEAD = re.compile(r"^(?:.*[}\]])?([a-z][A-Za-z0-9_]*)$")
_NOT_HEADINGS = {"Fields", "Example", "Deprecated", "Arguments", "Query", "Response", "Variables"}


def _notice_at(lines: list[str], i: int) -> tuple[str | None, str, str, int]:
    """Parse the notice starting at ``lines[i] == "Deprecated"``: (marked, removal, advice, last line)."""
    advice: list[str] = []
    marked = None
    for j in range(i + 1, min(i + 40, len(lines))):
        text = lines[j].strip()
        if text.startswith("- Marked as deprecated on"):
            marked = text.split()[-1].rstrip(".")
        elif text.startswith("- Scheduled for removal on or after"):
            return marked, text.split()[-1].rstrip("."), " ".join(advice), j
        elif text and not re.match(r"^The '\w+' field is deprecated\.$", text):
            advice.append(text)
    raise ValueError(f"line {i + 1}: deprecation notice without a removal date")


def parse_objects_page(text: str, source: str) -> list[Notice]:
    """Notices of the objects page: heading, ``Fields``, ``name (Type)`` entries, ``Example`` JSON."""
    lines = text.split("\n")
    raw: list[tuple[int, str | None, str, str | None, str, str]] = []  # (block, type, field, ...)
    block_fields: dict[int, list[str]] = {}
    block, type_name, field = 0, None, None
    in_example = False
    heading_expected = True
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "Example":
            in_example = True
            i += 1
            continue
        if in_example:
            # An example is a JSON object ending at a "}" in column 0; a few are empty.
            if line.startswith("}"):
                in_example, heading_expected = False, True
            elif line.strip() and not line.startswith((" ", "{", "}")):
                in_example, heading_expected = False, True
                continue  # this line is already the next object's first line
            i += 1
            continue
        if heading_expected and line.strip():
            heading_expected = False
            block += 1
            type_name = line if _NAME.match(line) and line not in _NOT_HEADINGS else None
            field = None
            block_fields[block] = []
            if type_name is not None:
                i += 1
                continue
        m = _FIELD.match(line)
        if m:
            field = m.group(1)
            block_fields.setdefault(block, []).append(field)
        elif line == "Deprecated":
            if field is None:
                raise ValueError(f"{source} line {i + 1}: notice outside a field")
            marked, removal, advice, i = _notice_at(lines, i)
            raw.append((block, type_name, field, marked, removal, advice))
        i += 1
    return [
        Notice(source, t, f, mk, rm, adv, () if t else tuple(sorted(block_fields[b])))
        for b, t, f, mk, rm, adv in raw
    ]


def parse_query_page(text: str, source: str) -> list[Notice]:
    """Notices of a query page: a root field's name, ``Type:``/``URL:`` lines, description, the notice."""
    lines = text.split("\n")
    out: list[Notice] = []
    for i, line in enumerate(lines):
        if line.strip() != "Deprecated":
            continue
        name = None
        for k in range(i - 1, max(i - 30, -1), -1):
            if lines[k].startswith("URL:") or lines[k].startswith("Type:"):
                continue
            if k + 1 < len(lines) and lines[k + 1].startswith(("Type:", "URL:")):
                m = _QUERY_HEAD.match(lines[k].strip())
                if m:
                    name = m.group(1)
                break
        if name is None:
            raise ValueError(f"{source} line {i + 1}: notice without a query name")
        marked, removal, advice, _ = _notice_at(lines, i)
        out.append(Notice(source, "Query", name, marked, removal, advice))
    return out


def collect(docs: Path = DOCS) -> list[Notice]:
    """Every notice of the docs, then the live ones, sorted."""
    notices: list[Notice] = []
    for path in sorted(docs.glob("*.txt")):
        prefix = path.name[:3]
        text = path.read_text(encoding="utf-8")
        if prefix == OBJECTS_PAGE:
            notices += parse_objects_page(text, f"docs {prefix}")
        elif prefix in QUERY_PAGES:
            notices += parse_query_page(text, f"docs {prefix}")
    return sorted(set(notices), key=Notice.sort_key) + list(LIVE)


def listing_json(notices: list[Notice]) -> str:
    rows = []
    for n in notices:
        row = asdict(n)
        row["sibling_fields"] = list(n.sibling_fields)
        rows.append(row)
    return "[\n" + ",\n".join(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows) + "\n]\n"


def load_listing(text: str) -> list[Notice]:
    return [Notice(**{**row, "sibling_fields": tuple(row["sibling_fields"])}) for row in json.loads(text)]


def _types(doc: DocumentNode) -> dict[str, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode]:
    return {
        d.name.value: d
        for d in doc.definitions
        if isinstance(d, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode)
    }


def targets(notices: list[Notice], sdl: str) -> dict[tuple[str, str], Notice]:
    """(SDL type, field) -> the notice that applies to it (the latest removal date wins on a clash)."""
    types = _types(parse(sdl))
    out: dict[tuple[str, str], Notice] = {}

    def put(type_name: str, n: Notice) -> None:
        key = (type_name, n.field)
        if key not in out or (n.removal, n.source) > (out[key].removal, out[key].source):
            out[key] = n

    named = {n.type_name for n in notices if n.type_name}
    for n in notices:
        if n.type_name == "Query":
            variants = [t for t in types if t == "Query" or t.startswith("QueryFor")]
            page = n.source.removeprefix("docs ")
            own_variant = QUERY_PAGES.get(page, ("", "Query"))[1]
            for t in variants:
                fields = {f.name.value for f in types[t].fields}
                if n.field in fields and (t in ("Query", own_variant) or not n.source.startswith("docs")):
                    put(t, n)
        elif n.type_name is not None:
            t_def = types.get(n.type_name)
            if t_def is not None and n.field in {f.name.value for f in t_def.fields}:
                put(n.type_name, n)
        else:
            siblings = set(n.sibling_fields)
            for t, t_def in types.items():
                fields = {f.name.value for f in t_def.fields}
                if t not in named and n.field in fields and fields <= siblings:
                    put(t, n)
    return out


def _directive(reason: str) -> str:
    return "@deprecated(reason: " + json.dumps(reason, ensure_ascii=False) + ")"


def apply(notices: list[Notice], sdl: str) -> str:
    """``sdl`` with each targeted field's ``@deprecated`` directive set to its notice (text edits only, so
    comments and layout survive)."""
    doc = parse(Source(sdl), no_location=False)
    types = _types(doc)
    edits: list[tuple[int, int, str]] = []
    for (type_name, field_name), n in targets(notices, sdl).items():
        field: FieldDefinitionNode = next(f for f in types[type_name].fields if f.name.value == field_name)
        new = _directive(n.reason)
        existing = [d for d in field.directives if d.name.value == "deprecated"]
        if existing:
            loc = existing[0].loc
            assert loc is not None
            edits.append((loc.start, loc.end, new))
        else:
            loc = field.type.loc
            assert loc is not None
            edits.append((loc.end, loc.end, " " + new))
    out = sdl
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=Path, default=DOCS)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when out of date")
    args = ap.parse_args(argv)
    notices = collect(args.docs)
    listing = listing_json(notices)
    sdl = SDL.read_text(encoding="utf-8")
    new_sdl = apply(notices, sdl)
    applied = targets(notices, new_sdl)
    docs_applied = {n for n in applied.values() if n.source.startswith("docs")}
    docs_total = sum(1 for n in notices if n.source.startswith("docs"))
    docs_fields = sum(1 for n in applied.values() if n.source.startswith("docs"))
    print(
        f"{docs_total} docs notices: {len(docs_applied)} apply to {docs_fields} fields of our SDL; "
        f"{len(notices) - docs_total} live notices apply to {len(applied) - docs_fields} more"
    )
    if args.check:
        stale = [p.name for p, new in ((LISTING, listing), (SDL, new_sdl)) if _read(p) != new]
        if stale:
            print("out of date: " + ", ".join(stale) + " (run tools/gen_deprecations.py)", file=sys.stderr)
            return 1
        return 0
    LISTING.parent.mkdir(parents=True, exist_ok=True)
    LISTING.write_text(listing, encoding="utf-8")
    SDL.write_text(new_sdl, encoding="utf-8")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


if __name__ == "__main__":
    raise SystemExit(main())
