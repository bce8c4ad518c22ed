"""Command-line options: the models (shared by `score` and `doctor`), the folder pipeline and the engine
that scores a folder (`score`)."""

from __future__ import annotations

import argparse
from typing import Callable

from apex_demo.config import DEVICES, NUMBER_BOUNDS, Settings


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--mert/--head (file, folder or Hub id), the weights file inside them, and the device."""
    p.add_argument("--mert", help="MERT Hub id or folder (default: $APEX_MERT or m-a-p/MERT-v1-95M)")
    p.add_argument("--mert-file", help="weights file inside the MERT folder or repo (default: $APEX_MERT_FILE, "
                                       "else model.safetensors / pytorch_model.bin)")
    p.add_argument("--head", help="APEX head Hub id, folder or checkpoint file (default: $APEX_HEAD or "
                                  "amaai-lab/apex)")
    p.add_argument("--head-file", help="weights file inside the head folder or repo, e.g. models/best_model.pt "
                                       "(default: $APEX_HEAD_FILE, else chosen automatically)")
    p.add_argument("--device", choices=DEVICES, help="where MERT runs (default: $APEX_DEVICE or auto)")
    p.add_argument("--fast", action="store_true", help="approximate fast mode (bf16; results labelled "
                                                       "mode=fast; default: $APEX_FAST or off)")


def model_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """Model flags win over the environment."""
    return settings.with_overrides(mert=args.mert, mert_file=args.mert_file, head=args.head,
                                   head_file=args.head_file, device=args.device,
                                   fast=True if args.fast else None)


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    """--batch-size and --decode-workers: how folder scoring keeps the encoder busy (apex_demo/pipeline.py)."""
    p.add_argument("--batch-size", type=whole_number("batch_size", "--batch-size"), metavar="N",
                   help="batch mode: 30 s segments per encoder forward, across songs (default: $APEX_BATCH_SIZE, "
                        "else 1 on CPU, 8 on CUDA)")
    p.add_argument("--decode-workers", type=whole_number("decode_workers", "--decode-workers"), metavar="N",
                   help="batch mode: processes decoding the next files while the encoder runs; 0 decodes in the "
                        "main process (default: $APEX_DECODE_WORKERS, else the CPU cores minus one, at most 8)")


ENGINES = ("local", "ray")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """--engine and --address: score a folder on this machine or on a Ray cluster (apex_demo/folder/ray_job.py)."""
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="batch mode: local (this machine: decoding workers, batches) or ray (a Ray cluster: decode "
                        "tasks and a pool of model actors; needs the ray extra) (default: local)")
    p.add_argument("--address", metavar="ADDRESS",
                   help="with --engine ray: the Ray cluster, e.g. auto or ray://head:10001 (default: the cluster of "
                        "`ray job submit`, else a local Ray started for this run)")


def whole_number(field: str, flag: str) -> Callable[[str], int]:
    """An argparse type for the count setting `field`: a whole number within its bound in
    config.NUMBER_BOUNDS (the one place the limits live); anything else stops at start, naming the flag."""
    bound = NUMBER_BOUNDS[field]

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is not a whole number; give e.g. "
                                             f"{max(int(bound.low), 1)}") from None
        problem = bound.problem(float(value))
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{flag} {value} {problem}")
        return value
    return parse
