"""How a concept id of the store is written as a CURIE, and back: the one rule.

A UMLS release's concepts are CUIs (``C0036572``) and become ``UMLS:C0036572``; a store
loaded from an OBO ontology keeps the ontology's own ids (``HP:0001250``), which are CURIEs
already. The rule is per id, so it needs no look at the store: an id with a colon is kept.
"""

from __future__ import annotations

UMLS_PREFIX = "UMLS"


def to_curie(cui: str) -> str:
    """``C0036572`` -> ``UMLS:C0036572``; ``HP:0001250`` stays as it is."""
    return cui if ":" in cui else f"{UMLS_PREFIX}:{cui}"


def to_cui(curie: str) -> str:
    """The store's id of a CURIE: ``UMLS:C0036572`` -> ``C0036572``; others unchanged."""
    prefix, sep, local = curie.partition(":")
    return local if sep and prefix == UMLS_PREFIX and ":" not in local else curie
