"""A concept's attributes as exported and sent to Neo4j: name, English or not, semantic types,
synonyms, definition.

One SQL rendering shared by the export's node table (`export/subontology.py`) and the Neo4j
loader (`neo4j/bolt.py`), so a concept looks the same in every output.
"""

from __future__ import annotations

from umlsgraph.db.connection import SUPPRESSIBLE
from umlsgraph.db.sql import literal, unbar


def concept_attributes_sql(ids_sql: str) -> str:
    """SQL of (cui, name, english, semantic_types, tuis, synonyms, definition) for `ids_sql`.

    Synonyms are the concept's English, non-suppressed names other than the preferred one,
    de-duplicated case-insensitively (the shortest spelling first wins); the definition is
    the longest non-suppressed one, as the concept text uses.
    """
    suppressed = ", ".join(literal(s) for s in SUPPRESSIBLE)
    return f"""
    WITH ids AS (SELECT DISTINCT id FROM ({ids_sql})),
    eng AS (
        SELECT n.cui, {unbar('n.str')} AS s FROM names n
        WHERE n.cui IN (SELECT id FROM ids) AND n.lat = 'ENG'
          AND coalesce(n.suppress, '') NOT IN ({suppressed})),
    syn AS (
        SELECT e.cui, list(s ORDER BY lower(s)) AS synonyms FROM (
            SELECT cui, first(s ORDER BY length(s), s) AS s FROM eng GROUP BY cui, lower(s)) e
        JOIN concepts c ON c.cui = e.cui
        WHERE lower(e.s) <> lower({unbar('c.name')}) GROUP BY e.cui),
    sty AS (
        SELECT cui, list(DISTINCT sty ORDER BY sty) AS semantic_types,
               list(DISTINCT tui ORDER BY tui) AS tuis
        FROM semantic_types WHERE cui IN (SELECT id FROM ids) GROUP BY cui),
    def AS (
        SELECT cui, {unbar('first(def ORDER BY length(def) DESC, def)')} AS definition
        FROM definitions
        WHERE cui IN (SELECT id FROM ids) AND coalesce(suppress, '') NOT IN ({suppressed})
        GROUP BY cui)
    SELECT c.cui, {unbar('c.name')} AS name,
           c.cui IN (SELECT cui FROM eng) AS english,
           coalesce(sty.semantic_types, []::VARCHAR[]) AS semantic_types,
           coalesce(sty.tuis, []::VARCHAR[]) AS tuis,
           coalesce(syn.synonyms, []::VARCHAR[]) AS synonyms, def.definition
    FROM concepts c LEFT JOIN sty USING (cui) LEFT JOIN syn USING (cui) LEFT JOIN def USING (cui)
    WHERE c.cui IN (SELECT id FROM ids)"""
