"""Rebuild assets/examples/: openly licensed excerpts (<= 35 s, Ogg Vorbis) of original recordings.

Only CC0, CC BY and public-domain recordings; licences, sources and changes are listed in
assets/ATTRIBUTION.md. Download the originals named there into one folder (two of them ship in
tests/data), then run: `python scripts/make_examples.py FOLDER`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "assets" / "examples"
# (source file, output name, start s, length s)
EXCERPTS = (
    ("Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", "Karissa_Hobbs_-_Lets_Go_Fishin_excerpt.ogg", 20.0, 35.0),
    ("Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
     "Brahms_-_Hungarian_Dance_No_5_excerpt.ogg", 0.0, 35.0),
    ("loop_garzul.flac", "Garzul_-_drum_loop.ogg", 0.0, 35.0),
)


def excerpt(source: Path, target: Path, start_s: float, length_s: float) -> None:
    """Write [start, start + length) of `source` to `target` as Ogg Vorbis."""
    info = sf.info(str(source))
    start = int(start_s * info.samplerate)
    data, rate = sf.read(str(source), start=start, frames=int(length_s * info.samplerate), dtype="float32")
    sf.write(str(target), data, rate, format="OGG", subtype="VORBIS")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder holding the original recordings listed in EXCERPTS")
    source = parser.parse_args(argv).source
    missing = [name for name, *_ in EXCERPTS if not (source / name).is_file()]
    if missing:
        parser.error(f"{source} lacks {', '.join(missing)}; download them from the sources in assets/ATTRIBUTION.md")
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, out, start, length in EXCERPTS:
        excerpt(source / name, TARGET / out, start, length)
        print(f"{out}: {sf.info(str(TARGET / out)).duration:.1f} s, {(TARGET / out).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
