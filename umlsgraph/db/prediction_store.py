"""The `predictions` table: the encoder's label and positive-class probability per item.

One row per (query, source, id, model) (DDL in `umlsgraph.db.schema`). `probability` is the
probability of the query's positive category, `label` the argmax. **Which model's predictions
count** is decided once, by `resolve_model`: label, eval, export, report all call it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from umlsgraph.db.connection import table_exists, transaction
from umlsgraph.db.schema import PREDICTIONS
from umlsgraph.db.sql import literal
from umlsgraph.db.versioned import ensure
from umlsgraph.errors import StoreError
from umlsgraph.model_folder import model_key

TABLE = PREDICTIONS


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    ensure(con, TABLE)


def has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, TABLE)


def write(con: duckdb.DuckDBPyConnection, query: str, source: str, model: str,
          ids: list[str], labels: list[str], probabilities: list[float]) -> None:
    """Insert one chunk's predictions in one transaction (Arrow in, one statement)."""
    import pyarrow as pa

    table = pa.table({"id": pa.array(ids, pa.string()), "label": pa.array(labels, pa.string()),
                      "probability": pa.array(probabilities, pa.float64())})
    ensure_table(con)
    con.register("_chunk_predictions", table)
    try:
        with transaction(con):
            con.execute(f"INSERT OR REPLACE INTO {TABLE} (query, source, id, label, "
                        "probability, model) SELECT ?, ?, id, label, probability, ? "
                        "FROM _chunk_predictions", [query, source, model])
    finally:
        con.unregister("_chunk_predictions")


def models(con: duckdb.DuckDBPyConnection, query: str, source: str) -> list[str]:
    """The models that labelled this query, the most recent first."""
    if not has_table(con):
        return []
    rows = con.execute(f"SELECT model FROM {TABLE} WHERE query = ? AND source = ? "
                       "GROUP BY model ORDER BY max(created_at) DESC, model",
                       [query, source]).fetchall()
    return [str(r[0]) for r in rows]


def queries(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """The queries with predictions on this item source, by name."""
    if not has_table(con):
        return []
    rows = con.execute(f"SELECT DISTINCT query FROM {TABLE} WHERE source = ? ORDER BY query",
                       [source]).fetchall()
    return [str(r[0]) for r in rows]


def model_id(model: str | Path) -> str:
    """The id predictions are stored under: a model folder's `model_id`, or the string itself."""
    return model_key(model)


def resolve_model(con: duckdb.DuckDBPyConnection, query: str, source: str,
                  model: str | Path | None, required: bool = True) -> str | None:
    """THE rule for which model's predictions count.

    A model given (a model folder or a stored model id) must have predictions for this query;
    none given means the model that labelled most recently. With `required`, having no
    predictions at all is an error saying how to make them; otherwise it returns None.
    """
    known = models(con, query, source)
    if model is None:
        if known:
            return known[0]
        if required:
            raise StoreError(f"no predictions for query '{query}' on {source}; run "
                             f"`umlsgraph label {query} --model DIR` first")
        return None
    key = model_id(model)
    if key not in known:
        raise StoreError(f"no predictions by model '{model}' for query '{query}' on {source}; "
                         f"known models: {', '.join(known) or 'none'} (run `umlsgraph label "
                         f"{query} --model DIR` first)")
    return key


def labels_sql(query: str, source: str, model: str) -> str:
    """SQL of (id, label, probability, created_at) of one model's predictions."""
    return (f"SELECT id, label, probability, created_at FROM {TABLE} "
            f"WHERE query = {literal(query)} AND source = {literal(source)} "
            f"AND model = {literal(model)}")
