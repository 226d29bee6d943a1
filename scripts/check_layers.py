"""Check the import graph of umlsgraph and its CLI: no import runs up the layers, no circle.

Every module of `umlsgraph/` and `cli/` (installed as `umlsgraph_cli`) is parsed with `ast`;
every import counts, at the top or inside a function (a lazy import is still a dependency),
and so do imports under `if TYPE_CHECKING:`. Three rules, each a non-zero exit:

1. every module belongs to a layer of `LAYERS` (a new package must be placed deliberately);
2. a module imports only from its own layer or the ones below it;
3. no circle: neither between modules, nor between the packages of one layer (`export`
   importing `neo4j` while `neo4j` imports `export` is a circle even when no two files are).

    python scripts/check_layers.py            # the check (CI runs it)
    python scripts/check_layers.py --graph    # the package graph as a Mermaid flowchart
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Source folders and the name they are imported by.
PACKAGES = {"umlsgraph": ROOT / "umlsgraph", "umlsgraph_cli": ROOT / "cli"}

#: The library; as a unit it means its `__init__.py` only, never the packages inside it.
LIBRARY = "umlsgraph"
#: Bottom to top. A unit is a top-level module or package of umlsgraph (or the CLI); it may
#: import units of its own layer and of the layers below.
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["umlsgraph", "umlsgraph.errors", "umlsgraph.settings", "umlsgraph.query",
                    "umlsgraph.query_template", "umlsgraph.labelfile", "umlsgraph.model_folder",
                    "umlsgraph.outputs", "umlsgraph.progress", "umlsgraph.curies", "umlsgraph.db"]),
    ("inference", ["umlsgraph.inference"]),
    ("selection", ["umlsgraph.selection"]),
    ("steps", ["umlsgraph.load", "umlsgraph.annotate", "umlsgraph.train", "umlsgraph.label",
               "umlsgraph.evaluate", "umlsgraph.export", "umlsgraph.lookup", "umlsgraph.neo4j",
               "umlsgraph.corpus"]),
    ("adapters", ["umlsgraph.oak"]),
    ("report", ["umlsgraph.report"]),
    ("workflows", ["umlsgraph.workflows"]),
    ("cli", ["umlsgraph_cli"]),
]


@dataclass(frozen=True)
class Import:
    """One import statement's target module, with where it stands."""

    source: str
    target: str
    path: Path
    line: int


def modules() -> dict[str, Path]:
    """Every module's dotted name -> its file."""
    found: dict[str, Path] = {}
    for name, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([name, *parts])] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The project modules `name` imports (third-party imports are not ours to check)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node.module, node.level)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            module = _known_prefix(target, known)
            if module is not None and module != name:
                yield Import(name, module, path, node.lineno)


def _absolute(name: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute module of `from <level dots><module> import ...` inside `name`."""
    if level == 0:
        return module or ""
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


def _known_prefix(target: str, known: dict[str, Path]) -> str | None:
    """The longest project module that `target` names (`a.b.c` -> `a.b` when c is a name)."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def unit_of(module: str) -> str | None:
    """The unit (a LAYERS entry) a module belongs to: the longest one that prefixes it."""
    best = None
    for _, units in LAYERS:
        for unit in units:
            inside = module.startswith(unit + ".") and unit != LIBRARY
            if (module == unit or inside) and (best is None or len(unit) > len(best)):
                best = unit
    return best


def layer_index() -> dict[str, int]:
    return {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def problems(graph: list[Import], known: Iterable[str]) -> list[str]:
    """Every broken rule, one line each, naming the file and line to change."""
    out: list[str] = []
    level = layer_index()
    for module in sorted(known):
        if unit_of(module) is None:
            out.append(f"{module}: in no layer; add its package to LAYERS in "
                       "scripts/check_layers.py")
    for imp in graph:
        src, dst = unit_of(imp.source), unit_of(imp.target)
        if src is None or dst is None or level[dst] <= level[src]:
            continue
        out.append(f"{imp.path.relative_to(ROOT)}:{imp.line}: {imp.source} imports "
                   f"{imp.target}, a higher layer ({LAYERS[level[dst]][0]} above "
                   f"{LAYERS[level[src]][0]})")
    module_edges: dict[str, set[str]] = defaultdict(set)
    unit_edges: dict[str, set[str]] = defaultdict(set)
    for imp in graph:
        module_edges[imp.source].add(imp.target)
        src, dst = unit_of(imp.source), unit_of(imp.target)
        if src and dst and src != dst:
            unit_edges[src].add(dst)
    for component in cycles(module_edges):
        out.append("modules import each other: " + ", ".join(component) + " — "
                   + _witnesses(graph, set(component), lambda m: m))
    for component in cycles(unit_edges):
        out.append("packages import each other: " + ", ".join(component) + " — "
                   + _witnesses(graph, set(component), unit_of))
    return out


def _witnesses(graph: list[Import], members: set[str], key: Callable[[str], str | None]) -> str:
    """One circle through the component, each step with the import line that makes it."""
    first: dict[tuple[str, str], Import] = {}
    for imp in graph:
        src, dst = key(imp.source), key(imp.target)
        if src in members and dst in members and src != dst and src and dst:
            first.setdefault((src, dst), imp)
    start = min(members)
    path = _shortest_circle(start, first)
    steps = [first[(a, b)] for a, b in zip(path, path[1:], strict=False)]
    return " -> ".join(f"{s.target} ({s.path.relative_to(ROOT)}:{s.line})" for s in steps)


def _shortest_circle(start: str, edges: dict[tuple[str, str], Import]) -> list[str]:
    """Nodes of a shortest path from `start` back to itself (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for a, b in sorted(edges):
                if a != node:
                    continue
                if b == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if b not in parent:
                    parent[b] = node
                    nxt.append(b)
        frontier = nxt
    return [start]


def mermaid(graph: list[Import]) -> str:
    """The package graph, one subgraph per layer, as a Mermaid flowchart (bottom to top)."""
    lines = ["flowchart BT"]
    for i, (layer, units) in enumerate(LAYERS):
        lines.append(f"  subgraph L{i}[{layer}]")
        lines.extend(f"    {u.replace('.', '_')}[{u}]" for u in units)
        lines.append("  end")
    pairs = sorted({(unit_of(i.source), unit_of(i.target)) for i in graph})
    lines.extend(f"  {a.replace('.', '_')} --> {b.replace('.', '_')}"
                 for a, b in pairs if a and b and a != b)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true",
                        help="print the package graph as a Mermaid flowchart, then check")
    args = parser.parse_args(argv)
    known = modules()
    graph = [imp for name, path in known.items() for imp in imports(name, path, known)]
    if args.graph:
        print(mermaid(graph))
    found = problems(graph, known)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"import layers: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print(f"import layers: {len(known)} modules, {len(graph)} imports, no upward import, "
          "no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
