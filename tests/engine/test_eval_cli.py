"""`python -m apex_demo eval BATTLES.csv`: the authors' Music Arena table from score columns or audio."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from apex_demo.arena.paper_table import LOGREG, NAMES, SVM
from apex_demo.cli import main
from apex_demo.cli.eval import evaluate_file

AESTHETIC_FILL = 3.0
# Four decisive battles chosen so every rule AUC can be counted by hand (see the test), plus
# one TIE and one BOTH_BAD that must be left out. (id, pref, instrumental, likes a/b, streams a/b,
# coherence a/b; the other four aesthetics are equal on both sides, so their margins are 0).
HAND_ROWS = (
    ("r1", "A", "true", 40, 60, 50, 50, 2, 4),
    ("r2", "B", "true", 70, 50, 30, 60, 3, 3),
    ("r3", "A", "false", 55, 50, 60, 20, 4, 2),
    ("r4", "B", "false", 50, 60, 80, 70, 1, 5),
    ("r5", "TIE", "false", 10, 90, 10, 90, 1, 5),
    ("r6", "BOTH_BAD", "true", 90, 10, 90, 10, 5, 1),
)


def write_score_csv(path: Path, rows=HAND_ROWS) -> Path:
    header = ["battle_uuid", "user_preference", "is_instrumental"] + [f"pred_{n}_{s}" for n in NAMES for s in "ab"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for ident, pref, instr, la, lb, sa, sb, ca, cb in rows:
            values = {"likes": (la, lb), "streams": (sa, sb), "coherence": (ca, cb)}
            scores = [values.get(n, (AESTHETIC_FILL, AESTHETIC_FILL))[i] for n in NAMES for i in (0, 1)]
            writer.writerow([ident, pref, instr, *scores])
    return path


def by_model(report: dict) -> dict[str, dict]:
    return {row["model"]: row for row in report["table"]}


def test_rule_rows_match_a_hand_count(tiny_settings, tmp_path: Path) -> None:
    """AUC = share of (A-preferred, B-preferred) battle pairs in which the A-preferred battle has the
    larger margin mean(b - a) (the notebook's rules say the LOWER score wins). Margins per battle r1..r4
    (A, B, A, B preferred):
      likes    20, -20, -5, 10 -> pairs (20>-20, 20>10, -5>-20, -5<10)          = 3/4
      streams   0,  30, -40, -10 -> (0<30, 0>-10, -40<30, -40<-10)              = 1/4
      likes+streams 10, 5, -22.5, 0 -> (10>5, 10>0, lose, lose)                  = 2/4
      aesthetics (coherence diff / 5) .4, 0, -.4, .8 -> (.4>0, .4<.8, lose, lose) = 1/4
      all seven (22, 10, -47, 4) / 7 -> (22>10, 22>4, lose, lose)                = 2/4
    Instrumental battles are r1, r2: likes 20 vs -20 -> 1; with vocals r3, r4: -5 vs 10 -> 0.
    Likes F1: predictions (margin > 0) 1, 0, 0, 1 against 1, 0, 1, 0: TP 1, FP 1, FN 1 -> 2/(2+1+1) = 0.5.
    Cell 4, likes alone (a - b > 0 means A): -20, 20, 5, -10 -> right on r3, r4 only = 0.5."""
    report = evaluate_file(write_score_csv(tmp_path / "battles.csv"), tiny_settings, models=[LOGREG])
    rows = by_model(report)
    assert report["decisive_battles"] == 4 and report["instrumental_battles"] == 2
    assert {s["battle_uuid"] for s in report["skipped_battles"]} == {"r5", "r6"}
    assert rows["Likes (rule)"]["AUC_overall"] == pytest.approx(0.75)
    assert rows["Streams (rule)"]["AUC_overall"] == pytest.approx(0.25)
    assert rows["Likes + Streams (rule)"]["AUC_overall"] == pytest.approx(0.5)
    assert rows["Aesthetics (rule)"]["AUC_overall"] == pytest.approx(0.25)
    assert rows["All Features (rule)"]["AUC_overall"] == pytest.approx(0.5)
    assert rows["Likes (rule)"]["AUC_instrumental"] == pytest.approx(1.0)
    assert rows["Likes (rule)"]["AUC_noninstr"] == pytest.approx(0.0)
    assert rows["Likes (rule)"]["F1_overall"] == pytest.approx(0.5)
    assert report["higher_wins_accuracy"]["likes_raw"] == pytest.approx(0.5)
    assert rows[LOGREG]["note"].startswith("2-fold CV, seed 42")   # 2 = the smaller class here


def test_learned_row_reaches_the_true_rules_auc(tiny_settings, tmp_path: Path) -> None:
    """Battles drawn from a known logistic rule on the likes difference: the notebook's logistic
    regression, out of fold, must rank them about as well as the true probabilities do."""
    rng = np.random.default_rng(7)
    n = 1500
    likes_a, likes_b = rng.uniform(10, 90, n), rng.uniform(10, 90, n)
    streams_a, streams_b = rng.uniform(10, 90, n), rng.uniform(10, 90, n)
    p_a = 1 / (1 + np.exp(-(likes_a - likes_b) / 15))
    prefers_a = rng.random(n) < p_a
    rows = [(f"s{i}", "A" if prefers_a[i] else "B", "true" if i % 2 else "false", likes_a[i], likes_b[i],
             streams_a[i], streams_b[i], 3, 3) for i in range(n)]
    report = evaluate_file(write_score_csv(tmp_path / "synthetic.csv", rows), tiny_settings, models=[LOGREG])
    oracle = roc_auc_score(prefers_a.astype(int), p_a)
    learned = by_model(report)[LOGREG]["AUC_overall"]
    assert learned == pytest.approx(oracle, abs=0.02)
    assert by_model(report)["Likes (rule)"]["AUC_overall"] == pytest.approx(1 - oracle, abs=1e-9)


@pytest.mark.slow
def test_svm_row_and_formats(tiny_settings, tmp_path: Path, monkeypatch, capsys) -> None:
    rng = np.random.default_rng(3)
    rows = [(f"s{i}", "A" if i % 2 else "B", "true" if i % 3 else "false", *rng.uniform(10, 90, 4), 3, 3)
            for i in range(60)]
    battles = write_score_csv(tmp_path / "b.csv", rows)
    monkeypatch.setenv("APEX_DATA_DIR", str(tmp_path))
    assert main(["eval", str(battles), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    svm = by_model(report)[SVM]
    assert svm["note"] == "10-fold CV, seed 42" and {"AUC_overall", "F1_overall"} <= set(svm)
    out = tmp_path / "table.csv"
    assert main(["eval", str(battles), "--format", "csv", "--output", str(out), "--models", "LogisticRegression"]) == 0
    assert [r["model"] for r in csv.DictReader(out.open())][:2] == ["Likes (rule)", "Streams (rule)"]
    assert main(["eval", str(battles), "--models"]) == 0
    text = capsys.readouterr().out
    assert "LOWER score wins" in text and "Aesthetics (rule)" in text


CLIPS = ("loop_garzul.flac", "vocadito_10.wav", "sorohanro_-_solo-trumpet-06.ogg",
         "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg")
PREFERENCES = ("A", "B", "A", "B", "TIE", "A", "B", "BOTH_BAD", "B", "A", "A", "B")


def write_audio_battles(folder: Path, audio_dir: Path) -> Path:
    """A Music-Arena-style csv whose audio paths are relative to the csv, plus one broken file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.mp3").write_text("this is not audio")
    rel = [os.path.relpath(audio_dir / name, folder) for name in CLIPS]
    path = folder / "battles.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["battle_uuid", "system_a", "system_b", "preference", "audio_a", "audio_b"])
        for i, pref in enumerate(PREFERENCES):
            writer.writerow([f"u{i}", f"sys{i % 4}", f"sys{(i + 1) % 4}", pref, rel[i % 4], rel[(i + 1 + i // 4) % 4]])
        writer.writerow(["u-broken", "sysX", "sys0", "A", "broken.mp3", rel[0]])
        writer.writerow(["u-weird", "sys0", "sys1", "maybe", rel[0], rel[1]])
    return path


def test_audio_paths_are_scored_first(tiny_settings, audio_dir: Path, tmp_path: Path) -> None:
    report = evaluate_file(write_audio_battles(tmp_path / "b", audio_dir), tiny_settings, models=[LOGREG])
    assert report["decisive_battles"] == sum(p in ("A", "B") for p in PREFERENCES)
    assert len(report["failed_files"]) == 1 and report["failed_files"][0]["file"].endswith("broken.mp3")
    assert report["failed_files"][0]["code"] == "not_audio"
    why = {s["battle_uuid"]: s["why"] for s in report["skipped_battles"]}
    assert why["u-broken"] == "no scores for a clip" and "maybe" in why["u-weird"]
    assert report["notes"] and "is_instrumental" in report["notes"][0]
    likes = by_model(report)["Likes (rule)"]
    assert likes["AUC_instrumental"] is None  # no is_instrumental column: no split


def test_eval_rejects_a_file_without_the_columns(tmp_path: Path, monkeypatch, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,winner\n1,A\n")
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "user_preference" in err and "audio_a" in err
