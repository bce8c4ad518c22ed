"""Helpers for the cluster tier: a catalogue with bad files among real recordings, the CLI's own numbers
for one file, and a gate that holds a model actor inside a call until the test has killed it.

The gate is a named pipe (FIFO) put where a song's embedding-cache entry belongs: the actor that looks
the song up opens it and blocks there, inside its call, until the test writes to it. The test learns
which process that is from /proc (the process holding the pipe open), kills it, and lets the restarted
actor through with bytes that are not an entry, which the cache drops as damaged (engine/cache.py), so
that song is encoded as usual.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from apex_demo.cli import main

GOOD = ("vocadito_10.wav", "loop_garzul.flac", "sorohanro_-_solo-trumpet-06.ogg",
        "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
        "Kevin_MacLeod_-_Vibe_Ace.ogg", "outfoxing.mp3")  # 1, 1, 1, 2, 3 and 4 segments
BAD = {"corrupt.flac": "corrupt_audio", "empty.wav": "empty_file", "notes.mp3": "not_audio",
       "eleven_minutes.wav": "too_long"}
GATE_WAIT_S = 180  # a guard against a hang, never a timing margin: the gate waits for an event
NOT_AN_ENTRY = b"not a cache entry"  # the cache drops it as damaged, and the song is encoded as usual


def write_catalogue(folder: Path, audio_dir: Path, good: tuple[str, ...] = GOOD, bad: bool = True) -> Path:
    """Real recordings, and (with bad) one file of each kind the engine refuses, made here."""
    folder.mkdir(parents=True)
    for name in good:
        shutil.copy(audio_dir / name, folder / name)
    if bad:
        flac = (audio_dir / "loop_garzul.flac").read_bytes()
        (folder / "corrupt.flac").write_bytes(flac[: len(flac) // 2])  # cut mid-stream: the decoder loses sync
        (folder / "empty.wav").write_bytes(b"")
        (folder / "notes.mp3").write_text("a text file with an audio name\n" * 20)
        sf.write(str(folder / "eleven_minutes.wav"), np.zeros(660 * 4000, np.float32), 4000, subtype="PCM_U8")
    return folder


def cli_record(file: Path, mert: str, head: str) -> dict:
    """`apex-demo score FILE --format json`: the CLI's record for one file, scored alone."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["score", str(file), "--format", "json", "--mert", mert, "--head", head, "--device", "cpu",
                     "--no-cache"]) == 0
    return json.loads(out.getvalue())[0]


def cache_entry_path(cache_dir: Path, key: str) -> Path:
    """Where the embedding cache keeps `key` (its on-disk layout: two hex digits, then the key)."""
    return cache_dir / key[:2] / f"{key}.npz"


def holders(path: Path) -> list[int]:
    """Processes that have `path` open (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(path) for fd in (proc / "fd").iterdir()):
                found.append(int(proc.name))
    return found


def open_when_read(fifo: Path) -> int:
    """The write end of `fifo`, once a reader has opened it (a process blocked in the cache lookup)."""
    deadline = time.monotonic() + GATE_WAIT_S
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def reader_of(fifo: Path) -> int:
    """The other process holding `fifo` open: its open() returns (and the descriptor shows in /proc) only
    once the process runs again after the write end was opened."""
    deadline = time.monotonic() + GATE_WAIT_S
    while not (others := [pid for pid in holders(fifo) if pid != os.getpid()]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody but this test holds {fifo} open")
        time.sleep(0.05)
    return others[0]


def wait_closed_by(pid: int, fifo: Path) -> None:
    """Until a killed process's end of the pipe is closed (the kernel closes it as the process exits)."""
    deadline = time.monotonic() + GATE_WAIT_S
    while pid in holders(fifo):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} still holds {fifo}")
        time.sleep(0.05)


def release(fifo: Path) -> None:
    """Let whoever waits on the gate through (after a failure in the test's gatekeeper: the job ends and the
    test reports the failure instead of hanging)."""
    with contextlib.suppress(OSError):
        handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(handle, NOT_AN_ENTRY)
        os.close(handle)
