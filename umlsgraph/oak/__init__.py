"""The OAK (Ontology Access Kit) adapter: `runoak -i umlsgraph:STORE.duckdb ...`.

`store` answers OAK's questions from DuckDB without importing oaklib; `adapter` is the
OAK implementation class that the ``oaklib.plugins`` entry point names (needs
``pip install 'umlsgraph[oak]'``).
"""
