"""Every bad input gets a stable code and a message that says what to do; other files still score."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from apex_demo.engine import audio
from apex_demo.cli import main
from apex_demo.errors import AudioError, ErrorCode

GOOD = "sorohanro_-_solo-trumpet-06.ogg"
GOOD_LONG = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"  # 45.8 s: judged


def _write(path: Path, data: np.ndarray, sr: int, subtype: str = "PCM_16") -> str:
    sf.write(str(path), data, sr, subtype=subtype)
    return str(path)


@pytest.fixture()
def bad_files(tmp_path: Path, audio_dir: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    music, sr = sf.read(str(audio_dir / "vocadito_10.wav"), dtype="float32")
    files = {"missing": str(tmp_path / "does_not_exist.wav")}
    (tmp_path / "empty.wav").write_bytes(b"")
    files["empty"] = str(tmp_path / "empty.wav")
    (tmp_path / "notes.mp3").write_text("these are my lyrics, not audio\n" * 50)
    files["not_audio"] = str(tmp_path / "notes.mp3")
    flac = (audio_dir / "loop_garzul.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(flac[: len(flac) // 2])
    files["truncated"] = str(tmp_path / "cut.flac")
    files["zero_length"] = _write(tmp_path / "zero.wav", np.zeros((0, 1), np.float32), 44100)
    nan = music[:44100].copy()
    nan[100] = np.nan
    files["nan"] = _write(tmp_path / "nan.wav", nan, sr, "FLOAT")
    files["inf"] = _write(tmp_path / "inf.wav", np.where(np.arange(44100) == 7, np.inf, 0.1).astype(np.float32),
                          44100, "FLOAT")
    files["silence"] = _write(tmp_path / "silence.wav", np.zeros(44100 * 3, np.float32), 44100)
    files["short"] = _write(tmp_path / "short.wav", music[: sr // 2], sr)
    files["sr_8k"] = _write(tmp_path / "8k.wav", rng.uniform(-0.3, 0.3, 8000 * 4).astype(np.float32), 8000)
    files["sr_192k"] = _write(tmp_path / "192k.wav", rng.uniform(-0.3, 0.3, (192000 * 2, 2)).astype(np.float32),
                              192000)
    files["six_channels"] = _write(tmp_path / "surround.wav", rng.uniform(-0.3, 0.3, (44100 * 2, 6))
                                   .astype(np.float32), 44100)
    files["good"] = str(audio_dir / GOOD_LONG)
    return files


EXPECTED_ERRORS = {"missing": "file_not_found", "empty": "empty_file", "not_audio": "not_audio",
                   "truncated": "corrupt_audio", "zero_length": "zero_length", "nan": "non_finite_samples",
                   "inf": "non_finite_samples"}
# every file under 10 s (all but "good" here: silence 3 s, short 0.5 s, 8k 4 s, 192k and surround 2 s) is scored
# but not judged: the short_clip warning, right after silence (engine/audio.py's order), before the others
EXPECTED_WARNINGS = {"silence": ["silence", "short_clip"], "short": ["short_clip"],
                     "sr_8k": ["short_clip", "low_sample_rate"], "six_channels": ["short_clip", "many_channels"],
                     "sr_192k": ["short_clip"], "good": []}


def test_one_run_reports_each_bad_file_and_scores_the_rest(bad_files: dict[str, str], tiny_settings,
                                                           tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tiny_settings.cache_dir))
    names = list(bad_files)
    out = tmp_path / "out.json"
    code = main(["score", *bad_files.values(), "--mert", tiny_settings.mert, "--head", tiny_settings.head,
                 "--format", "json", "--output", str(out), "--device", "cpu"])
    assert code == 1  # some inputs failed
    records = dict(zip(names, json.loads(out.read_text())))
    for name, code_ in EXPECTED_ERRORS.items():
        assert records[name]["error"]["code"] == code_, name
        assert len(records[name]["error"]["message"]) > 30
        assert "scores" not in records[name]
    for name, warnings in EXPECTED_WARNINGS.items():
        record = records[name]
        assert "error" not in record, (name, record.get("error"))
        assert set(record["scores"]) == {"score_streams", "score_likes", "coherence", "musicality",
                                         "memorability", "clarity", "naturalness"}
        codes = [w["code"] for w in record["warnings"]]
        assert codes == warnings, name
    assert records["sr_192k"]["sample_rate"] == 192000 and records["six_channels"]["channels"] == 6
    assert records["short"]["duration_s"] == pytest.approx(0.5, abs=0.01)
    assert "warning [silence]" in capsys.readouterr().err


def test_too_long_is_refused_before_decoding(audio_dir: Path, tiny_settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("APEX_MAX_SECONDS", "20")
    monkeypatch.setenv("APEX_CACHE_DIR", str(tmp_path / "c"))
    long_clip, good_clip = audio_dir / "Kevin_MacLeod_-_Vibe_Ace.ogg", audio_dir / GOOD  # 61.5 s, 5.3 s
    decoded: set[str] = set()
    real_read = sf.SoundFile.read  # libsndfile's sample reader (the header is read by sf.info, not this)

    def recording_read(handle: sf.SoundFile, *args, **kwargs):
        decoded.add(str(handle.name))
        return real_read(handle, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", recording_read)
    out = tmp_path / "o.json"
    code = main(["score", str(long_clip), str(good_clip),
                 "--mert", tiny_settings.mert, "--head", tiny_settings.head, "--format", "json", "--output", str(out)])
    long_rec, good = json.loads(out.read_text())
    assert code == 1
    assert long_rec["error"]["code"] == "too_long" and "APEX_MAX_SECONDS" in long_rec["error"]["message"]
    assert "scores" in good
    assert decoded == {str(good_clip)}  # the long file's samples were never read; the good one's were


def test_folder_given_without_recursive(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        audio.decode(tmp_path, 600)
    assert err.value.code is ErrorCode.FILE_NOT_FOUND


def test_truncated_mp3_is_scored_with_a_warning(audio_dir: Path, tmp_path: Path) -> None:
    data = (audio_dir / "outfoxing.mp3").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 5])
    decoded = audio.decode(cut, 600)
    assert [w.code for w in decoded.warnings] == ["truncated"]
    assert 15 < decoded.duration_s < 25


def test_unknown_container_without_ffmpeg_says_how_to_fix(audio_dir: Path, tmp_path: Path, monkeypatch) -> None:
    clip = tmp_path / "take1.m4a"
    clip.write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(AudioError) as err:
        audio.decode(clip, 600)
    assert err.value.code is ErrorCode.FFMPEG_MISSING
    assert "apt-get install ffmpeg" in err.value.message


@pytest.mark.ffmpeg
def test_m4a_decodes_through_ffmpeg(audio_dir: Path, tmp_path: Path) -> None:
    import subprocess

    src = audio_dir / "vocadito_10.wav"
    clip = tmp_path / "take.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-c:a", "aac", "-b:a", "128k", str(clip)], check=True)
    decoded = audio.decode(clip, 600)
    reference, sr = sf.read(str(src), dtype="float32")
    assert decoded.sample_rate == sr and decoded.channels == 1
    assert abs(decoded.duration_s - len(reference) / sr) < 0.1
    fake = tmp_path / "fake.webm"
    fake.write_text("not a video")
    with pytest.raises(AudioError) as err:
        audio.decode(fake, 600)
    assert err.value.code is ErrorCode.NOT_AUDIO


def test_truncation_warning_kept_for_unusual_extensions(audio_dir: Path, tmp_path: Path) -> None:
    data = (audio_dir / "outfoxing.mp3").read_bytes()
    cut = tmp_path / "cut.mpga"  # MP3 content under a name libsndfile's list does not claim
    cut.write_bytes(data[: len(data) // 5])
    assert [w.code for w in audio.decode(cut, 600).warnings] == ["truncated"]
