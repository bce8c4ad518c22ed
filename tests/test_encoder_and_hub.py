"""MERT config translation, legacy weight names, strict loading, devices, and Hub resolution (no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
import torch
from huggingface_hub import errors as hub_errors

from apex_demo import hub
from apex_demo.config import Settings
from apex_demo.encoder import hubert_config_from_mert, load_encoder, resolve_device
from apex_demo.errors import ErrorCode, ModelError
from apex_demo.head import load_head
from apex_demo.scoring import get_scorer
from tests.fixtures import TINY_MERT_CONFIG, build_mert_folder


def test_mert_config_becomes_hubert_config() -> None:
    config = hubert_config_from_mert(TINY_MERT_CONFIG)
    assert config.model_type == "hubert"
    assert config.hidden_size == 32 and config.num_hidden_layers == 12
    assert config.conv_stride == [5, 2, 2, 2, 2, 2, 2] and config.conv_bias is False
    assert config.feat_proj_layer_norm is True and config.feat_extract_norm == "group"
    assert not hasattr(config, "feature_extractor_cqt") and not hasattr(config, "attention_relax")


@pytest.mark.parametrize("key,value", [("feature_extractor_cqt", True), ("deepnorm", True), ("attention_relax", 32.0)])
def test_unreproducible_configs_are_refused(key: str, value: object) -> None:
    with pytest.raises(ModelError) as err:
        hubert_config_from_mert({**TINY_MERT_CONFIG, key: value})
    assert err.value.code is ErrorCode.UNSUPPORTED_CONFIG and key in err.value.message


def test_legacy_weight_norm_keys_load(tiny_mert_dir: Path) -> None:
    state = torch.load(tiny_mert_dir / "pytorch_model.bin", weights_only=True)
    assert "encoder.pos_conv_embed.conv.weight_g" in state and len(state) == 211
    encoder = load_encoder(str(tiny_mert_dir), device="cpu")
    conv = encoder.model.encoder.pos_conv_embed.conv
    assert torch.equal(conv.parametrizations.weight.original1, state["encoder.pos_conv_embed.conv.weight_v"])
    assert encoder.device.type == "cpu" and not encoder.model.training


def test_safetensors_is_preferred(tiny_mert_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "mert_st"
    shutil.copytree(tiny_mert_dir, folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["encoder.layer_norm.bias"] = torch.full_like(state["encoder.layer_norm.bias"], 0.125)
    save_file(state, str(folder / "model.safetensors"))
    encoder = load_encoder(str(folder), device="cpu")
    assert torch.all(encoder.model.encoder.layer_norm.bias == 0.125)


def test_missing_and_unexpected_tensors_are_named(tiny_mert_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_mert_dir, folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del state["encoder.layers.3.attention.k_proj.weight"]
    state["encoder.extra_thing.weight"] = torch.zeros(1)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelError) as err:
        load_encoder(str(folder), device="cpu")
    assert err.value.code is ErrorCode.WEIGHTS_MISMATCH
    assert "encoder.layers.3.attention.k_proj.weight" in err.value.message
    assert "encoder.extra_thing.weight" in err.value.message


def test_cuda_without_gpu_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ModelError) as err:
        resolve_device("cuda")
    assert err.value.code is ErrorCode.DEVICE_UNAVAILABLE and "--device cpu" in err.value.message


def test_head_width_must_match_encoder(tiny_mert_dir: Path, tmp_path: Path, tiny_heads: dict) -> None:
    folder = build_mert_folder(tmp_path / "wide", config={**TINY_MERT_CONFIG, "hidden_size": 48})
    settings = Settings(mert=str(folder), head=str(tiny_heads["train"]), device="cpu", use_cache=False)
    with pytest.raises(ModelError) as err:
        get_scorer(settings)
    assert err.value.code is ErrorCode.HEAD_MISMATCH and "48" in err.value.message


class FakeHub:
    """Stands in for hf_hub_download: records requests, serves files from a folder."""

    def __init__(self, folder: Path, raise_for: dict | None = None) -> None:
        self.folder = folder
        self.calls: list[tuple[str, str, str | None]] = []
        self.raise_for = raise_for or {}

    def __call__(self, repo_id: str, filename: str, *, revision=None, token=None, library_name=None) -> str:
        self.calls.append((repo_id, filename, revision))
        if filename in self.raise_for:
            raise self.raise_for[filename]
        if not (self.folder / filename).exists():
            raise hub_errors.RemoteEntryNotFoundError(f"{filename} not in repo", response=_response(404))
        return str(self.folder / filename)


def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/fake"))


def test_hub_id_downloads_config_then_first_weights(tiny_mert_dir: Path, monkeypatch) -> None:
    fake = FakeHub(tiny_mert_dir)
    monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", fake)
    encoder = load_encoder("m-a-p/MERT-v1-95M", revision="abc123", device="cpu")
    assert fake.calls == [("m-a-p/MERT-v1-95M", "config.json", "abc123"),
                          ("m-a-p/MERT-v1-95M", "model.safetensors", "abc123"),
                          ("m-a-p/MERT-v1-95M", "pytorch_model.bin", "abc123")]
    assert encoder.source == "m-a-p/MERT-v1-95M" and encoder.revision == "abc123"


def test_a_cached_weights_file_is_used_before_downloading(tiny_mert_dir: Path, monkeypatch) -> None:
    fake = FakeHub(tiny_mert_dir)
    monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", fake)
    cached = {"pytorch_model.bin": str(tiny_mert_dir / "pytorch_model.bin"), "config.json":
              str(tiny_mert_dir / "config.json")}
    monkeypatch.setattr(hub.huggingface_hub, "try_to_load_from_cache",
                        lambda repo, name, revision=None: cached.get(name))
    load_encoder("m-a-p/MERT-v1-95M", device="cpu")
    assert fake.calls == []  # preloaded (Spaces preload_from_hub): no request at all


def test_head_hub_repo_with_prefix(tiny_heads: dict, monkeypatch) -> None:
    fake = FakeHub(tiny_heads["hub_safetensors"])
    monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", fake)
    loaded = load_head("amaai-lab/apex")
    assert fake.calls == [("amaai-lab/apex", "model.safetensors", None)]
    assert loaded.outputs[-1] == "naturalness"


def test_unreachable_hub_says_how_to_use_a_local_copy(monkeypatch) -> None:
    offline = hub_errors.LocalEntryNotFoundError("cannot reach")
    monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", FakeHub(Path("/nonexistent"), {"config.json": offline}))
    with pytest.raises(ModelError) as err:
        load_encoder("m-a-p/MERT-v1-95M", device="cpu")
    assert err.value.code is ErrorCode.HUB_UNREACHABLE
    assert "APEX_MERT=DIR" in err.value.message


def test_unknown_repo(monkeypatch) -> None:
    missing = hub_errors.RepositoryNotFoundError("404", response=_response(404))
    monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", FakeHub(Path("/x"), {"pytorch_model.bin": missing,
                                                                                    "model.safetensors": missing}))
    with pytest.raises(ModelError) as err:
        load_head("nobody/no-such-head")
    assert err.value.code is ErrorCode.MODEL_NOT_FOUND and "APEX_HEAD" in err.value.message


def test_real_offline_hub_is_unreachable_not_a_crash() -> None:
    # HF_HUB_OFFLINE=1 (conftest): the real client refuses without touching the network.
    with pytest.raises(ModelError) as err:
        load_head("amaai-lab/apex-definitely-not-cached")
    assert err.value.code is ErrorCode.HUB_UNREACHABLE


def test_neither_path_nor_repo_id() -> None:
    with pytest.raises(ModelError) as err:
        load_head("./no/such/file.pt")
    assert err.value.code is ErrorCode.MODEL_NOT_FOUND


def test_cli_model_error_exits_2(capsys, audio_dir: Path) -> None:
    from apex_demo.cli import main

    code = main(["score", str(audio_dir / "vocadito_10.wav"), "--head", "amaai-lab/apex-not-cached", "--mert",
                 "m-a-p/MERT-not-cached"])
    assert code == 2
    assert "hub_unreachable" in capsys.readouterr().err
