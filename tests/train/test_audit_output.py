"""What an audit leaves behind (issue #29): its tables in a log keep whole cell values (rich
fitted them to 80 columns and cut words: "Aggravat… by"), and the hidden folder that held the
fold models beside the database is removed once it is empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from umlsgraph_cli.audit import _print
from umlsgraph_cli.pipeline import _print_audit

from umlsgraph.settings import AuditConfig
from umlsgraph.train.audit import AuditResult, Suspect, _remove_fold_models

TEXT = "Aggravated by exposure to cold; parents: Abnormality of the peripheral nervous sys"


def test_audit_table_in_a_log_keeps_whole_values(capsys: pytest.CaptureFixture[str]) -> None:
    suspect = Suspect(id="C0000005", label="yes", predicted="no", p_positive=0.04,
                      quality=0.04, annotator_score=None, text=TEXT)
    _print(AuditResult("nervous_system", "concepts", "hf:llama", 300, 5, 5, False, False,
                       [suspect]), show=10)
    out = capsys.readouterr().out
    assert TEXT[:80] in out and "…" not in out, out


def test_demo_audit_table_in_a_log_keeps_whole_values(
        capsys: pytest.CaptureFixture[str]) -> None:
    _print_audit({"seconds": 12.0, "suspects": 1, "labels": 300, "suspects_truly_wrong": 1,
                  "wrong_labels": 4, "examples": [{"id": "HP:0000707", "label": "no",
                                                   "p_positive": 0.97, "gold": "yes",
                                                   "text": TEXT * 2}]})
    out = capsys.readouterr().out
    assert TEXT * 2 in out, out  # on one line, uncut


def test_fold_models_folder_goes_when_empty(tmp_path: Path) -> None:
    hidden = tmp_path / ".hpo.duckdb.audit"
    work = hidden / "nervous_system"
    (work / "fold-0").mkdir(parents=True)
    (work / "fold-0" / "model.safetensors").write_bytes(b"x")
    (hidden / "other_query" / "fold-1").mkdir(parents=True)
    _remove_fold_models(work, AuditConfig())
    assert not work.exists() and hidden.exists()  # another query's models are still there
    _remove_fold_models(hidden / "other_query", AuditConfig())
    assert not hidden.exists()  # the demo no longer leaves an empty .hpo.duckdb.audit/


def test_a_chosen_work_dir_is_kept(tmp_path: Path) -> None:
    work = tmp_path / "mine" / "nervous_system"
    (work / "fold-0").mkdir(parents=True)
    _remove_fold_models(work, AuditConfig(work_dir=work))
    assert not work.exists() and (tmp_path / "mine").is_dir()
