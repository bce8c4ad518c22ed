"""`python -m apex_demo eval BATTLES.csv` on real clips with the tiny model fixtures."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from apex_demo.analysis import PREDICTOR_COLUMNS, PREDICTOR_SETS
from apex_demo.cli import main
from apex_demo.cli.eval import evaluate_file
from apex_demo.scores import SCORE_KEYS
from apex_demo.scoring import get_scorer

CLIPS = ("loop_garzul.flac", "vocadito_10.wav", "sorohanro_-_solo-trumpet-06.ogg",
         "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg")
PREFERENCES = ("A", "B", "A", "B", "TIE", "A", "B", "BOTH_BAD", "B", "A", "A", "B")


def battle_clips(i: int) -> tuple[str, str]:
    """The (A, B) clips of battle i: every clip meets every other, never itself."""
    return CLIPS[i % 4], CLIPS[(i + 1 + i // 4) % 4]


def write_battles(folder: Path, audio_dir: Path) -> Path:
    """A Music-Arena-style csv whose audio paths are relative to the csv, plus one broken file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.mp3").write_text("this is not audio")
    rel = {name: os.path.relpath(audio_dir / name, folder) for name in CLIPS}
    path = folder / "battles.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["battle_uuid", "prompt", "system_a", "system_b", "preference", "audio_a", "audio_b"])
        for i, pref in enumerate(PREFERENCES):
            a, b = battle_clips(i)
            writer.writerow([f"u{i}", "a prompt", f"sys{i % 4}", f"sys{(i + 1) % 4}", pref, rel[a], rel[b]])
        writer.writerow(["u-broken", "", "sysX", "sys0", "A", "broken.mp3", rel[CLIPS[0]]])
        writer.writerow(["u-weird", "", "sys0", "sys1", "maybe", rel[CLIPS[0]], rel[CLIPS[1]]])
    return path


def hand_rule(key: str, scores: dict[str, dict[str, float]]) -> tuple[float, float]:
    """Agreement and ROC AUC of "the clip with the higher `key` wins", counted by hand over the
    decisive battles (AUC = share of (A-won, B-won) battle pairs ordered by the score margin)."""
    margins = {"A": [], "B": []}
    for i, pref in enumerate(PREFERENCES):
        if pref in margins:
            a, b = battle_clips(i)
            margins[pref].append(scores[a][key] - scores[b][key])
    hits = sum(m > 0 for m in margins["A"]) + sum(m < 0 for m in margins["B"])
    pairs = [(wa, wb) for wa in margins["A"] for wb in margins["B"]]
    auc = sum(1.0 if wa > wb else 0.5 if wa == wb else 0.0 for wa, wb in pairs) / len(pairs)
    return hits / (len(margins["A"]) + len(margins["B"])), auc


@pytest.fixture()
def env_for(tiny_settings, monkeypatch: pytest.MonkeyPatch):
    """Point the CLI's Settings.from_env at the tiny models."""
    monkeypatch.setenv("APEX_MERT", tiny_settings.mert)
    monkeypatch.setenv("APEX_HEAD", tiny_settings.head)
    monkeypatch.setenv("APEX_DEVICE", "cpu")
    monkeypatch.setenv("APEX_CACHE_DIR", str(tiny_settings.cache_dir))
    return tiny_settings


def test_eval_report_columns_and_ranges(tiny_settings, audio_dir: Path, tmp_path: Path) -> None:
    report = evaluate_file(write_battles(tmp_path / "b", audio_dir), tiny_settings)
    assert report["battles"] == len(PREFERENCES) + 2
    assert report["scored_battles"] == len(PREFERENCES)
    decisive = sum(p in ("A", "B") for p in PREFERENCES)
    assert report["decisive_battles"] == decisive
    assert len(report["failed_files"]) == 1 and report["failed_files"][0]["code"] == "not_audio"
    assert report["failed_files"][0]["file"].endswith("broken.mp3")
    assert {s["battle_uuid"] for s in report["skipped_battles"]} == {"u-broken", "u-weird"}
    names = [p["predictor"] for p in report["predictors"]]
    assert names == list(PREDICTOR_SETS) + ["logreg_cv_popularity_pair", "logreg_cv_all_seven"]
    for row in report["predictors"]:
        assert list(row) == list(PREDICTOR_COLUMNS)
        assert row["n"] == decisive
    by_name = {row["predictor"]: row for row in report["predictors"]}
    scorer = get_scorer(tiny_settings)
    scores = {name: scorer.score_file(audio_dir / name).scores.as_dict() for name in CLIPS}
    for key in SCORE_KEYS:
        agreement, auc = hand_rule(key, scores)
        assert by_name[key]["agreement"] == pytest.approx(agreement), key
        assert by_name[key]["auc"] == pytest.approx(auc), key
    assert "5-fold CV, seed 0" in report["predictors"][-1]["note"]   # 5 = the smaller class here


def test_eval_command_formats_and_exit_code(env_for, audio_dir: Path, tmp_path: Path, capsys) -> None:
    battles = write_battles(tmp_path / "b", audio_dir)
    assert main(["eval", str(battles), "--format", "json"]) == 1       # one file failed, the rest ran
    report = json.loads(capsys.readouterr().out)
    assert len(report["predictors"]) == 11
    out = tmp_path / "report.csv"
    assert main(["eval", str(battles), "--format", "csv", "--output", str(out)]) == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["predictor"] for r in rows][:2] == ["score_streams", "score_likes"]
    assert main(["eval", str(battles)]) == 1
    table = capsys.readouterr().out
    assert "all_seven" in table and "failed:" in table and "broken.mp3" in table


def test_eval_rejects_a_file_without_the_columns(env_for, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,winner\n1,A\n")
    assert main(["eval", str(bad)]) == 2
    assert "battle_uuid" in capsys.readouterr().err
