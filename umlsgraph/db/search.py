"""The name index `umlsgraph search` reads: every name once, lower-cased beforehand.

Table ``name_search(cui VARCHAR, str VARCHAR, s VARCHAR, len INTEGER)``: the distinct
(cui, name) pairs of `names` with ``s = lower(str)`` (UMLS's ``&#x7C;`` turned back into
``|``) and the name's length, sorted by `s`; a search scans one pre-lowered column instead
of lower-casing 17M strings per query, and ranks on `len` without reading the names.
Its DDL lives in `umlsgraph.db.schema` (`DERIVED`). It is built on first use and stamped
with the release's ``loaded_at`` and the names count (table ``name_search_stamp``); a reload
does not carry it into the new file, and a stale stamp (names changed) rebuilds it.

Ranking is set-based in DuckDB: exact (``s = q``) before prefix before substring, then
shorter names, then CUI; each concept appears once, with its best-ranked name. A top-N
sort finds the best hits without grouping all of them (a one-letter search hits most of
17M names); grouping is the fallback when those few hits hold too few concepts.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db import schema, stamp
from umlsgraph.db.connection import transaction
from umlsgraph.db.sql import unbar

TABLE = schema.NAME_SEARCH
STAMP = schema.NAME_SEARCH_STAMP

#: Every hit ranked, then the first `$m` by (rank, length, cui): a top-N, no grouping.
#: Each concept's first row in that order is its best match, so when the first `$m` rows
#: hold at least `$limit` concepts these are exactly the best `$limit`.
TOP_SQL = f"""
WITH top AS (
    SELECT rowid AS r, cui, len,
           CASE WHEN s = $q THEN 0 WHEN starts_with(s, $q) THEN 1 ELSE 2 END AS rank
    FROM {TABLE} WHERE contains(s, $q) ORDER BY rank, len, cui LIMIT $m),
best AS (SELECT *, row_number() OVER (PARTITION BY cui ORDER BY rank, len, r) AS k FROM top)
SELECT b.cui, {unbar('c.name')}, {unbar('n.str')},
       ['exact', 'prefix', 'substring'][b.rank + 1], (SELECT count(*) FROM top)
FROM best b JOIN concepts c USING (cui) JOIN {TABLE} n ON n.rowid = b.r
WHERE b.k = 1 ORDER BY b.rank, b.len, b.cui LIMIT $limit"""

#: The same ranking by grouping every hit per concept: for the rare case where the top-N
#: rows hold fewer than `$limit` concepts (a few concepts with very many matching names).
GROUPED_SQL = f"""
WITH hits AS (
    SELECT cui, str, len,
           CASE WHEN s = $q THEN 0 WHEN starts_with(s, $q) THEN 1 ELSE 2 END AS rank
    FROM {TABLE} WHERE contains(s, $q)),
best AS (SELECT cui, arg_min(str, (rank, len, str)) AS str, min((rank, len)) AS key
         FROM hits GROUP BY cui)
SELECT b.cui, {unbar('c.name')}, {unbar('b.str')},
       ['exact', 'prefix', 'substring'][b.key[1] + 1], 0
FROM best b JOIN concepts c USING (cui)
ORDER BY b.key[1], b.key[2], b.cui LIMIT $limit"""

#: Hits fetched per wanted concept by the top-N query.
OVERFETCH = 20


def is_fresh(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the index exists and was built from the names the store holds now."""
    return stamp.is_current(con, STAMP, "names", TABLE)


def build(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build the index in one transaction (seconds per million names)."""
    with transaction(con):
        schema.rebuild(con, TABLE)
        stamp.write(con, STAMP, "names")


def search(con: duckdb.DuckDBPyConnection, text: str,
           limit: int) -> list[tuple[str, str, str, str]]:
    """(cui, preferred name, matched name, 'exact'|'prefix'|'substring'), best first."""
    params = {"q": text.lower(), "limit": limit, "m": limit * OVERFETCH}
    rows = con.execute(TOP_SQL, params).fetchall()
    if len(rows) < limit and rows and rows[0][4] == limit * OVERFETCH:
        del params["m"]
        rows = con.execute(GROUPED_SQL, params).fetchall()
    return [row[:4] for row in rows]
