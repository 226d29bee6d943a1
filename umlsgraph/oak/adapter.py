"""`runoak -i umlsgraph:STORE.duckdb ...`: a whole umlsgraph store as an OAK adapter.

OAK finds adapters by the scheme before the first colon; plugins register theirs in the
``oaklib.plugins`` entry-point group (see pyproject.toml), so ``umlsgraph:`` resolves to
`UmlsgraphImplementation` once ``umlsgraph[oak]`` is installed. The adapter implements
OAK's basic, OBO-graph (nodes for `tree`, `info -O obo`, `extract`), search and mapping
interfaces over `umlsgraph.oak.store.OntologyStore`; other commands end in OAK's one-line
NotImplementedError:

- ids are CURIEs by `umlsgraph.curies` (``UMLS:C0036572``; an OBO store's own ids);
- the is-a hierarchy (``rdfs:subClassOf``) is `umlsgraph.db.hierarchy`'s rule, the same one
  every other reader uses; `ancestors`/`descendants` walk it alone unless `-p` names other
  predicates too (OAK walks every predicate by default; UMLS's associative relations would
  take such a walk across most of the store);
- every other MRREL row is a relationship "CUI2 RELA CUI1", its predicate ``UMLS_RELA:<RELA>``
  (``UMLS_REL:<REL>`` without a RELA; a RELA that is a CURIE already is kept);
- an id of the store's kind that it does not hold is a one-line NotFoundError, not a None
  label; predicates have labels (``subClassOf``, the RELA in words, the REL spelled out);
- labels are preferred names, aliases every name (EXACT; RELATED/BROAD/NARROW for an OBO
  store's synonyms of that scope), definitions the longest of a concept's definitions,
  mappings the sources' codes (``MSH:D012640``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from oaklib.datamodels.obograph import (
    DefinitionPropertyValue,
    Graph,
    Meta,
    Node,
    SynonymPropertyValue,
    XrefPropertyValue,
)
from oaklib.datamodels.search import SearchConfiguration
from oaklib.datamodels.search_datamodel import SearchProperty, SearchTermSyntax
from oaklib.datamodels.vocabulary import (
    HAS_BROAD_SYNONYM,
    HAS_DBXREF,
    HAS_EXACT_SYNONYM,
    HAS_NARROW_SYNONYM,
    HAS_RELATED_SYNONYM,
    IS_A,
    LABEL_PREDICATE,
)
from oaklib.interfaces.basic_ontology_interface import (
    ALIAS_MAP,
    DEFINITION,
    LANGUAGE_TAG,
    METADATA_MAP,
    RELATIONSHIP,
)
from oaklib.interfaces.mapping_provider_interface import MappingProviderInterface
from oaklib.interfaces.obograph_interface import GraphTraversalMethod, OboGraphInterface
from oaklib.interfaces.search_interface import SearchInterface
from oaklib.types import CURIE, PRED_CURIE
from oaklib.utilities.mapping.sssom_utils import inject_mapping_sources
from sssom_schema import Mapping

from umlsgraph.curies import UMLS_PREFIX, to_cui, to_curie
from umlsgraph.errors import NotFoundError
from umlsgraph.load.obo import SYNONYM_TTY
from umlsgraph.oak.store import OntologyStore, chunks

#: An OBO store's synonym term types back to their scope's predicate; other names are EXACT.
SCOPE_PREDICATE = {
    SYNONYM_TTY["RELATED"]: HAS_RELATED_SYNONYM,
    SYNONYM_TTY["BROAD"]: HAS_BROAD_SYNONYM,
    SYNONYM_TTY["NARROW"]: HAS_NARROW_SYNONYM,
}
#: OAK's search syntax (`t~`, `l=`, `t^`, `l/`, `l@`) as a store search mode.
SYNTAX_MODE = {"STARTS_WITH": "prefix", "REGULAR_EXPRESSION": "regex", "SQL": "like"}
UMLS_URI = "https://uts.nlm.nih.gov/uts/umls/concept/"
#: Readable labels of UMLS's REL values (MRREL's "relation of CUI2 to CUI1"), shortened from
#: the UMLS Reference Manual's abbreviation table.
REL_LABELS = {
    "AQ": "allowed qualifier",
    "CHD": "has child",
    "DEL": "deleted concept",
    "PAR": "has parent",
    "QB": "can be qualified by",
    "RB": "has a broader relationship",
    "RL": "similar or alike",
    "RN": "has a narrower relationship",
    "RO": "has other relationship",
    "RQ": "related and possibly synonymous",
    "RU": "related, unspecified",
    "SIB": "has sibling",
    "SY": "source asserted synonymy",
    "XR": "not related",
}
#: Synonym predicates as obographs' scope names.
SCOPE_NAME = {
    HAS_EXACT_SYNONYM: "hasExactSynonym",
    HAS_RELATED_SYNONYM: "hasRelatedSynonym",
    HAS_BROAD_SYNONYM: "hasBroadSynonym",
    HAS_NARROW_SYNONYM: "hasNarrowSynonym",
}
MAPPING_JUSTIFICATION = "semapv:UnspecifiedMatching"


def predicate_label(curie: CURIE) -> str | None:
    """The label of a predicate the adapter writes: is-a, a UMLS REL or RELA; else None."""
    if curie == IS_A:
        return "subClassOf"
    prefix, _, local = curie.partition(":")
    if prefix == "UMLS_REL":
        return REL_LABELS.get(local, local)
    if prefix == "UMLS_RELA":
        return local.replace("_", " ")
    return None


@dataclass
class UmlsgraphImplementation(OboGraphInterface, SearchInterface, MappingProviderInterface):
    """An OAK adapter over a umlsgraph DuckDB store (a UMLS release or an OBO ontology)."""

    store: OntologyStore | None = None

    def __post_init__(self) -> None:
        if self.store is None:
            slug = self.resource.slug if self.resource else None
            if not slug:
                raise ValueError("give the store: runoak -i umlsgraph:PATH.duckdb ...")
            self.store = OntologyStore.open(slug)
        self.prefix_map()[UMLS_PREFIX] = UMLS_URI

    def __repr__(self) -> str:  # OAK names the adapter in its errors; not its prefix map
        return f"umlsgraph:{self._db.path}"

    @property
    def _db(self) -> OntologyStore:
        assert self.store is not None
        return self.store

    def _unknown(self, curie: CURIE) -> NotFoundError:
        return NotFoundError(f"{curie}: unknown id, no concept of {self._db.path} has it; "
                             "find one with `runoak -i umlsgraph:STORE search NAME`")

    def _name(self, curie: CURIE, names: dict[str, str]) -> str | None:
        """The label of `curie` from looked-up `names`: a predicate's, a concept's, None for
        an id outside the store (an xref); an unknown id of the store's own kind raises."""
        found = predicate_label(curie)
        if found is None:
            found = names.get(to_cui(curie))
        if found is None and self._db.is_unknown(to_cui(curie)):
            raise self._unknown(curie)
        return found

    # -- entities and labels -------------------------------------------------------------

    def entities(self, filter_obsoletes: bool = True, owl_type: Any = None) -> Iterable[CURIE]:
        """Every concept (obsolete OBO terms are not loaded, so there are none to filter)."""
        for cui in self._db.ids():
            yield to_curie(cui)

    def ontologies(self) -> Iterable[CURIE]:
        """One ontology: the store (OAK's `extract` and `dump` name it)."""
        yield f"umlsgraph:{self._db.path.name}"

    def obsoletes(self, include_merged: bool = True) -> Iterable[CURIE]:
        """None: obsolete terms are not loaded (OAK's `roots`/`leafs` ask to exclude them)."""
        return iter(())

    def subsets(self) -> Iterable[str]:
        return iter(())

    def label(self, curie: CURIE, lang: LANGUAGE_TAG | None = None) -> str | None:
        """The preferred name (a predicate's label); an unknown id of the store is an error
        rather than a None that OAK would print as the label."""
        return self._name(curie, self._db.names([to_cui(curie)]))

    def labels(self, curies: Iterable[CURIE], allow_none: bool = True,
               lang: LANGUAGE_TAG | None = None) -> Iterable[tuple[CURIE, str]]:
        for batch in chunks(curies):
            names = self._db.names([to_cui(c) for c in batch])
            for curie in batch:
                name = self._name(curie, names)
                if name is not None or allow_none:
                    yield curie, name  # type: ignore[misc]

    def node(self, curie: CURIE, strict: bool = False, include_metadata: bool = False,
             expand_curies: bool = False) -> Node:
        """An obographs node (for `tree`, `info -O obo`): label, and with `include_metadata`
        the definition, synonyms and xrefs."""
        if (name := predicate_label(curie)) is not None:
            return Node(id=curie, lbl=name, type="PROPERTY")
        name = self._db.names([to_cui(curie)]).get(to_cui(curie))
        if name is None:
            if strict:
                raise self._unknown(curie)
            return Node(id=curie)
        meta = self._meta(curie) if include_metadata else None
        return Node(id=curie, lbl=name, type="CLASS", meta=meta)

    def _meta(self, curie: CURIE) -> Meta:
        meta = Meta()
        if (text := self.definition(curie)) is not None:
            meta.definition = DefinitionPropertyValue(val=text)
        for predicate, names in self.entity_alias_map(curie).items():
            if predicate in SCOPE_NAME:
                meta.synonyms += [SynonymPropertyValue(pred=SCOPE_NAME[predicate], val=n)
                                  for n in names]
        meta.xrefs = [XrefPropertyValue(val=x) for _, x in self.simple_mappings_by_curie(curie)]
        return meta

    def curies_by_label(self, label: str) -> list[CURIE]:
        return [to_curie(c) for c in self._db.ids_named(label)]

    def entity_alias_map(self, curie: CURIE) -> ALIAS_MAP:
        aliases: dict[str, list[str]] = {}
        for i, (name, tty, _sab) in enumerate(self._db.synonyms(to_cui(curie))):
            predicate = LABEL_PREDICATE if i == 0 else SCOPE_PREDICATE.get(tty,
                                                                            HAS_EXACT_SYNONYM)
            if name not in aliases.setdefault(predicate, []):
                aliases[predicate].append(name)
        return aliases

    def simple_mappings_by_curie(self, curie: CURIE) -> Iterable[tuple[PRED_CURIE, CURIE]]:
        for sab, code in self._db.codes(to_cui(curie)):
            yield HAS_DBXREF, code if ":" in code else f"{sab}:{code}"

    def sssom_mappings(self, curies: CURIE | Iterable[CURIE] | None = None,
                       source: str | None = None) -> Iterator[Mapping]:
        """The xrefs of the concepts as SSSOM mappings (every concept's without `curies`)."""
        for curie in [curies] if isinstance(curies, str) else curies or self.entities():
            for predicate, code in self.simple_mappings_by_curie(curie):
                mapping = Mapping(subject_id=curie, predicate_id=predicate, object_id=code,
                                  mapping_justification=MAPPING_JUSTIFICATION)
                inject_mapping_sources(mapping)
                if source and source not in (mapping.subject_source, mapping.object_source):
                    continue
                yield mapping

    def inject_mapping_labels(self, mappings: Iterable[Mapping]) -> None:
        """Label both ends; an end the store does not hold (an xref) stays unlabelled, even
        when it shares a prefix with the store's ids."""
        for mapping in mappings:
            for end in ("subject", "object"):
                if not getattr(mapping, f"{end}_label"):
                    curie = getattr(mapping, f"{end}_id")
                    name = self._db.names([to_cui(curie)]).get(to_cui(curie))
                    setattr(mapping, f"{end}_label", name)

    def entity_metadata_map(self, curie: CURIE) -> METADATA_MAP:
        xrefs = [x for _, x in self.simple_mappings_by_curie(curie)]
        return {"id": [curie], HAS_DBXREF: xrefs} if xrefs else {"id": [curie]}

    # -- definitions ---------------------------------------------------------------------

    def definition(self, curie: CURIE, lang: LANGUAGE_TAG | None = None) -> str | None:
        found = self._db.definitions([to_cui(curie)]).get(to_cui(curie))
        return found[0] if found else None

    def definitions(self, curies: Iterable[CURIE], include_metadata: bool = False,
                    include_missing: bool = False,
                    lang: LANGUAGE_TAG | None = None) -> Iterator[DEFINITION]:
        for batch in chunks(curies):
            found = self._db.definitions([to_cui(c) for c in batch])
            for curie in batch:
                text, sab = found.get(to_cui(curie), (None, None))
                if text is None and not include_missing:
                    continue
                yield curie, text, ({"source": [sab]} if include_metadata and sab else None)

    # -- relationships -------------------------------------------------------------------

    def relationships(self, subjects: Iterable[CURIE] | None = None,
                      predicates: Iterable[PRED_CURIE] | None = None,
                      objects: Iterable[CURIE] | None = None, include_tbox: bool = True,
                      include_abox: bool = True, include_entailed: bool = False,
                      exclude_blank: bool = True, invert: bool = False
                      ) -> Iterator[RELATIONSHIP]:
        """Asserted is-a edges, then the other relations; `include_entailed` adds every
        is-a ancestor (OAK's entailment of subClassOf)."""
        if invert:
            for s, p, o in self.relationships(objects, predicates, subjects, include_tbox,
                                              include_abox, include_entailed):
                yield o, p, s
            return
        subs = None if subjects is None else [to_cui(c) for c in subjects]
        objs = None if objects is None else [to_cui(c) for c in objects]
        preds = None if predicates is None else list(predicates)
        if preds is None or IS_A in preds:
            yield from self._isa(subs, objs, include_entailed)
        others = None if preds is None else [p for p in preds if p != IS_A]
        if others is None or others:
            for s, p, o in self._db.relations(subs, objs, others):
                yield to_curie(s), p, to_curie(o)

    def _isa(self, subs: list[str] | None, objs: list[str] | None,
             entailed: bool) -> Iterator[RELATIONSHIP]:
        """(child, rdfs:subClassOf, parent) of the given children and/or parents."""
        if subs is None and objs is None:
            if not entailed:
                for child, parent in self._db.edges():
                    yield to_curie(child), IS_A, to_curie(parent)
                return
            subs = list(self._db.ids())
        if subs is not None:
            wanted = None if objs is None else set(objs)
            for cui in subs:
                parents = (self._db.closure([cui], up=True) if entailed else
                           {p for _, p in self._db.neighbours([cui], up=True)})
                for parent in sorted(parents):
                    if wanted is None or parent in wanted:
                        yield to_curie(cui), IS_A, to_curie(parent)
            return
        for cui in objs or []:
            children = (self._db.closure([cui], up=False) if entailed else
                        {c for _, c in self._db.neighbours([cui], up=False)})
            for child in sorted(children):
                yield to_curie(child), IS_A, to_curie(cui)

    # -- graph walks ---------------------------------------------------------------------

    def ancestors(self, start_curies: CURIE | list[CURIE],
                  predicates: list[PRED_CURIE] | None = None, reflexive: bool = True,
                  method: GraphTraversalMethod | None = None) -> Iterable[CURIE]:
        return self._walk(start_curies, predicates, reflexive, method, up=True)

    def descendants(self, start_curies: CURIE | list[CURIE],
                    predicates: list[PRED_CURIE] | None = None, reflexive: bool = True,
                    method: GraphTraversalMethod | None = None) -> Iterable[CURIE]:
        return self._walk(start_curies, predicates, reflexive, method, up=False)

    def ancestor_graph(self, start_curies: CURIE | list[CURIE],
                       predicates: list[PRED_CURIE] | None = None, **kwargs: Any) -> Graph:
        """The is-a edges among the start ids' ancestors (`tree`); other predicates by OAK's
        own walk, as `ancestors` does."""
        starts = [start_curies] if isinstance(start_curies, str) else list(start_curies)
        if predicates and set(predicates) != {IS_A}:
            return OboGraphInterface.ancestor_graph(self, starts, predicates, **kwargs)
        nodes = list(self.ancestors(starts, [IS_A]))
        return self._graph(self.relationships(nodes, [IS_A]))

    def _walk(self, start: CURIE | list[CURIE], predicates: list[PRED_CURIE] | None,
              reflexive: bool, method: GraphTraversalMethod | None,
              up: bool) -> Iterator[CURIE]:
        """The is-a closure by the store's index (no predicates: is-a only, since walking
        UMLS's associative relations would reach most of the store); any other predicate
        list by OAK's own walk over `relationships`."""
        starts = [start] if isinstance(start, str) else list(start)
        if predicates and set(predicates) != {IS_A}:
            walk = OboGraphInterface.ancestors if up else OboGraphInterface.descendants
            yield from walk(self, starts, predicates, reflexive, method)
            return
        found = self._db.closure([to_cui(c) for c in starts], up=up)
        if reflexive:
            yield from starts
        for cui in sorted(found):
            if not (reflexive and to_curie(cui) in starts):
                yield to_curie(cui)

    # -- search --------------------------------------------------------------------------

    def basic_search(self, search_term: str,
                     config: SearchConfiguration | None = None) -> Iterable[CURIE]:
        """OAK's search syntax: `t~x` any name contains x, `l=x` preferred name is x, `t^x`
        a name starts with x, `l/re` a regular expression, `i=UMLS:C…` an id; case-
        insensitive except for regular expressions; best matches first."""
        config = config or SearchConfiguration()
        properties = {str(SearchProperty(p)) for p in (config.properties or [])}
        fields = set()
        if not properties or {"LABEL", "ANYTHING"} & properties:
            fields.add("label")
        if not properties or {"ALIAS", "ANYTHING"} & properties:
            fields.add("alias")
        if {"IDENTIFIER", "ANYTHING"} & properties:
            fields.add("id")
        mode = "partial" if config.is_partial else "exact"
        if config.syntax:
            mode = SYNTAX_MODE.get(str(SearchTermSyntax(config.syntax)), mode)
        text = to_cui(search_term) if fields == {"id"} else search_term
        for cui in self._db.search(text, mode, fields, config.limit):
            yield to_curie(cui)
