"""Folder scoring as a Ray Data job: the single-machine pipeline's steps, spread over a cluster.

`python -m apex_demo score FOLDER --engine ray --output results.parquet [--address ADDRESS]`

    files (the driver: listed, those whose path is done left out)
      -> decode    CPU tasks, one file each: check, hash (a song already in the results file for this
                   model stops here), decode, resample to 24 kHz, 30 s segments (prefetch.prepare:
                   the engine's own functions, exactly as on one machine)
      -> encode    an actor pool, one model copy per actor (one GPU each where the cluster has GPUs):
                   the segments of the songs in one call share encoder forwards, then the head makes
                   each song's record (pipeline.records_of, as on one machine)
      -> records   back to the driver as JSON text, written row by row by folder.results_file
                   (resumable; the same columns and formats as on one machine)

Only records travel to the driver: the raw bytes never leave the decode task that read them, and
the waveforms (segments) end in the actor that encodes them.

Limits, and why (a 10-minute 48 kHz stereo song must not blow the object store of a 2-core 24 GB
machine): a decoded song travels as its 30 s segments at 24 kHz, float32, 2.9 MB each, so a
10-minute song is 58 MB whatever its source rate; every file is its own decode task and block;
an actor takes SONGS_PER_CALL songs per call with at most TASKS_IN_FLIGHT_PER_ACTOR calls queued;
and the job's object-store budget (`Plan.store_budget`) holds that many of the longest songs the
settings allow, at least MIN_STORE_BUDGET: Ray Data stops starting decode tasks when the budget is
reached, so decoding never runs ahead of the encoder by more than that. A local Ray gets an object
store of twice the budget. Decode tasks ask for DECODE_TASK_MEMORY, actors for ACTOR_MEMORY, so
Ray does not put more of them on a node than its memory holds.

Faults: Ray restarts a model actor that dies and retries the calls it held (Ray Data's defaults for
actor pools: max_restarts=-1, max_task_retries=-1); results_file keeps one row per file even if a
retried call repeats work. A decode task whose worker dies is retried by Ray (3 times); a file whose
task still failed is not dropped silently: once the job ends, it gets an internal_error row.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import ray
import ray.data

from apex_demo.config import Settings
from apex_demo.engine import cached_entry, error_record, segments
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.folder.pipeline import batch_size_for, records_of
from apex_demo.folder.prefetch import DecodeJob, Prepared, prepare

LOGGER = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # apex_demo/, shipped to every worker (runtime_env)
SONGS_PER_CALL = 4               # songs whose segments one actor call encodes together
TASKS_IN_FLIGHT_PER_ACTOR = 2    # one call encoding, one waiting: the actor never idles, little is queued
MiB = 1 << 20
MIN_STORE_BUDGET = 1024 * MiB    # object store the job may fill at least (Ray Data backpressure)
DECODE_TASK_MEMORY = 1024 * MiB  # peak of decoding one long song (10 min at 48 kHz stereo: about 0.5 GB)
ACTOR_MEMORY = 3072 * MiB        # one MERT-v1-95M copy with its CPU fast path: about 2 GB resident
SEGMENT_BYTES = segments.SEGMENT_SAMPLES * 4  # float32
LOST_MESSAGE = ("{file}: its task failed on the cluster even after retries (a worker crashed or ran out of "
                "memory; the Ray logs say which). The other files were scored; score this one again alone "
                "to see whether it is the cause.")


@dataclass(frozen=True)
class Plan:
    """How many model actors, whether each holds a GPU, and the job's object-store budget."""

    actors: int
    gpus: bool
    store_budget: int

    @classmethod
    def of(cls, settings: Settings, cluster_gpus: float, cpu_nodes: int) -> "Plan":
        """One actor per GPU where the cluster has GPUs (unless --device cpu); else one per node, using
        every core of its node (as the single-machine encoder does)."""
        gpus = int(cluster_gpus) if settings.device != "cpu" else 0
        actors = gpus if gpus else max(1, cpu_nodes)
        longest = segments_for(settings.max_seconds) * SEGMENT_BYTES
        budget = max(MIN_STORE_BUDGET, actors * SONGS_PER_CALL * (TASKS_IN_FLIGHT_PER_ACTOR + 1) * longest)
        return cls(actors, bool(gpus), budget)


def segments_for(seconds: float) -> int:
    """30 s segments of the longest song the settings let through."""
    return max(1, -(-int(seconds * segments.SAMPLE_RATE) // segments.SEGMENT_SAMPLES))


def runtime_env() -> dict[str, Any]:
    """The package travels with the job (py_modules, given to ray.init: Ray uploads a local folder only
    for a whole job): every worker runs the driver's code, also on a cluster whose image holds another
    version or none (its dependencies must be installed there). Whoever connects to Ray before calling
    score_on_ray passes this to ray.init too."""
    return {"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__", "*.pyc"]}


# ----- the driver ------------------------------------------------------------------------------
def score_on_ray(files: Sequence[str], settings: Settings, done: frozenset[str] = frozenset(),
                 address: str | None = None) -> Iterator[dict[str, Any]]:
    """One record per file, in the order they finish (a skip marker for a song whose sha256 is in
    `done`); connects to `address`, or to the cluster of a `ray job submit`, or starts a local Ray.
    Closing the iterator stops the job (and a Ray it started)."""
    started = connect(address, settings)
    rows = None
    try:
        plan = plan_here(settings)
        LOGGER.info("scoring %d files on Ray: %d model actor(s)%s, object-store budget %d MiB", len(files),
                    plan.actors, " with a GPU each" if plan.gpus else "", plan.store_budget // MiB)
        rows = iter(dataset(files, settings, done, plan).iter_rows())
        seen: set[str] = set()
        for row in _surfacing_apex_errors(rows):
            record = json.loads(row["record"])
            seen.add(record["file"])
            yield record
        for file in dict.fromkeys(files):
            if file not in seen:
                yield error_record(file, ApexError(LOST_MESSAGE.format(file=file), ErrorCode.INTERNAL))
    finally:
        getattr(rows, "close", lambda: None)()
        if started:
            ray.shutdown()


def connect(address: str | None, settings: Settings) -> bool:
    """Use the Ray this process is connected to, else `address` (or RAY_ADDRESS, set by `ray job submit`),
    else start a local one sized for this job. True when this call started or joined one."""
    if ray.is_initialized():
        return False
    follow_our_log_level()
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, runtime_env=runtime_env(), logging_level=logging.WARNING)
    else:
        local = Plan.of(settings, 0, 1)
        ray.init(object_store_memory=2 * local.store_budget, include_dashboard=False, runtime_env=runtime_env(),
                 logging_level=logging.WARNING)
    return True


def follow_our_log_level() -> None:
    """Ray Data logs each run's plan at INFO and warns that its progress bars are off (the CLI draws its
    own, per file): shown with -v only, as the engine's own INFO lines are."""
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def plan_here(settings: Settings) -> Plan:
    """The plan for the cluster this process is connected to."""
    nodes = [node for node in ray.nodes() if node.get("Alive") and node.get("Resources", {}).get("CPU")]
    return Plan.of(settings, ray.cluster_resources().get("GPU", 0), len(nodes))


def dataset(files: Sequence[str], settings: Settings, done: frozenset[str], plan: Plan) -> ray.data.Dataset:
    """files -> decode tasks -> model actors -> records (see the module docstring)."""
    job = DecodeJob(settings.max_seconds, None, None, done)  # the cache is the actors' (they know its key)
    ds: ray.data.Dataset = ray.data.from_items([{"file": file} for file in files],
                                               override_num_blocks=max(1, len(files)))
    ds = ds.map(functools.partial(decode_row, job=job), num_cpus=1, memory=DECODE_TASK_MEMORY)
    ds = ds.map_batches(SongEncoder, fn_constructor_kwargs={"settings": settings}, batch_size=SONGS_PER_CALL,
                        batch_format="numpy", num_cpus=1, memory=ACTOR_MEMORY,
                        compute=ray.data.ActorPoolStrategy(size=plan.actors,
                                                           max_tasks_in_flight_per_actor=TASKS_IN_FLIGHT_PER_ACTOR),
                        num_gpus=1 if plan.gpus else None)
    context = ds.context  # this dataset's own copy
    context.execution_options.resource_limits = ray.data.ExecutionResources.for_limits(
        object_store_memory=plan.store_budget)
    context.max_errored_blocks = -1  # a file whose task keeps failing gets its error row; the job goes on
    context.enable_progress_bars = False  # the CLI draws its own bar, per file scored
    return ds


def _surfacing_apex_errors(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows; a failure that stops the job (models that do not load on the workers) as the ApexError
    inside Ray's wrapping, so the CLI prints its message and code."""
    try:
        yield from rows
    except Exception as exc:
        cause = apex_cause(exc)
        if cause is None:
            raise
        raise cause from None


def apex_cause(exc: BaseException) -> ApexError | None:
    """The ApexError a Ray error wraps (RayTaskError.cause, __cause__, __context__), if any."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ApexError):
            return current
        stack += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return None


# ----- the workers -----------------------------------------------------------------------------
def decode_row(row: dict[str, Any], job: DecodeJob) -> dict[str, Any]:
    """A decode task: one file in, one row out (its segments, or its error, or a skip mark)."""
    return to_row(prepare(str(row["file"]), job))


def to_row(prepared: Prepared) -> dict[str, Any]:
    """A Prepared file as plain columns (Arrow has no Python objects): empty arrays stand for none."""
    none = np.zeros((0, segments.SEGMENT_SAMPLES), dtype=np.float32)
    return {"file": prepared.file, "sha256": prepared.sha256, "meta": json.dumps(prepared.meta or {}),
            "segments": prepared.segments if prepared.segments is not None else none,
            "error": json.dumps(prepared.error) if prepared.error is not None else "", "skipped": prepared.skipped}


def from_row(batch: dict[str, np.ndarray], index: int) -> Prepared:
    """Row `index` of a batch of `to_row` rows, as the Prepared file it was."""
    segs = np.asarray(batch["segments"][index], dtype=np.float32)
    error, meta = str(batch["error"][index]), str(batch["meta"][index])
    return Prepared(str(batch["file"][index]), str(batch["sha256"][index]), meta=json.loads(meta) or None,
                    segments=segs if len(segs) else None, error=json.loads(error) if error else None,
                    skipped=bool(batch["skipped"][index]))


class SongEncoder:
    """A model actor: one copy of MERT and the head (engine.get_scorer), loaded once per actor."""

    def __init__(self, settings: Settings) -> None:
        import torch

        from apex_demo.engine import get_scorer

        if settings.device == "cpu" or not torch.cuda.is_available():
            torch.set_num_threads(node_cpus())  # Ray sets one thread per requested CPU; the encoder uses them all
        self.scorer = get_scorer(settings)
        self.batch_size = batch_size_for(self.scorer.encoder.device, settings.batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        songs = [self._looked_up(from_row(batch, i)) for i in range(len(batch["file"]))]
        records = list(records_of(self.scorer, songs, self.batch_size))
        return {"file": [r["file"] for r in records], "record": [json.dumps(r) for r in records]}

    def _looked_up(self, song: Prepared) -> Prepared:
        """The embedding cache of this actor's node (keyed by the loaded encoder): a hit skips the encoder."""
        if self.scorer.cache is None or song.segments is None:
            return song
        song.key, entry = cached_entry(song.sha256, self.scorer.cache, self.scorer.key_of)
        if entry is not None:
            song.segments, song.cached, song.meta = None, entry.layer_means, entry.meta
        return song


def node_cpus() -> int:
    """The CPUs Ray counts on this actor's node (a container's share, not the host's cores)."""
    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node.get("NodeID") == node_id:
            return max(1, int(node.get("Resources", {}).get("CPU", 1)))
    return max(1, os.cpu_count() or 1)
