"""Scorer behaviour: partial results, segment scores, the embedding cache, CLI output formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apex_demo.cli import main
from apex_demo.engine.cache import EmbeddingCache
from apex_demo.engine.encoder import FeatureExtractorConfig, MertEncoder
from apex_demo.errors import ScoringStopped
from apex_demo.engine.models import get_scorer
from apex_demo.engine.scoring import Scorer

LONG = "Kevin_MacLeod_-_Vibe_Ace.ogg"  # 61 s: three segments
SHORT = "sorohanro_-_solo-trumpet-06.ogg"


def _forbid_mert(monkeypatch) -> None:
    def boom(self, segments):
        raise AssertionError("MERT ran although the result was cached")
    monkeypatch.setattr(MertEncoder, "layer_means", boom)


@pytest.mark.slow
def test_partial_results_then_complete(tiny_settings, audio_dir: Path) -> None:
    scorer = get_scorer(tiny_settings)
    results = list(scorer.iter_score(audio_dir / LONG))
    assert [len(r.segments) for r in results] == [1, 2, 3]
    assert [r.complete for r in results] == [False, False, True]
    assert all(r.total_segments == 3 for r in results)
    # a one-segment partial result's song scores are that segment's scores
    assert results[0].scores == results[0].segments[0].scores
    final = results[-1]
    seg_emb = scorer.head.aggregate(torch.from_numpy(np.stack([m for m in _layer_means(scorer, audio_dir / LONG)])))
    assert np.allclose(final.embedding, seg_emb.mean(0).numpy(), atol=1e-6)
    for i, seg in enumerate(final.segments):
        expected = scorer.head.predict(seg_emb[i:i + 1])[0]
        assert seg.scores.as_dict() == pytest.approx(expected.as_dict(), rel=1e-6, abs=1e-5)
    assert final.segments[-1].end_s == pytest.approx(final.duration_s)


def _layer_means(scorer: Scorer, path: Path) -> list[np.ndarray]:
    from apex_demo.engine import audio

    decoded = audio.decode(path, 600)
    wave = audio.resample(decoded.samples, decoded.sample_rate)
    return [scorer.encoder.layer_means(audio.segment(wave, i).unsqueeze(0))[0].numpy()
            for i in range(audio.segment_count(wave.numel()))]


def test_cache_survives_a_restart_and_skips_mert(tiny_settings, audio_dir: Path, monkeypatch) -> None:
    first = get_scorer(tiny_settings).score_file(audio_dir / SHORT)
    assert not first.cached
    entries = list(tiny_settings.cache_dir.glob("*/*.npz"))
    assert len(entries) == 1
    # a new process: a new Scorer over the same folder
    from apex_demo.engine.models import _build_scorer

    _build_scorer.cache_clear()
    _forbid_mert(monkeypatch)
    second = get_scorer(tiny_settings).score_file(audio_dir / SHORT)
    assert second.cached and second.scores == first.scores
    assert np.array_equal(second.embedding, first.embedding)
    assert (second.duration_s, second.sample_rate, second.channels) == (first.duration_s, 22050, 1)


def test_corrupt_cache_entry_is_rewritten(tiny_settings, audio_dir: Path) -> None:
    scorer = get_scorer(tiny_settings)
    first = scorer.score_file(audio_dir / SHORT)
    [entry] = list(tiny_settings.cache_dir.glob("*/*.npz"))
    entry.write_bytes(b"garbage")
    again = scorer.score_file(audio_dir / SHORT)
    assert not again.cached and again.scores == first.scores
    assert np.load(entry)["layer_means"].shape == (1, 4, 32)  # rewritten, readable


def test_no_cache_setting_writes_nothing(tiny_settings, audio_dir: Path) -> None:
    settings = tiny_settings.with_overrides(use_cache=False)
    get_scorer(settings).score_file(audio_dir / SHORT)
    assert not tiny_settings.cache_dir.exists()


def test_csv_and_table_formats(tiny_settings, audio_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tiny_settings.cache_dir))
    args = ["score", str(audio_dir / SHORT), "missing.wav", "--mert", tiny_settings.mert, "--head",
            tiny_settings.head]
    assert main([*args, "--format", "csv"]) == 1
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["file"] for r in rows] == [str(audio_dir / SHORT), "missing.wav"]
    want = get_scorer(tiny_settings.with_overrides(use_cache=False)).score_file(audio_dir / SHORT).scores
    assert float(rows[0]["score_streams"]) == pytest.approx(want.score_streams, rel=1e-6)
    assert rows[1]["error_code"] == "file_not_found"
    assert main(args) == 1  # table is the default
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["file", "dur_s", "Streams", "Likes"]
    assert table[2].split()[-1] == "file_not_found" and len(table) == 3


def test_popularity_only_head_through_the_cli(tiny_settings, tiny_heads: dict, audio_dir: Path, monkeypatch,
                                              capsys) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tiny_settings.cache_dir))
    code = main(["score", str(audio_dir / SHORT), "--mert", tiny_settings.mert, "--head",
                 str(tiny_heads["popularity"]), "--format", "json"])
    [record] = json.loads(capsys.readouterr().out)
    assert code == 0
    assert list(record["scores"]) == ["score_streams", "score_likes"]
    assert list(record["segments"][0]["scores"]) == ["score_streams", "score_likes"]
    assert "embedding" not in record


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["score", "x.wav", "--format", "xml"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["score"])
    assert exit_.value.code == 2


def test_bad_environment_value_exits_2(monkeypatch, capsys) -> None:
    monkeypatch.setenv("APEX_MAX_SECONDS", "ten")
    assert main(["score", "x.wav"]) == 2
    assert "APEX_MAX_SECONDS" in capsys.readouterr().err


@pytest.mark.parametrize("fast_s, expected", [(0.5, "fast"), (2.0, "exact")])  # bf16 measured faster / slower
def test_mode_label_says_what_actually_ran(fast_s: float, expected: str, tiny_settings, audio_dir: Path,
                                           monkeypatch) -> None:
    from apex_demo.engine import fastpath
    from apex_demo.engine.models import _load_models
    from apex_demo.engine.modes import Probe

    if expected == "fast" and not fastpath.bf16_available():
        pytest.skip("CPU without bf16 kernels: fast mode cannot run here")
    monkeypatch.setattr(fastpath, "probe_both", lambda *a: Probe(1.0, fast_s, 0.001, 3.0))
    _load_models.cache_clear()
    exact = get_scorer(tiny_settings)
    assert exact.mode == "exact" and exact.encoder.cpu_runner is not None
    fast = get_scorer(tiny_settings.with_overrides(fast=True))
    # when bf16 is not faster on this CPU, a fast request runs the exact fp32 path and says why
    assert fast.mode == expected
    model = fast.score_file(audio_dir / SHORT).to_record()["model"]
    assert model["mode"] == expected and model["mode_note"].startswith(expected + ":")
    assert ("not faster" in model["mode_note"]) == (expected == "exact")
    _load_models.cache_clear()


def test_models_are_shared_between_scorers(tiny_settings, tmp_path: Path) -> None:
    one = get_scorer(tiny_settings)
    other = get_scorer(tiny_settings.with_overrides(cache_dir=tmp_path / "other-cache", max_seconds=60.0))
    assert one is not other and one.cache.root != other.cache.root and other.max_seconds == 60.0
    assert one.encoder is other.encoder and one.head is other.head  # no second copy of MERT
    assert get_scorer(tiny_settings) is one


def test_score_file_skips_partial_results(tiny_settings, audio_dir: Path, monkeypatch) -> None:
    scorer = get_scorer(tiny_settings)
    calls = []
    original = Scorer.build_result
    monkeypatch.setattr(Scorer, "build_result", lambda self, *a, **k: calls.append(k) or original(self, *a, **k))
    result = scorer.score_file(audio_dir / LONG)
    assert result.complete and len(result.segments) == 3
    assert len(calls) == 1  # only the final result is assembled


def test_proceed_is_asked_before_every_segment_and_stops_the_song(tiny_settings, audio_dir: Path,
                                                                    monkeypatch) -> None:
    """A job whose visitor left stops at the next segment: the 3-segment song's check says no on its
    third question (before decoding, before segment 1, before segment 2), so one segment is encoded,
    nothing is cached, and the same scorer then scores the song whole."""
    scorer = get_scorer(tiny_settings)
    encoded = []
    original = MertEncoder.layer_means
    monkeypatch.setattr(MertEncoder, "layer_means", lambda self, seg: encoded.append(1) or original(self, seg))
    asked = []

    def proceed() -> bool:
        asked.append(1)
        return len(asked) < 3

    with pytest.raises(ScoringStopped):
        scorer.score_file(audio_dir / LONG, proceed=proceed)
    assert len(asked) == 3 and len(encoded) == 1
    assert not list(tiny_settings.cache_dir.glob("*/*.npz"))
    assert len(scorer.score_file(audio_dir / LONG).segments) == 3 and len(encoded) == 4


def test_csv_output_escapes_formula_file_names(tiny_settings, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["score", "=cmd.wav", "--format", "csv", "--mert", tiny_settings.mert, "--head",
                 tiny_settings.head]) == 1
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["file"] == "'=cmd.wav" and row["error_code"] == "file_not_found"




@pytest.mark.parametrize("change", [{"source": "another/mert"}, {"revision": "v2"},
                                    {"features": FeatureExtractorConfig(do_normalize=True)}],
                         ids=["source", "revision", "numerics"])
def test_another_encoder_over_the_same_cache_folder_misses_the_cache(tiny_settings, audio_dir: Path,
                                                                     change: dict, monkeypatch) -> None:
    """The cache key holds the encoder's identity: a scorer whose encoder differs in source, revision or
    numerics never gets another encoder's embeddings from the same folder (it encodes the song itself),
    while a new scorer with the same encoder does hit."""
    base = get_scorer(tiny_settings)
    assert not base.score_file(audio_dir / SHORT).cached
    folder = EmbeddingCache(tiny_settings.cache_dir, tiny_settings.cache_max_mb)
    same = Scorer(base.encoder, base.head, folder, base.max_seconds)
    assert same.score_file(audio_dir / SHORT).cached
    encoded: list[int] = []
    original = MertEncoder.layer_means
    monkeypatch.setattr(MertEncoder, "layer_means", lambda self, segments: encoded.append(1) or original(self, segments))
    other = Scorer(dataclasses.replace(base.encoder, **change), base.head, folder, base.max_seconds)
    assert other.encoder.numerics != base.encoder.numerics or "features" not in change
    result = other.score_file(audio_dir / SHORT)
    assert not result.cached and encoded
