"""umlsgraph: the LlamBERT method for the UMLS Metathesaurus.

Load a UMLS release into a graph store, have an LLM annotate a random sample of concepts,
fine-tune an encoder on those labels, label every concept, and export the subontology.
"""

__version__ = "0.1.0"
