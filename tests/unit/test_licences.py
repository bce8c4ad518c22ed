"""The licences a musician needs to know, stated the same on the Space card and the About tab."""

from __future__ import annotations

import re

from apex_demo.engine.licences import CODE_LICENCE, MODEL_LICENCES, licences_markdown
from tests.support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def front_matter() -> dict[str, str]:
    block = README.split("---")[1]
    return dict(line.split(": ", 1) for line in block.splitlines() if re.match(r"^\w+: ", line))


def test_mert_is_non_commercial_everywhere_it_is_said() -> None:
    mert = next(m for m in MODEL_LICENCES if m.repo == "m-a-p/MERT-v1-95M")
    assert mert.licence == "CC BY-NC 4.0"  # as MERT-v1-95M's model card states
    assert f"**{mert.licence}**" in licences_markdown() and f"**{mert.licence}**" in README
    assert "commercial" in licences_markdown() and "non-commercial use only" in README


def test_the_card_does_not_call_the_whole_space_mit() -> None:
    meta = front_matter()
    assert meta["license"] == "other" and meta["license_link"] == "LICENSE"
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith(f"{CODE_LICENCE} License") and "CC BY-NC 4.0" in licence.split("Not covered")[1]


def test_the_heads_licence_is_not_guessed() -> None:
    head = next(m for m in MODEL_LICENCES if m.repo == "amaai-lab/apex")
    assert head.licence == "see the card" and "huggingface.co/amaai-lab/apex" in README
