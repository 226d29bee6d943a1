"""The temp tables a selection lives in, named once. Only `umlsgraph.selection` reads them by
name; every other module asks a `Selection` for SQL (`selected_sql`, `scores_sql`)."""

#: (id, predicted, annotated, label, probability) of every labelled candidate item.
SCORES = "selection_scores"
#: (id) of the selected items: the rule's, then what the closure adds.
SELECTED = "selection_selected"
#: (id, label) of every item the chosen annotators labelled, [filter] or not (empty when the
#: selection reads predictions only): the closure never adds nor walks through one labelled
#: otherwise.
ANNOTATED = "selection_annotated"
#: (id) of the items the rule selects by their own labels, before the closure.
LABELLED = "selection_labelled"
#: (id, belief) of every scored item: how strongly its labels say it is positive.
BELIEFS = "selection_beliefs"
#: (child, parent) of the whole hierarchy (`db.hierarchy.edges_sql`), read once.
EDGES = "selection_edges"
#: (child, parent, parent_selected) of every labelled-selected child.
UP = "selection_up"
#: (id, n_parents, parent_belief, descendants, is_root) of every island.
ISLANDS = "selection_islands"
#: (id) of the closure's starting points: the concepts whose selection passed down.
PASSED = "selection_passed"
#: (id, label) of the verdicts' annotator's answers (`--verdicts`; empty without one).
VERDICTS = "selection_verdicts"
#: (id, below) of the items a "no" verdict took out of the selection, and that verdict's item.
CUT = "selection_cut"
