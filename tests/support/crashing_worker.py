"""A decoding worker that dies on one file, for tests/test_pipeline.py.

Its own small module because spawned workers import it: it must not pull in the test
module's heavy imports (transformers, the reference loop).
"""

from __future__ import annotations

import os

from apex_demo.folder.prefetch import DecodeJob, Prepared, prepare

CRASH_MARK = "crash"
CRASH_EXIT_CODE = 3


def prepare_or_die(file: str, job: DecodeJob) -> Prepared:
    """Like a native decoder crashing: the whole worker process exits on a file named *crash*."""
    if CRASH_MARK in os.path.basename(file):
        os._exit(CRASH_EXIT_CODE)
    return prepare(file, job)
