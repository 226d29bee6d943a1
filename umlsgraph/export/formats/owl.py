"""`--format owl`: the selection as an OWL 2 ontology in RDF/XML, streamed (Protégé, ROBOT,
owlready2, py-horned-owl, OAK read it).

An `owl:Ontology` header (IRI `--scheme-iri`, default urn:umlsgraph:ontology:<query>; label,
comments naming the query, the selection and the release, `owl:versionInfo` the release), the
annotation properties declared, then one `owl:Class` per selected concept, in id order:

    rdfs:label            the preferred name (@en when English)
    rdfs:subClassOf       each parent in the selection (the hierarchy rule of db/hierarchy.py),
                          and `REL some TARGET` for each --rel/--rela relation (as OBO's
                          `relationship:` translates; properties urn:umlsgraph:relation:ID,
                          ids and direction as in obo.py)
    obo:IAO_0000115       the definition, with an owl:Axiom giving its source as
                          oboInOwl:hasDbXref (as ROBOT writes OBO `def` xrefs)
    oboInOwl:hasExactSynonym / hasRelatedSynonym / hasBroadSynonym / hasNarrowSynonym
    oboInOwl:hasDbXref    the source codes (MESH:D000001, ...)
    oboInOwl:inSubset     its semantic types (http://purl.bioontology.org/ontology/STY/T047,
                          declared as subset properties, as OBO `subset:` translates)
    oboInOwl:id           the CURIE (UMLS:C0000001, or the OBO id)
    umlsgraph:probability the model's probability (xsd:decimal), when predicted

IRIs: see ontology.py (UMLS: the SKOS writers' base IRI and the CUI; an OBO store: the OBO
PURL). Every string, whichever column it comes from (names, synonyms, definitions, source
codes, semantic types, relation ids), is XML-escaped by DuckDB with text.py's `xml_text` /
`xml_attr`: the one place where characters XML 1.0 cannot hold (C0 controls but TAB, LF, CR;
U+FFFE, U+FFFF) become U+FFFD, the one loss; the values so changed are counted
(`replaced_values`: the selection's columns and source codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from umlsgraph.db.sql import literal
from umlsgraph.export.formats import Exporter, Progress, atomic_file
from umlsgraph.export.formats.ontology import (
    OBO_PURL,
    SEMANTIC_TYPE_IRI,
    Ids,
    relation_ids,
    require_concepts,
    semantic_types,
    terms_sql,
)
from umlsgraph.export.formats.rdf import ATTRIBUTE_PREFIX, check_base_iri
from umlsgraph.export.formats.text import (
    XML_INVALID,
    attributes,
    install_macros,
    invalid_xml_values,
    write_rows,
    xml_escape,
)
from umlsgraph.export.subontology import NODES

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

ONTOLOGY_PREFIX = "urn:umlsgraph:ontology:"
RELATION_PREFIX = "urn:umlsgraph:relation:"
OBO_IN_OWL = "http://www.geneontology.org/formats/oboInOwl#"
DEFINITION = OBO_PURL + "IAO_0000115"
XSD = "http://www.w3.org/2001/XMLSchema#"
NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": XSD,
    "obo": OBO_PURL,
    "oboInOwl": OBO_IN_OWL,
    "umlsgraph": ATTRIBUTE_PREFIX,
}
ANNOTATION_PROPERTIES = {
    DEFINITION: "definition",
    **{f"{OBO_IN_OWL}has{s}Synonym": f"has_{s.lower()}_synonym"
       for s in ("Exact", "Related", "Broad", "Narrow")},
    OBO_IN_OWL + "hasDbXref": "database_cross_reference",
    OBO_IN_OWL + "id": "id",
    OBO_IN_OWL + "inSubset": "in_subset",
    ATTRIBUTE_PREFIX + "probability": "probability",
}
NL = "chr(10)"


class OWLExporter(Exporter):
    """`--format owl`: an OWL 2 ontology in RDF/XML."""

    format: ClassVar[str] = "owl"
    suffix: ClassVar[str] = ".owl"
    mark: ClassVar[bytes] = b"<rdfs:comment>umlsgraph query "  # in the header (see `header`)

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             base_iri: str | None = None, scheme_iri: str | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        require_concepts(subontology, self.format)
        con = subontology.con
        ids = Ids.of(con, base_iri)
        iri = check_base_iri(scheme_iri or ONTOLOGY_PREFIX + quote(subontology.query.name,
                                                                  safe=""))
        changed = invalid_xml_values(con, NODES, attributes(con, NODES)) + invalid_codes(con)
        install_macros(con)  # always: xrefs and definition sources are not columns of NODES
        total = subontology.node_count()
        relations = relation_ids(subontology)
        with atomic_file(Path(out)) as tmp, open(tmp, "wb") as fh:
            fh.write(header(subontology, ids, iri).encode())
            fh.write("".join(object_property(r) for r in relations).encode())
            fh.write("".join(subset(t, n) for t, n in semantic_types(subontology)).encode())
            done = write_rows(con, class_sql(ids), fh)
            if on_progress:
                on_progress("classes", done, total)
            fh.write(b"</rdf:RDF>\n")
        return {"files": [str(out)], "classes": done, "ontology": iri, "ids": ids.release.kind,
                "replaced_values": changed, "relations": relations}


def invalid_codes(con: Any) -> int:
    """How many source codes of selected concepts (their xrefs) hold XML-invalid characters."""
    row = con.execute(f"SELECT count(*) FROM names WHERE cui IN (SELECT cui FROM {NODES}) AND "
                      f"regexp_matches(coalesce(code, ''), {literal(XML_INVALID)})").fetchone()
    return int(row[0]) if row else 0


def relation_iri(relation: str) -> str:
    """The IRI of a --rel/--rela relation id (Python twin of the SQL in class_sql)."""
    return RELATION_PREFIX + quote(relation, safe="")


def subset(tui: str, name: str) -> str:
    """A semantic type as an OBO subset: an annotation property under oboInOwl:SubsetProperty."""
    return (f'  <owl:AnnotationProperty rdf:about="{xml_escape(SEMANTIC_TYPE_IRI + quote(tui))}">'
            f'<rdfs:label>{xml_escape(name, False)}</rdfs:label><rdfs:subPropertyOf '
            f'rdf:resource="{OBO_IN_OWL}SubsetProperty"/></owl:AnnotationProperty>\n')


def object_property(relation: str) -> str:
    """The owl:ObjectProperty declaration of a relation id."""
    return (f'  <owl:ObjectProperty rdf:about="{xml_escape(relation_iri(relation))}">'
            f"<rdfs:label>{xml_escape(relation, False)}</rdfs:label></owl:ObjectProperty>\n")


def header(sub: Subontology, ids: Ids, iri: str) -> str:
    """The XML declaration, namespaces, the owl:Ontology and the property declarations."""
    query, release, summary = sub.query, ids.release, sub.summary
    spaces = "\n".join(f'    xmlns:{p}="{u}"' for p, u in NAMESPACES.items())
    comments = [f"umlsgraph query {query.name}" + (f": {query.description}"
                                                   if query.description else ""),
                f"selected by {summary.get('selection', sub.source)}"
                + (f" of model {summary['model']}" if summary.get("model") else "")
                + f": {summary.get('nodes', 0)} concepts, {summary.get('edges', 0)} edges",
                f"release {release.path}"]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<rdf:RDF\n{spaces}>",
             f'  <owl:Ontology rdf:about="{xml_escape(iri)}">',
             f"    <rdfs:label>{xml_escape(query.name, False)}</rdfs:label>",
             *(f"    <rdfs:comment>{xml_escape(c, False)}</rdfs:comment>" for c in comments)]
    if release.version:
        lines.append(f"    <owl:versionInfo>{xml_escape(release.version, False)}"
                     "</owl:versionInfo>")
    lines.append("  </owl:Ontology>")
    for prop, label in ANNOTATION_PROPERTIES.items():
        lines.append(f'  <owl:AnnotationProperty rdf:about="{prop}"><rdfs:label>{label}'
                     "</rdfs:label></owl:AnnotationProperty>")
    return "\n".join(lines) + "\n"


def _element(tag: str, value_sql: str, attrs: str = "") -> str:
    """SQL of `    <tag attrs>escaped value</tag>` and a newline."""
    return f"'    <{tag}{attrs}>' || xml_text({value_sql}) || '</{tag}>' || {NL}"


def class_sql(ids: Ids) -> str:
    """One row per concept: its owl:Class element, and the owl:Axiom of its definition."""
    scope = "upper(x.scope[1]) || lower(x.scope[2:])"
    parts = [
        f"'  <owl:Class rdf:about=\"' || xml_attr(iri) || '\">' || {NL}",
        f"""'    <rdfs:label' || CASE WHEN english THEN ' xml:lang=\"en\"' ELSE '' END || '>'
            || xml_text(name) || '</rdfs:label>' || {NL}""",
        f"""array_to_string(list_transform(parents, lambda p: '    <rdfs:subClassOf '
            || 'rdf:resource=\"' || xml_attr({ids.iri_sql('p.cui')}) || '\"/>' || {NL}), '')""",
        f"""array_to_string(list_transform(relations, lambda r: '    <rdfs:subClassOf>' ||
            '<owl:Restriction><owl:onProperty rdf:resource=\"' || xml_attr('{RELATION_PREFIX}'
            || url_encode(r.rel)) || '\"/><owl:someValuesFrom rdf:resource=\"' ||
            xml_attr({ids.iri_sql('r.cui')}) || '\"/></owl:Restriction></rdfs:subClassOf>'
            || {NL}), '')""",
        f"CASE WHEN coalesce(definition, '') <> '' THEN {_element('obo:IAO_0000115', 'definition')}"
        " END",
        f"""array_to_string(list_transform(synonyms_scoped, lambda x: '    <oboInOwl:has' ||
            {scope} || 'Synonym>' || xml_text(x.text) || '</oboInOwl:has' || {scope} ||
            'Synonym>' || {NL}), '')""",
        f"""array_to_string(list_transform(xrefs, lambda x:
            {_element('oboInOwl:hasDbXref', 'x')}), '')""",
        f"""array_to_string(list_transform(tuis, lambda x: '    <oboInOwl:inSubset ' ||
            'rdf:resource=\"' || xml_attr('{SEMANTIC_TYPE_IRI}' || url_encode(x)) || '\"/>'
            || {NL}), '')""",
        _element("oboInOwl:id", "curie"),
        f"""CASE WHEN probability IS NOT NULL THEN {_element('umlsgraph:probability',
            'CAST(round(probability, 6) AS VARCHAR)', f' rdf:datatype="{XSD}decimal"')} END""",
        f"'  </owl:Class>' || {NL}",
        f"""CASE WHEN coalesce(definition, '') <> '' AND def_xref IS NOT NULL THEN
            '  <owl:Axiom>' || {NL} || '    <owl:annotatedSource rdf:resource=\"' ||
            xml_attr(iri) || '\"/>' || {NL} || '    <owl:annotatedProperty rdf:resource=\"'
            || '{DEFINITION}\"/>' || {NL} || {_element('owl:annotatedTarget', 'definition')}
            || {_element('oboInOwl:hasDbXref', 'def_xref')} || '  </owl:Axiom>' || {NL} END""",
    ]
    return terms_sql(ids, f"concat({', '.join(parts)})")
