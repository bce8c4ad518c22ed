"""MERT config translation, legacy weight names, strict loading, devices, and Hub resolution (no network)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import inspect

import httpx
import huggingface_hub
import pytest
import torch
from huggingface_hub import errors as hub_errors

from apex_demo.engine import hub
from apex_demo.config import Settings
from transformers import Wav2Vec2FeatureExtractor

from apex_demo.engine.encoder import (_hubert_model, hubert_config_from_mert, load_encoder, normalize_segments,
                                      resolve_device)
from apex_demo.errors import ErrorCode, ModelError
from apex_demo.engine.head import load_head
from apex_demo.engine.models import get_scorer
from reference.files import write_mert_folder
from tests.support.models import TINY_MERT_CONFIG, build_mert_folder
from tests.support import REPO


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
    model = _hubert_model(hubert_config_from_mert(TINY_MERT_CONFIG), tiny_mert_dir / "pytorch_model.bin")
    conv = model.encoder.pos_conv_embed.conv  # the HubertModel path (CUDA, configs the CPU runner cannot run)
    assert torch.equal(conv.parametrizations.weight.original1, state["encoder.pos_conv_embed.conv.weight_v"])
    runner = load_encoder(str(tiny_mert_dir), device="cpu").cpu_runner  # the CPU runner evaluates the same weight
    assert runner is not None
    assert torch.equal(runner.pos_w.squeeze(2), conv.weight.detach().to(runner.pos_w.dtype))


def test_safetensors_is_preferred(tiny_mert_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "mert_st"
    shutil.copytree(tiny_mert_dir, folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["encoder.layer_norm.bias"] = torch.full_like(state["encoder.layer_norm.bias"], 0.125)
    save_file(state, str(folder / "model.safetensors"))
    encoder = load_encoder(str(folder), device="cpu")
    assert encoder.cpu_runner is not None and torch.all(encoder.cpu_runner.enc_norm.bias == 0.125)


def test_an_absent_optional_tensor_is_zero_not_uninitialised(tiny_mert_dir: Path, tmp_path: Path) -> None:
    """The model is allocated without random init; a training-only tensor the file lacks must not hold garbage."""
    folder = tmp_path / "no_mask"
    shutil.copytree(tiny_mert_dir, folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del state["masked_spec_embed"]
    torch.save(state, folder / "pytorch_model.bin")
    model = _hubert_model(hubert_config_from_mert(TINY_MERT_CONFIG), folder / "pytorch_model.bin")
    assert torch.count_nonzero(model.masked_spec_embed) == 0
    assert torch.equal(model.feature_projection.projection.bias, state["feature_projection.projection.bias"])
    assert load_encoder(str(folder), device="cpu").cpu_runner is not None  # the CPU runner never reads it


def test_cli_start_up_does_not_import_sklearn() -> None:
    """`score` must not pay for the arena statistics' imports (about 1.3 s): checked in a fresh interpreter."""
    code = "import sys, apex_demo.cli; print(sorted(m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]"


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
    folder = build_mert_folder(tmp_path / "wide", hidden_size=48)
    settings = Settings(mert=str(folder), head=str(tiny_heads["train"]), device="cpu", use_cache=False)
    with pytest.raises(ModelError) as err:
        get_scorer(settings)
    assert err.value.code is ErrorCode.HEAD_MISMATCH and "48" in err.value.message


# The real signatures, taken before any test replaces the functions.
REAL_SIGNATURES = {name: inspect.signature(getattr(huggingface_hub, name))
                   for name in ("list_repo_files", "hf_hub_download")}


class FakeHub:
    """Stands in for huggingface_hub's list_repo_files and hf_hub_download, serving a folder as a repo.

    Every call is first bound to the real function's signature, so a misspelled or
    missing argument fails the test instead of passing silently.
    """

    def __init__(self, folder: Path, raise_for: dict | None = None) -> None:
        self.folder = folder
        self.calls: list[tuple[str, ...]] = []
        self.raise_for = raise_for or {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> "FakeHub":
        monkeypatch.setattr(hub.huggingface_hub, "list_repo_files", self.list_repo_files)
        monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", self.hf_hub_download)
        return self

    def list_repo_files(self, *args, **kwargs) -> list[str]:
        bound = REAL_SIGNATURES["list_repo_files"].bind(*args, **kwargs).arguments
        self.calls.append(("list", bound["repo_id"], bound.get("revision")))
        self._maybe_raise("list")
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())

    def hf_hub_download(self, *args, **kwargs) -> str:
        bound = REAL_SIGNATURES["hf_hub_download"].bind(*args, **kwargs).arguments
        filename = bound["filename"]
        self.calls.append(("download", bound["repo_id"], filename, bound.get("revision")))
        self._maybe_raise(filename)
        return str(self.folder / filename)

    def _maybe_raise(self, what: str) -> None:
        if what in self.raise_for:
            raise self.raise_for[what]


def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/fake"))


def test_hub_id_lists_the_repo_then_downloads_what_it_needs(tiny_mert_dir: Path, monkeypatch) -> None:
    fake = FakeHub(tiny_mert_dir).install(monkeypatch)
    encoder = load_encoder("m-a-p/MERT-v1-95M", revision="abc123", device="cpu")
    downloads = [c[2] for c in fake.calls if c[0] == "download"]
    assert downloads == ["config.json", "preprocessor_config.json", "pytorch_model.bin"]
    assert [c for c in fake.calls if c[0] == "list"] == [("list", "m-a-p/MERT-v1-95M", "abc123")]  # once, not 3x
    load_encoder("m-a-p/MERT-v1-95M", revision="abc123", device="cpu")
    assert len([c for c in fake.calls if c[0] == "list"]) == 2  # a new load lists again (the repo may have changed)
    assert all(c[1] == "m-a-p/MERT-v1-95M" and c[-1] == "abc123" for c in fake.calls)
    assert encoder.source == "m-a-p/MERT-v1-95M" and encoder.revision == "abc123"


def _hf_cache_repo(cache: Path, repo_id: str, files: dict[str, Path], commit: str = "0123abcd" * 5) -> Path:
    """A repo in the Hugging Face cache layout (models--owner--name/snapshots/<commit>, refs/main)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for name, source in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, snapshot / name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_a_repo_in_the_local_cache_loads_without_any_request(tiny_mert_dir: Path, tiny_heads: dict,
                                                             tmp_path: Path, monkeypatch) -> None:
    """What Spaces' preload_from_hub leaves behind, read by the real huggingface_hub (offline)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _hf_cache_repo(tmp_path / "hub", "m-a-p/MERT-v1-95M",
                   {n: tiny_mert_dir / n for n in ("config.json", "preprocessor_config.json", "pytorch_model.bin")})
    snapshot = _hf_cache_repo(tmp_path / "hub", "amaai-lab/apex",
                              {"models/best_model.pt": tiny_heads["train"], "README.md": tiny_heads["train"]})
    fake = FakeHub(tmp_path).install(monkeypatch)
    encoder = load_encoder("m-a-p/MERT-v1-95M", device="cpu")
    head = load_head("amaai-lab/apex")
    assert fake.calls == []
    assert head.path == snapshot / "models" / "best_model.pt" and head.metadata["task"] == "full"
    assert encoder.hidden_size == 32


@pytest.mark.parametrize("layout,expected", [("hub_safetensors", "model.safetensors"),
                                             ("hub_bin", "pytorch_model.bin"),
                                             ("models_only", "models/best_model.pt")])
def test_head_hub_repo_whatever_its_weights_file(layout: str, expected: str, tiny_heads: dict, monkeypatch) -> None:
    fake = FakeHub(tiny_heads[layout]).install(monkeypatch)
    loaded = load_head("amaai-lab/apex")
    assert fake.calls == [("list", "amaai-lab/apex", None), ("download", "amaai-lab/apex", expected, None)]
    assert loaded.outputs[-1] == "naturalness"


def test_hub_repo_with_several_weights_needs_a_pick(tiny_heads: dict, tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    shutil.copy(tiny_heads["train"], repo / "models" / "best_model.pt")
    shutil.copy(tiny_heads["popularity"], repo / "models" / "popularity.pt")
    FakeHub(repo).install(monkeypatch)
    with pytest.raises(ModelError) as err:
        load_head("amaai-lab/apex")
    assert "models/best_model.pt" in err.value.message and "APEX_HEAD_FILE" in err.value.message
    picked = load_head("amaai-lab/apex", filename="models/popularity.pt")
    assert picked.head.config.task == "popularity"


def test_unreachable_hub_says_how_to_use_a_local_copy(monkeypatch) -> None:
    offline = hub_errors.OfflineModeIsEnabled("cannot reach")
    FakeHub(Path("/nonexistent"), {"list": offline}).install(monkeypatch)
    with pytest.raises(ModelError) as err:
        load_encoder("m-a-p/MERT-v1-95M", device="cpu")
    assert err.value.code is ErrorCode.HUB_UNREACHABLE
    assert "APEX_MERT=DIR" in err.value.message


def test_unknown_repo(monkeypatch) -> None:
    missing = hub_errors.RepositoryNotFoundError("404", response=_response(404))
    FakeHub(Path("/x"), {"list": missing}).install(monkeypatch)
    with pytest.raises(ModelError) as err:
        load_head("nobody/no-such-head")
    assert err.value.code is ErrorCode.MODEL_NOT_FOUND and "APEX_HEAD" in err.value.message


def test_fakes_refuse_a_wrong_signature() -> None:
    """The guard the fakes rely on: a misspelled keyword does not bind to the real function."""
    with pytest.raises(TypeError):
        REAL_SIGNATURES["hf_hub_download"].bind("a/b", "f", revison="x")


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


def test_preprocessor_sampling_rate_other_than_24k_is_refused(tmp_path: Path) -> None:
    folder = write_mert_folder(tmp_path / "mert16k", preprocessor_overrides={"sampling_rate": 16000})
    with pytest.raises(ModelError) as err:
        load_encoder(str(folder), device="cpu")
    assert err.value.code is ErrorCode.UNSUPPORTED_CONFIG and "sampling_rate=16000" in err.value.message


def test_normalisation_equals_wav2vec2_feature_extractor() -> None:
    """transformers' own extractor with do_normalize=True is the expected value."""
    gen = torch.Generator().manual_seed(3)
    segments = torch.cat([0.3 * torch.randn(1, 24000, generator=gen) + 0.1,
                          torch.cat([torch.randn(1, 12000, generator=gen), torch.zeros(1, 12000)], dim=1)])
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=True)
    for row, got in zip(segments, normalize_segments(segments)):
        want = extractor(row.numpy(), sampling_rate=24000, return_tensors="pt")["input_values"][0]
        assert torch.allclose(got, want, atol=1e-6, rtol=0)


def test_a_missing_preprocessor_config_means_the_published_defaults(tiny_mert_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-preprocessor"
    shutil.copytree(tiny_mert_dir, folder)
    (folder / "preprocessor_config.json").unlink()
    assert load_encoder(str(folder), device="cpu").features.do_normalize is False
