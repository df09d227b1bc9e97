"""A column's type as the database names it in its catalog (``varchar(10)``, ``NUMBER(38,0)``,
``timestamp without time zone``, ``tinyint(1)``) turned into the contract's column type
(``integer``, ``decimal``, ``float``, ``string``, ``boolean``, ``date``, ``time``,
``datetime``, ``binary``, ``json``, ``unknown``).

Used for table widgets, whose column definitions come from the schema rather than from
rows. One table of rules for every kind: the names overlap far more than they differ.
SQLite's declared types follow its affinity rules (a name containing ``INT`` is an
integer, ``CHAR``/``CLOB``/``TEXT`` text, ``REAL``/``FLOA``/``DOUB`` a float).

Pure; must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^(?:number|numeric|decimal|dec)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_EXACT: dict[str, str] = {
    "bool": "boolean",
    "boolean": "boolean",
    "bit": "boolean",
    "date": "date",
    "time": "time",
    "json": "json",
    "jsonb": "json",
    "variant": "json",
    "object": "json",
    "array": "json",
    "uuid": "string",
    "interval": "string",
    "year": "integer",
}
# Checked in order against the type name's start (after lower-casing).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("tinyint(1)", "boolean"),  # MySQL's BOOLEAN
    ("timestamp", "datetime"),
    ("datetime", "datetime"),
    ("smalldatetime", "datetime"),
    ("time with", "time"),
    ("time(", "time"),
    ("timetz", "time"),
    ("double", "float"),
    ("float", "float"),
    ("real", "float"),
    ("binary_float", "float"),
    ("binary_double", "float"),
    ("money", "decimal"),
    ("number", "decimal"),
    ("numeric", "decimal"),
    ("decimal", "decimal"),
    ("dec", "decimal"),
    ("hugeint", "integer"),
    ("uhugeint", "integer"),
    ("bytea", "binary"),
    ("blob", "binary"),
    ("binary", "binary"),
    ("varbinary", "binary"),
    ("tinyblob", "binary"),
    ("mediumblob", "binary"),
    ("longblob", "binary"),
    ("struct", "json"),
    ("map", "json"),
    ("list", "json"),
    ("union", "json"),
    ("geography", "json"),
    ("geometry", "string"),
)


def contract_type(native: str) -> str:
    """The contract's column type for a catalog type name; ``unknown`` if no rule fits."""
    name = native.strip().lower()
    if not name or name == "any":
        return "unknown"
    if name.endswith("[]"):
        return "json"
    if name in _EXACT:
        return _EXACT[name]
    number = _NUMBER.match(name)
    if number is not None:
        scale = number.group(2)
        return "integer" if scale is None or int(scale) == 0 else "decimal"
    for prefix, kind in _PREFIXES:
        if name.startswith(prefix):
            return kind
    if "int" in name or name in ("serial", "bigserial", "smallserial"):
        return "integer"  # int, bigint, integer, int4, mediumint, SQLite's affinity rule
    if any(part in name for part in ("char", "text", "clob", "string", "enum", "set(")):
        return "string"
    if any(part in name for part in ("floa", "doub")):
        return "float"
    return "string" if name.startswith(("name", "citext", "inet", "cidr", "xml")) else "unknown"
