"""The import graph's rules (scripts/check_layers.py): the tree passes, and a broken tree fails.

The broken trees are written as files and parsed like the real one, so the test exercises the
same `ast` reading and the same layer table CI runs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_layers.py"


@pytest.fixture(scope="module")
def layers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


def test_the_tree_has_no_upward_import_and_no_circle(layers: ModuleType,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert layers.main([]) == 0
    assert "no upward import, no circle" in capsys.readouterr().out


def _tree(tmp_path: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch,
          layers: ModuleType) -> list[str]:
    """The problems of a made-up `umlsgraph` tree."""
    for name, text in files.items():
        path = tmp_path / "umlsgraph" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(layers, "ROOT", tmp_path)
    monkeypatch.setattr(layers, "PACKAGES", {"umlsgraph": tmp_path / "umlsgraph"})
    known = layers.modules()
    graph = [imp for name, path in known.items() for imp in layers.imports(name, path, known)]
    return list(layers.problems(graph, known))


def test_an_upward_import_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         layers: ModuleType) -> None:
    found = _tree(tmp_path, {
        "__init__.py": "", "db/__init__.py": "", "train/__init__.py": "def f(): pass\n",
        "db/store.py": "def key():\n    from umlsgraph.train import f\n    return f\n",
    }, monkeypatch, layers)
    assert found == ["umlsgraph/db/store.py:2: umlsgraph.db.store imports umlsgraph.train, a "
                     "higher layer (steps above foundation)"]


def test_circles_between_modules_and_between_packages(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      layers: ModuleType) -> None:
    found = _tree(tmp_path, {
        "__init__.py": "", "annotate/__init__.py": "", "export/__init__.py": "",
        "neo4j/__init__.py": "",
        "annotate/a.py": "from . import b\n", "annotate/b.py": "from umlsgraph.annotate import a\n",
        "export/x.py": "import umlsgraph.neo4j.y\n", "neo4j/y.py": "def g():\n"
                                                             "    import umlsgraph.export.x\n",
    }, monkeypatch, layers)
    assert any(p.startswith("modules import each other: umlsgraph.annotate.a, "
                            "umlsgraph.annotate.b") for p in found)
    assert any(p.startswith("modules import each other: umlsgraph.export.x, umlsgraph.neo4j.y")
               for p in found)
    assert any(p.startswith("packages import each other: umlsgraph.export, umlsgraph.neo4j")
               for p in found)


def test_a_module_in_no_layer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          layers: ModuleType) -> None:
    found = _tree(tmp_path, {"__init__.py": "", "newthing.py": ""}, monkeypatch, layers)
    assert found == ["umlsgraph.newthing: in no layer; add its package to LAYERS in "
                     "scripts/check_layers.py"]
