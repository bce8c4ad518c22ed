"""The APEX head loads from every published checkpoint format and computes the reference numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from apex_demo.errors import ErrorCode, ModelError
from apex_demo.head import SEEDED_AGGREGATOR_BIAS, SEEDED_AGGREGATOR_WEIGHT, load_head, seeded_aggregator
from apex_demo.scores import POPULARITY_KEYS, SCORE_KEYS
from tests.reference_loop import reference_head


@pytest.fixture(scope="module")
def embedding() -> torch.Tensor:
    return torch.randn(32, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("fmt", ["train", "bare", "hub_bin", "hub_safetensors"])
def test_every_format_gives_the_reference_scores(fmt: str, tiny_heads: dict, embedding: torch.Tensor) -> None:
    loaded = load_head(str(tiny_heads[fmt]))
    state = torch.load(tiny_heads["train"], weights_only=True)["model_state"]
    expected = reference_head(embedding, state)
    got = loaded.predict(embedding.unsqueeze(0))[0].as_dict()
    assert list(got) == list(SCORE_KEYS)
    assert got == pytest.approx(expected, abs=1e-5)
    assert loaded.head.config.shared_dims == (64, 32) and loaded.head.config.input_dim == 32
    assert not loaded.aggregator_from_checkpoint
    assert len({round(v, 3) for k, v in got.items() if k not in POPULARITY_KEYS}) > 1  # not a constant head


def test_batchnorm_running_stats_are_used(tiny_heads: dict, embedding: torch.Tensor) -> None:
    loaded = load_head(str(tiny_heads["train"]))
    bn = loaded.head.shared[0].block[1]
    assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert int(bn.num_batches_tracked) == 1234
    assert not loaded.head.training


def test_popularity_only_three_shared_layers(tiny_heads: dict, embedding: torch.Tensor) -> None:
    loaded = load_head(str(tiny_heads["popularity"]))
    assert loaded.head.config.shared_dims == (64, 48, 32)
    assert loaded.head.config.task == "popularity"
    scores = loaded.predict(embedding.unsqueeze(0))[0]
    assert list(scores.as_dict()) == list(POPULARITY_KEYS) and not scores.has_aesthetics
    state = torch.load(tiny_heads["popularity"], weights_only=True)["model_state"]
    assert scores.as_dict() == pytest.approx(reference_head(embedding, state), abs=1e-4)


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


def test_mismatched_checkpoint_lists_the_keys(tiny_heads: dict, tmp_path: Path) -> None:
    state = dict(torch.load(tiny_heads["bare"], weights_only=True))
    del state["branch_coherence.1.block.0.weight"]
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.HEAD_MISMATCH
    assert "branch_coherence.1.block.0.weight" in err.value.message


def test_not_a_head_at_all(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.HEAD_MISMATCH and "encoder.weight" in err.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a pickle")
    with pytest.raises(ModelError) as err:
        load_head(str(path))
    assert err.value.code is ErrorCode.WEIGHTS_MISMATCH


def test_inconsistent_shared_field(tiny_heads: dict, tmp_path: Path) -> None:
    ckpt = torch.load(tiny_heads["train"], weights_only=True)
    ckpt["shared"] = 3
    path = tmp_path / "lying.pt"
    torch.save(ckpt, path)
    with pytest.raises(ModelError, match="shared=3"):
        load_head(str(path))
