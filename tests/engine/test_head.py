"""The APEX head loads the authors' checkpoints in every published format and computes their numbers.

Expected values come from reference/authors.py: the authors' apexMLP re-stated with
their module names, loaded the way their inference.py loads best_model.pt.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from apex_demo.errors import ErrorCode, ModelError
from apex_demo.engine.head import (SEEDED_AGGREGATOR_BIAS, SEEDED_AGGREGATOR_WEIGHT, ApexHead, HeadConfig, load_head,
                            seeded_aggregator)
from apex_demo.scores import POPULARITY_KEYS, SCORE_KEYS
from reference.authors import apexMLP, apply_head, load_apex_head
from reference.files import hub_state

TOL = 1e-5


@pytest.fixture(scope="module")
def embedding() -> torch.Tensor:
    return torch.randn(32, generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def authors_scores(tiny_heads: dict, embedding: torch.Tensor) -> dict[str, float]:
    return apply_head(load_apex_head(tiny_heads["train"]), embedding)


@pytest.mark.parametrize("task,n_shared,widths", [("full", 2, (512, 256)), ("full", 3, (512, 384, 256)),
                                                  ("popularity", 2, (512, 256)), ("popularity", 3, (512, 384, 256))])
def test_module_names_are_the_authors(task: str, n_shared: int, widths: tuple) -> None:
    outputs = SCORE_KEYS if task == "full" else POPULARITY_KEYS
    ours = ApexHead(HeadConfig(768, widths, (128, 64), outputs)).state_dict()
    theirs = apexMLP(task, n_shared).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    assert "branch_score_streams.branch.2.weight" in ours


@pytest.mark.parametrize("fmt", ["train", "bare", "hub_bin", "hub_safetensors", "models_only"])
def test_every_format_gives_the_authors_scores(fmt: str, tiny_heads: dict, embedding: torch.Tensor,
                                               authors_scores: dict) -> None:
    loaded = load_head(str(tiny_heads[fmt]))
    got = loaded.predict(embedding.unsqueeze(0))[0].as_dict()
    assert list(got) == list(SCORE_KEYS)
    assert got == pytest.approx(authors_scores, abs=TOL)
    assert loaded.head.config.shared_dims == (512, 256) and loaded.head.config.input_dim == 32
    assert not loaded.aggregator_from_checkpoint


@pytest.mark.parametrize("prefix", ["", "model.", "module.", "apex.", "model.apex_head."])
def test_any_prefix_with_mert_tensors(prefix: str, tiny_heads: dict, tmp_path: Path, embedding: torch.Tensor,
                                      authors_scores: dict) -> None:
    state = torch.load(tiny_heads["bare"], weights_only=True)
    path = tmp_path / "model.safetensors"
    save_file(hub_state(state, prefix), str(path))
    got = load_head(str(path)).predict(embedding.unsqueeze(0))[0].as_dict()
    assert got == pytest.approx(authors_scores, abs=TOL)


def test_training_checkpoint_metadata_is_read(tiny_heads: dict) -> None:
    loaded = load_head(str(tiny_heads["train"]))
    assert loaded.metadata["task"] == "full" and loaded.metadata["shared"] == 2
    assert loaded.metadata["loss"] == "uncertainty" and loaded.metadata["epoch"] == 17
    bn = loaded.head.shared[0].block[1]
    assert int(bn.num_batches_tracked) == 1234 and not loaded.head.training


def test_popularity_only_three_shared_layers(tiny_heads: dict, embedding: torch.Tensor) -> None:
    loaded = load_head(str(tiny_heads["popularity"]))
    assert loaded.head.config.shared_dims == (512, 384, 256)
    assert loaded.head.config.task == "popularity"
    scores = loaded.predict(embedding.unsqueeze(0))[0]
    assert list(scores.as_dict()) == list(POPULARITY_KEYS) and not scores.has_aesthetics
    expected = apply_head(load_apex_head(tiny_heads["popularity"]), embedding)
    assert scores.as_dict() == pytest.approx(expected, abs=TOL)


def test_seeded_aggregator_matches_torch_seed_42() -> None:
    torch.manual_seed(42)
    reference = torch.nn.Conv1d(4, 1, 1)
    agg = seeded_aggregator()
    assert torch.equal(agg.weight, reference.weight) and torch.equal(agg.bias, reference.bias)
    assert agg.weight.flatten().tolist() == list(SEEDED_AGGREGATOR_WEIGHT)
    assert agg.bias.item() == SEEDED_AGGREGATOR_BIAS


def test_aggregator_in_checkpoint_is_used(tiny_heads: dict, tmp_path: Path) -> None:
    state = dict(torch.load(tiny_heads["bare"], weights_only=True))
    state["aggregator.weight"] = torch.tensor([[[0.25], [0.25], [0.25], [0.25]]])
    state["aggregator.bias"] = torch.tensor([0.5])
    path = tmp_path / "with_agg.pt"
    torch.save(state, path)
    loaded = load_head(str(path))
    assert loaded.aggregator_from_checkpoint
    means = torch.ones(1, 4, 32)
    assert torch.allclose(loaded.aggregate(means), torch.full((1, 32), 1.5))


def _invented_layout(state: dict) -> dict:
    return {k.replace(".branch.", "."): v for k, v in state.items()}  # branch_x.0.block.0.weight


def _missing_running_var(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "branch_coherence.branch.1.block.1.running_var"}


@pytest.mark.parametrize("damage,named", [
    (_invented_layout, "branch_score_streams.branch.0.block.0.weight"),  # the real layout is named
    (_missing_running_var, "branch_coherence.branch.1.block.1.running_var"),  # the missing tensor is named
])
def test_a_wrong_checkpoint_is_refused_with_the_keys_named(damage, named: str, tiny_heads: dict,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "damaged.pt"
    torch.save(damage(torch.load(tiny_heads["bare"], weights_only=True)), path)
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.HEAD_MISMATCH
    assert named in err.value.message


def test_not_a_head_at_all(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.HEAD_MISMATCH and "encoder.weight" in err.value.message
    assert "shared.<i>.block.0.weight" in err.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a pickle")
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.WEIGHTS_MISMATCH


@pytest.mark.parametrize("field,value", [("shared", 3), ("task", "popularity")])
def test_inconsistent_metadata(field: str, value: object, tiny_heads: dict, tmp_path: Path) -> None:
    ckpt = torch.load(tiny_heads["train"], weights_only=True)
    ckpt[field] = value
    path = tmp_path / "lying.pt"
    torch.save(ckpt, path)
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.HEAD_MISMATCH and f"{field}={value}" in err.value.message


def test_folder_with_several_weights_files_names_the_setting(tiny_heads: dict, tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    shutil.copy(tiny_heads["train"], folder / "a.pt")
    shutil.copy(tiny_heads["train"], folder / "b.pt")
    with pytest.raises(ModelError) as err:
        load_head(str(folder))
    assert "a.pt" in err.value.message and "b.pt" in err.value.message and "APEX_HEAD_FILE" in err.value.message
    assert load_head(str(folder), filename="b.pt").path == folder / "b.pt"


def test_folder_without_weights_lists_its_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError) as err:
        load_head(str(tmp_path))
    assert err.value.code is ErrorCode.MODEL_NOT_FOUND and "notes.txt" in err.value.message


def test_preferred_names_win_over_other_weights(tiny_heads: dict, tmp_path: Path) -> None:
    folder = tmp_path / "both"
    shutil.copytree(tiny_heads["hub_safetensors"], folder)
    (folder / "models").mkdir()
    (folder / "models" / "best_model.pt").write_bytes(b"broken on purpose")
    assert load_head(str(folder)).path == folder / "model.safetensors"
