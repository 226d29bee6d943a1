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
    """The store's id of an id a user or OAK gives: ``UMLS:C0036572`` (also ``umls:``, and
    surrounding spaces) -> ``C0036572``; a native id (``HP:0001250``) or a CUI unchanged.

    The one rule for reading ids: exports and `runoak` print the CURIE, so every command
    that reads an id (concept, label and gold files, gold roots) accepts it back."""
    text = curie.strip()
    prefix, sep, local = text.partition(":")
    if sep and prefix.upper() == UMLS_PREFIX and local and ":" not in local:
        return local.strip()
    return text
