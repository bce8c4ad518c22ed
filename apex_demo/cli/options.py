"""Command-line options that choose the models, shared by `score` and `doctor`."""

from __future__ import annotations

import argparse

from apex_demo.config import DEVICES, Settings


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
