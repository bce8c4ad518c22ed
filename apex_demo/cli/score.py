"""`score AUDIO [AUDIO ...]`: the seven APEX scores of each file, as json, csv or a table."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from apex_demo.cli.exits import EXIT_OK, EXIT_SOME_FAILED
from apex_demo.cli.options import add_engine_options, add_model_options, add_pipeline_options, model_settings
from apex_demo.cli.outputs import check_output, output_errors
from apex_demo.config import Settings
from apex_demo.csvsafe import escape_row
from apex_demo.engine import NOT_JUDGED_CODES, flat_row, song_record
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.scores import OUTPUT_BY_KEY, SCORE_KEYS

FORMATS = ("table", "json", "csv")
if TYPE_CHECKING:
    from apex_demo.engine import Scorer
    from apex_demo.folder import BatchSummary

TABLE_MISSING = "-"
MODE_NOTE = "note: fast mode was asked for; {note}"  # which mode runs, why, and its error (engine/modes.py)
RAY_MODE_NOTE = ("note: fast mode was asked for; each model actor decides by its own timed probe whether it runs "
                 "(the rows' mode column says which ran)")
RAY_HINT = ('--engine ray needs Ray: pip install "apex-demo[ray]" (or pip install -r requirements-ray.txt), or '
            "score with the default --engine local.")
TABLE_HEADERS = {"file": "file", "duration_s": "dur_s", **{k: OUTPUT_BY_KEY[k].label for k in SCORE_KEYS},
                 "status": "status"}


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("score", help="score audio files", description=__doc__)
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, MP3; others need ffmpeg), folders, "
                                            "manifests (.txt: one path or URI a line; .csv: a 'file' column) or "
                                            "URIs (s3://, gs://, file://; with --output)")
    p.add_argument("--recursive", action="store_true", help="also score audio in sub-folders of folder inputs")
    add_model_options(p)
    p.add_argument("--format", choices=FORMATS, help="output format (default: from --output's name, .json or "
                                                     ".csv, else table)")
    p.add_argument("--output", type=Path, help="write to this file instead of standard output; .csv, .parquet "
                                               "or .jsonl write rows as they go and resume an interrupted run")
    p.add_argument("--with-embedding", action="store_true", help="json: include the 768-d song embedding")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    add_pipeline_options(p)
    add_engine_options(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace, settings: Settings) -> Settings:
    """CLI flags win over the environment."""
    return model_settings(args, settings).with_overrides(use_cache=False if args.no_cache else None,
                                                         batch_size=args.batch_size,
                                                         decode_workers=args.decode_workers)


def record_of(scorer: "Scorer", with_embedding: bool = False) -> Callable[[str], dict[str, Any]]:
    """path -> its JSON record (numbers and `report`), with the file named as the user gave it."""
    return lambda path: song_record(scorer.score_file(path, display_name=path), with_embedding)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # The engine (torch, transformers) is imported here, not at module level, so `--help` and the
    # other subcommands start in about a second.
    from apex_demo.folder import find_audio, is_batch_output, is_remote, score_records

    settings = settings_from_args(args, settings)
    batch = is_batch_output(args.output, args.audio, args.recursive)
    check_engine(args, batch)
    paths = find_audio(args.audio, args.recursive)
    if args.output is not None:
        # before any scoring: minutes of work must not end in a traceback or overwrite a song
        check_output(args.output, paths, "one of the audio files being scored", "results.csv")
    if batch:  # row by row, resumable (folder.results_file)
        with output_errors(args.output):
            return run_batch(paths, args.output, settings, args.engine, args.address)
    if any(is_remote(path) for path in paths):
        raise ApexError("Remote files (URIs) are scored into a results file: add --output results.parquet "
                        "(or .jsonl, .csv).", ErrorCode.BAD_REQUEST)
    from apex_demo.engine import get_scorer

    scorer = get_scorer(settings)
    say_mode(scorer, settings)
    records = list(score_records(paths, record_of(scorer, args.with_embedding), show_progress=len(paths) > 1))
    text = render(records, output_format(args))
    if args.output:
        with output_errors(args.output):
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for record in records:
        for warning in record.get("warnings", []):
            print(f"warning [{warning['code']}] {record['file']}: {warning['message']}", file=sys.stderr)
    return EXIT_SOME_FAILED if any("error" in r for r in records) else EXIT_OK


def say_mode(scorer: "Scorer", settings: Settings) -> None:
    """When fast mode was asked for: whether it runs, why (decided when the models loaded), and its error."""
    if settings.fast:
        print(MODE_NOTE.format(note=scorer.model_info.mode_note), file=sys.stderr)


def output_format(args: argparse.Namespace) -> str:
    """--format, else what --output's name says (.json, .csv), else the human table."""
    if args.format:
        return args.format
    suffix = args.output.suffix.lower() if args.output else ""
    return {".json": "json", ".csv": "csv"}.get(suffix, "table")


def check_engine(args: argparse.Namespace, batch: bool) -> None:
    """--engine ray writes a results file; --address and --decode-workers belong to one engine each."""
    if args.engine == "ray" and not batch:
        raise ApexError("--engine ray writes a results file that grows row by row: add --output results.parquet "
                        "(or .jsonl, .csv).", ErrorCode.BAD_REQUEST)
    if args.address and args.engine != "ray":
        raise ApexError(f"--address {args.address} names a Ray cluster: add --engine ray.", ErrorCode.BAD_REQUEST)
    if args.engine == "ray" and args.decode_workers is not None:
        raise ApexError("--decode-workers sets this machine's decoding processes; with --engine ray the cluster "
                        "decodes in its own tasks: leave it out.", ErrorCode.BAD_REQUEST)


def run_batch(paths: list[str], output: Path, settings: Settings, engine: str = "local",
              address: str | None = None) -> int:
    """Rows as they go, resumable (folder.results_file), by the decode-ahead, batched pipeline on this
    machine (folder.pipeline) or by a Ray Data job (folder.ray_job)."""
    from apex_demo.folder import model_identity, with_progress, write_records

    model_id = model_identity(settings)
    if engine == "ray":
        score_on_ray = ray_engine()
        if settings.fast:
            print(RAY_MODE_NOTE, file=sys.stderr)
        summary = write_records(paths, output, lambda todo, done: with_progress(
            score_on_ray(todo, settings, done, address), len(todo)), model_id)
        how = f"engine ray{' at ' + address if address else ''}"
    else:
        summary, how = _on_this_machine(paths, output, settings, model_id)
    print(f"{output}: {summary.scored} scored, {summary.failed} failed, {summary.skipped} already there ({how})",
          file=sys.stderr)
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _on_this_machine(paths: list[str], output: Path, settings: Settings, model_id: str
                     ) -> tuple["BatchSummary", str]:
    """The decoding workers are started first: they start up (about 2 s each, importing torch) while
    this process imports transformers and loads the models, instead of after."""
    from apex_demo.folder import decoding_pool, workers_for

    with decoding_pool(workers_for(settings.decode_workers)) as pool:
        from apex_demo.engine import get_scorer
        from apex_demo.folder import batch_size_for, score_folder, with_progress, write_records

        scorer = get_scorer(settings)
        say_mode(scorer, settings)
        size = batch_size_for(scorer.encoder.device, settings.batch_size)
        summary = write_records(paths, output, lambda todo, done: with_progress(
            score_folder(scorer, todo, size, pool, done), len(todo)), model_id)
    workers = pool.workers if pool is not None else 0
    return summary, f"mode {scorer.model_info.mode}, batch size {size}, decoding workers {workers}"


def ray_engine() -> Callable[..., Any]:
    """folder.score_on_ray, imported here only: the app and the plain CLI never import Ray."""
    try:
        from apex_demo.folder import score_on_ray
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise ApexError(RAY_HINT, ErrorCode.BAD_REQUEST) from None
    return score_on_ray


def render(records: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=2) + "\n"
    if fmt == "csv":
        return to_csv([flat_row(r) for r in records])
    return to_table(records)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["file"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(escape_row(row) for row in rows)
    return buffer.getvalue()


def _status(warnings: str) -> str:
    """The table's status for a scored file: its warning codes, marked "not judged" when one of them means the
    numbers are no judgement of the song (engine/report.py: silence, a clip too short), as the app greys them."""
    codes = warnings.split(";") if warnings else []
    if any(code in NOT_JUDGED_CODES for code in codes):
        return "not judged: " + warnings
    return warnings or "ok"


def to_table(records: list[dict[str, Any]]) -> str:
    """Aligned columns for people; failures show their error code, unjudgeable audio says so."""
    rows = []
    for record in records:
        row = flat_row(record)
        cells = {"file": row["file"],
                 "duration_s": f"{row['duration_s']:.1f}" if row["duration_s"] is not None else TABLE_MISSING}
        for key in SCORE_KEYS:
            value = row[key]
            cells[key] = TABLE_MISSING if value is None else f"{value:.{1 if OUTPUT_BY_KEY[key].high > 5 else 2}f}"
        cells["status"] = ("error: " + row["error_code"]) if row["error_code"] else _status(row["warnings"])
        rows.append(cells)
    widths = {k: max(len(TABLE_HEADERS[k]), *(len(r[k]) for r in rows)) for k in TABLE_HEADERS}
    lines = ["  ".join(TABLE_HEADERS[k].ljust(widths[k]) for k in TABLE_HEADERS)]
    lines += ["  ".join(r[k].ljust(widths[k]) if k in ("file", "status") else r[k].rjust(widths[k])
                        for k in TABLE_HEADERS) for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"
