"""What the streaming writers share: escaping done in DuckDB SQL, and text streamed to a file.

The GraphML, GEXF, Turtle, N-Triples and JSON-LD writers render their output *inside DuckDB*:
one SQL expression per node or edge builds its text (escaped by the macros below), and the
rows come back as Arrow batches whose string buffer is written to the file as it is, with no
Python loop over rows. Memory stays bounded by the batch size whatever the selection's size,
and the order is the tables' (both are stored in key order), so output is deterministic.

Escaping rules (each a SQL macro installed by `install_macros`):

    xml_text(s)   element text: & < > escaped, CR as &#13; (XML would read it as LF)
    xml_attr(s)   attribute value: also " and TAB/LF/CR as character references
    rdf_lit(s)    an RDF string literal's body (Turtle and N-Triples): \\ " and every control
                  character, DEL, C1 (U+0080-U+009F, so NEL U+0085) and U+2028/U+2029 as
                  escapes, so a literal never spans lines whatever the string

XML 1.0 cannot hold C0 control characters other than TAB, LF and CR, nor U+FFFE/U+FFFF, even
as character references: `xml_text`/`xml_attr` replace each with U+FFFD and the writers
count the values they changed (`invalid_xml_values`) and report the count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import duckdb

from umlsgraph.db.sql import identifier, literal

#: Characters XML 1.0 cannot hold (RE2 syntax), and what replaces them.
XML_INVALID = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]"
REPLACEMENT = "\ufffd"
#: Characters an RDF literal writes as escapes (beyond \\ and ").
RDF_ESCAPED = r"[\x00-\x1F\x7F-\x9F\x{2028}\x{2029}]"
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
ROWS_PER_BATCH = 20_000


def _rdf_escapes() -> list[tuple[str, str]]:
    """(character, escape) for every character of RDF_ESCAPED, short escapes first."""
    chars = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)]
    return [(c, _SHORT.get(c, f"\\u{ord(c):04X}")) for c in chars]


def _nested_replace(expr: str, pairs: Iterable[tuple[str, str]]) -> str:
    for old, new in pairs:
        old_sql = f"chr({ord(old)})" if ord(old) < 0x20 or 0x7F <= ord(old) < 0xA0 \
            else literal(old)
        expr = f"replace({expr}, {old_sql}, {literal(new)})"
    return expr


def install_macros(con: duckdb.DuckDBPyConnection, clean_xml: bool = True) -> None:
    """Create the escaping macros on `con` (temp macros: fine on a read-only store).

    `clean_xml=False` leaves out the XML-invalid replacement, for data known to hold none.
    """
    clean = (f"regexp_replace(s, {literal(XML_INVALID)}, {literal(REPLACEMENT)}, 'g')"
             if clean_xml else "s")
    text = _nested_replace(clean, [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"),
                                   ("\r", "&#13;")])
    attr = _nested_replace("xml_text(s)", [('"', "&quot;"), ("\t", "&#9;"), ("\n", "&#10;")])
    plain = _nested_replace("s", [("\\", "\\\\"), ('"', '\\"')])
    full = _nested_replace(plain, _rdf_escapes())
    rdf = (f"CASE WHEN regexp_matches(s, {literal(RDF_ESCAPED)}) THEN {full} "
           f"ELSE {plain} END")
    for name, body in (("xml_text", text), ("xml_attr", attr), ("rdf_lit", rdf)):
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}(s) AS {body}")


def xml_escape(value: str, attribute: bool = True) -> str:
    """The Python twin of xml_attr/xml_text, for the few strings written outside SQL."""
    import re

    value = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", REPLACEMENT, value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("\r", "&#13;")
    if attribute:
        value = value.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
    return value


def rdf_literal(value: str) -> str:
    """The Python twin of rdf_lit: a quoted RDF string literal."""
    value = value.replace("\\", "\\\\").replace('"', '\\"')
    for old, new in _rdf_escapes():
        value = value.replace(old, new)
    return f'"{value}"'


@dataclass(frozen=True)
class Attribute:
    """One attribute column of a node or edge table: its name and value kind.

    kind: "string", "list" (of strings), "double", "long" or "boolean".
    """

    name: str
    kind: str

    def as_text(self, column: str | None = None) -> str:
        """SQL of the value as text (unescaped); NULL when the value is missing."""
        col = column or identifier(self.name)
        if self.kind == "list":
            return f"array_to_string({col}, '|')"
        return f"CAST({col} AS VARCHAR)"


def attributes(con: duckdb.DuckDBPyConnection, table: str,
               skip: Iterable[str] = ()) -> list[Attribute]:
    """The columns of `table` in table order, with the kind each writer gives them."""
    skipped = set(skip)
    out = []
    for name, dtype, *_ in con.execute(f"DESCRIBE {table}").fetchall():
        if name in skipped:
            continue
        dtype = dtype.upper()
        if dtype.endswith("[]"):
            kind = "list"
        elif dtype in ("DOUBLE", "FLOAT", "REAL") or dtype.startswith("DECIMAL"):
            kind = "double"
        elif dtype in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
                       "UINTEGER"):
            kind = "long"
        elif dtype == "BOOLEAN":
            kind = "boolean"
        else:
            kind = "string"
        out.append(Attribute(name, kind))
    return out


def invalid_xml_values(con: duckdb.DuckDBPyConnection, table: str,
                       columns: list[Attribute]) -> int:
    """How many values (list elements counted one by one) hold XML-invalid characters."""
    parts = []
    for attr in columns:
        col = identifier(attr.name)
        if attr.kind == "list":
            parts.append(f"coalesce(sum(len(list_filter({col}, "
                         f"lambda x: regexp_matches(x, {literal(XML_INVALID)})))), 0)")
        elif attr.kind == "string":
            parts.append(f"count(*) FILTER (WHERE regexp_matches({col}, {literal(XML_INVALID)}))")
    if not parts:
        return 0
    row = con.execute(f"SELECT {' + '.join(parts)} FROM {table}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def write_rows(con: duckdb.DuckDBPyConnection, sql: str, out: IO[bytes],
               params: list[Any] | None = None, batch: int = ROWS_PER_BATCH) -> int:
    """Write the one text column of `sql`, row after row, to `out`; return the row count.

    Each row must carry its own line ends. Arrow keeps a batch's strings back to back in one
    buffer, so that buffer (between the first and last offsets) is written as it is.
    """
    con.execute("SELECT NULL").fetchall()  # DuckDB 2 refuses con.sql() while a result is open
    reader = con.sql(sql, params=params or None).to_arrow_reader(batch)
    rows = 0
    for record in reader:
        column = record.column(0)
        if column.null_count:
            column = column.fill_null("")
        rows += len(column)
        out.write(_string_bytes(column))
    return rows


def _string_bytes(array: Any) -> memoryview | bytes:
    """The UTF-8 bytes of an Arrow string array's values, concatenated, without copying."""
    import numpy as np
    import pyarrow as pa

    if len(array) == 0:
        return b""
    if pa.types.is_string_view(array.type) or not (
            pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    _validity, offsets, data = array.buffers()[:3]
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width, count=len(array) + 1 + array.offset)
    start, end = int(bounds[array.offset]), int(bounds[array.offset + len(array)])
    if data is None:
        return b""
    return memoryview(data)[start:end]
