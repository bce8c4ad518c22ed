"""`python -m apex_demo doctor`: what it reports for working models, and each way it fails (exit 2)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from apex_demo.cli import main


def doctor(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", "--device", "cpu", *args])
    return code, json.loads(capsys.readouterr().out)


def test_working_models_are_described_and_probed(capsys, tiny_mert_dir: Path, tiny_heads: dict) -> None:
    code, report = doctor(capsys, "--mert", str(tiny_mert_dir), "--head", str(tiny_heads["models_only"]))
    assert code == 0 and report["ok"] and report["problems"] == []
    weights = tiny_heads["models_only"] / "models" / "best_model.pt"
    head_file = next(f for f in report["files"] if f["role"] == "head")
    assert head_file["path"] == str(weights) and head_file["size_bytes"] == weights.stat().st_size
    assert head_file["sha256_prefix"] == hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    assert {f["name"] for f in report["files"] if f["role"] == "mert"} == {
        "config.json", "preprocessor_config.json", "pytorch_model.bin"}
    assert report["mert"] == {"hidden_size": 32, "layers": 12, "attention_heads": 2, "sampling_rate": 24000,
                              "do_normalize": False}
    assert report["head"]["task"] == "full" and report["head"]["shared"] == [512, 256]
    assert report["head"]["checkpoint"] == {"epoch": 17, "val_loss": 0.4321, "mode": "song", "loss": "uncertainty"}
    assert report["runtime"]["device"] == "cpu" and report["runtime"]["mode"] == "exact"
    assert set(report["probe"]) == {"score_streams", "score_likes", "coherence", "musicality", "memorability",
                                    "clarity", "naturalness"}
    assert report["versions"]["torch"] == torch.__version__.split("+")[0]


def test_text_report_says_passed(capsys, tiny_mert_dir: Path, tiny_heads: dict) -> None:
    assert main(["doctor", "--device", "cpu", "--mert", str(tiny_mert_dir), "--head", str(tiny_heads["train"])]) == 0
    out = capsys.readouterr().out
    assert "doctor: all checks passed" in out and "best_model.pt" in out and "task full" in out


def test_missing_weights_file(capsys, tiny_mert_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no weights here")
    code, report = doctor(capsys, "--mert", str(tiny_mert_dir), "--head", str(tmp_path))
    assert code == 2 and not report["ok"]
    assert report["problems"][0].startswith("[model_not_found]") and "README.md" in report["problems"][0]


def test_wrong_layout(capsys, tiny_mert_dir: Path, tiny_heads: dict, tmp_path: Path) -> None:
    state = torch.load(tiny_heads["bare"], weights_only=True)
    torch.save({k.replace(".branch.", "."): v for k, v in state.items()}, tmp_path / "invented.pt")
    code, report = doctor(capsys, "--mert", str(tiny_mert_dir), "--head", str(tmp_path / "invented.pt"))
    assert code == 2 and report["problems"][0].startswith("[head_mismatch]")


def test_unreachable_hub(capsys, tiny_mert_dir: Path) -> None:
    code, report = doctor(capsys, "--mert", str(tiny_mert_dir), "--head", "amaai-lab/apex-not-in-any-cache")
    assert code == 2 and report["problems"][0].startswith("[hub_unreachable]")
    assert "APEX_HEAD=DIR" in report["problems"][0]


def test_broken_weights_fail_the_probe(capsys, tiny_mert_dir: Path, tiny_heads: dict, tmp_path: Path) -> None:
    folder = tmp_path / "nan-mert"
    shutil.copytree(tiny_mert_dir, folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["encoder.layer_norm.bias"] = torch.full_like(state["encoder.layer_norm.bias"], float("nan"))
    torch.save(state, folder / "pytorch_model.bin")
    code, report = doctor(capsys, "--mert", str(folder), "--head", str(tiny_heads["train"]))
    assert code == 2
    assert any(p.startswith("probe:") for p in report["problems"])


@pytest.mark.parametrize("flag", ["--head-file", "--mert-file"])
def test_file_flags_are_accepted(flag: str) -> None:
    from apex_demo.cli import build_parser

    args = build_parser().parse_args(["doctor", flag, "models/best_model.pt"])
    assert getattr(args, flag.lstrip("-").replace("-", "_")) == "models/best_model.pt"


def test_public_summary_names_files_without_server_paths(tiny_settings) -> None:
    from apex_demo.engine.doctor import describe_loaded, public_summary
    from apex_demo.engine.models import get_scorer

    text = public_summary(describe_loaded(get_scorer(tiny_settings)))
    assert "`best_model.pt`" in text and "`pytorch_model.bin`" in text and "task full" in text
    assert str(tiny_settings.cache_dir.parent) not in text and "/tmp" not in text


def test_about_tab_facts_come_from_the_loader_once_loaded(tiny_settings) -> None:
    from apex_demo.ui.loader import ModelLoader

    loader = ModelLoader(tiny_settings)
    assert loader.model_facts() == ""  # nothing before the load
    loader.wait(120)
    loader.close(120)  # joins the load thread: the facts are computed right after "ready"
    facts = loader.model_facts()
    assert "`best_model.pt`" in facts and "task full" in facts and "/tmp" not in facts
