"""Step 1: a UMLS release (RRF) or an OBO ontology into the DuckDB store, atomically."""
