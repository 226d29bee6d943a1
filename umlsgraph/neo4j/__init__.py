"""The Neo4j store: a Bolt writer and the push of a whole DuckDB store."""
