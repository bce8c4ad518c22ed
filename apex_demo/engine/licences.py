"""Which licence each model carries, and what that means for using the scores commercially.

The code of this project is MIT (LICENSE); the models it runs are not, and a musician who sells songs
needs to know before relying on the scores. Stated once here for the About tab; the Space card
(README.md) says the same, and tests/unit/test_licences.py holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass

from apex_demo.config import DEFAULT_HEAD, DEFAULT_MERT

CODE_LICENCE = "MIT"
NOT_LEGAL_ADVICE = "This is a summary, not legal advice; the model cards are the word."


@dataclass(frozen=True)
class ModelLicence:
    """One model's licence as its publisher states it, and where that was read."""

    repo: str
    role: str
    licence: str
    source: str

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}"


MODEL_LICENCES = (
    ModelLicence(DEFAULT_MERT, "audio encoder", "CC BY-NC 4.0", "its model card"),
    # The head's Hub card could not be read from here; the authors' GitHub repository (AMAAI-Lab/apex)
    # says its project is licensed under Apache 2.0, which is not necessarily the weights' licence.
    ModelLicence(DEFAULT_HEAD, "APEX head", "see the card", "its model card (the authors' code on GitHub is "
                 "Apache 2.0)"),
)
COMMERCIAL_USE = (
    "**What that means for commercial use.** CC BY-NC 4.0 allows non-commercial use only (with credit). Every "
    "score here comes out of MERT-v1-95M, so using the scores for a commercial purpose (for example to choose "
    "which songs to release for sale, or inside a label's or a paid service's workflow) needs permission "
    "from MERT's authors (m-a-p); trying the app out, research and personal projects are non-commercial. "
    "Check the APEX head's own card as well. " + NOT_LEGAL_ADVICE)


def licences_markdown() -> str:
    """The models' licences and what they mean, for the About tab."""
    rows = [f"- **{m.role}** [{m.repo}]({m.url}): **{m.licence}** ({m.source})" for m in MODEL_LICENCES]
    return "\n".join(["**Licences**", *rows,
                      f"- **This app's code**: {CODE_LICENCE} (the LICENSE file); it covers the code only, not the "
                      "models.", "", COMMERCIAL_USE])
