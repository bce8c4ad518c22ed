"""Every setting is validated when Settings are made (environment, CLI, code), with a message naming the
variable."""

from __future__ import annotations

from pathlib import Path

import math

import pytest

from apex_demo.cli import main
from apex_demo.config import NUMBER_BOUNDS, REAL_OAUTH_VARIABLES, Settings
from apex_demo.errors import ApexError

BAD_VALUES = [
    ("APEX_MAX_SECONDS", "nan"), ("APEX_MAX_SECONDS", "inf"), ("APEX_MAX_SECONDS", "-1"), ("APEX_MAX_SECONDS", "0"),
    ("APEX_MIN_LISTEN_S", "-10"), ("APEX_MIN_LISTEN_S", "nan"), ("APEX_VOTES_PER_MINUTE", "-5"),
    ("APEX_VOTES_PER_MINUTE", "nan"), ("APEX_VOTES_PER_MINUTE", "2.5"), ("APEX_CACHE_MAX_MB", "nan"),
    ("APEX_CACHE_MAX_MB", "-1"), ("APEX_MAX_FILE_MB", "inf"), ("APEX_MAX_FILE_MB", "0"), ("APEX_MAX_FILE_MB", "ten"),
    ("APEX_DEVICE", "tpu"), ("APEX_PRECISION", "fp8"),
    ("APEX_COMPARE_MAX_SECONDS", "0"), ("APEX_COMPARE_MAX_SECONDS", "nan"), ("APEX_COMPARE_MAX_SECONDS", "-60"),
    ("APEX_BATCH_SIZE", "0"), ("APEX_BATCH_SIZE", "2.5"), ("APEX_BATCH_SIZE", "eight"), ("APEX_BATCH_SIZE", "inf"),
    ("APEX_DECODE_WORKERS", "-1"), ("APEX_DECODE_WORKERS", "1.5"),
    ("APEX_MIN_LISTEN_S", "1e308"), ("APEX_DECODE_WORKERS", "1e6"), ("APEX_MAX_SECONDS", "1e9"),
    ("APEX_PROXY_HOPS", "0"), ("APEX_PROXY_HOPS", "1.5"), ("APEX_PROXY_HOPS", "17"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ApexError) as err:
        Settings.from_env({name: value})
    assert err.value.code.value == "bad_setting"
    assert err.value.message.startswith(f"{name}=")


def test_limits_that_mean_off_or_zero_are_accepted() -> None:
    settings = Settings.from_env({"APEX_VOTES_PER_MINUTE": "0", "APEX_MIN_LISTEN_S": "0", "APEX_CACHE_MAX_MB": "0"})
    assert (settings.votes_per_minute, settings.min_listen_s, settings.cache_max_mb) == (0, 0.0, 0.0)


def test_pipeline_counts_are_auto_when_unset_or_auto() -> None:
    assert (Settings.from_env({}).batch_size, Settings.from_env({}).decode_workers) == (None, None)
    settings = Settings.from_env({"APEX_BATCH_SIZE": "AUTO", "APEX_DECODE_WORKERS": "0"})
    assert (settings.batch_size, settings.decode_workers) == (None, 0)
    assert Settings.from_env({"APEX_BATCH_SIZE": "16"}).batch_size == 16


@pytest.mark.parametrize(("flag", "value"), [("--batch-size", "0"), ("--batch-size", "two"),
                                             ("--decode-workers", "-1")])
def test_bad_pipeline_flag_stops_the_cli_naming_the_flag(flag: str, value: str, capsys, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["score", str(tmp_path), "--output", str(tmp_path / "out.csv"), flag, value])
    assert stop.value.code == 2
    assert flag in capsys.readouterr().err


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ApexError) as err:
        Settings(max_seconds=float("nan"))
    assert "APEX_MAX_SECONDS" in err.value.message
    with pytest.raises(ApexError) as err:
        Settings(batch_size=0)
    assert err.value.message.startswith("APEX_BATCH_SIZE=0") and "default auto" in err.value.message


def test_cli_says_which_variable_without_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("APEX_CACHE_MAX_MB", "nan")  # crashed with a traceback before
    assert main(["score", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert "APEX_CACHE_MAX_MB" in err and "Traceback" not in err


def test_the_comparison_budget_is_read_from_its_variable() -> None:
    assert Settings.from_env({}).compare_max_seconds == 3600.0
    assert Settings.from_env({"APEX_COMPARE_MAX_SECONDS": "900"}).compare_max_seconds == 900.0


@pytest.mark.parametrize("name", sorted(NUMBER_BOUNDS))
def test_every_number_has_an_upper_bound_that_is_itself_accepted(name: str) -> None:
    """The bound is inclusive and finite: the largest allowed value starts, the next one up says the range."""
    bound = NUMBER_BOUNDS[name]
    assert math.isfinite(bound.high) and bound.high > bound.low
    assert getattr(Settings(**{name: bound.high}), name) == bound.high
    above = bound.high + 1 if bound.whole else math.nextafter(bound.high, math.inf)
    with pytest.raises(ApexError) as err:
        Settings(**{name: above})
    assert err.value.message.startswith(f"{bound.env}=") and f"at most {bound.high:g}" in err.value.message


REAL_OAUTH = {"SYSTEM": "spaces", **{name: "set-by-spaces" for name in REAL_OAUTH_VARIABLES}}


@pytest.mark.parametrize("environ", [{"APEX_ARENA_LOGIN": "1"}, {"OAUTH_CLIENT_ID": "x"},
                                     {**REAL_OAUTH, "SYSTEM": "", "APEX_ARENA_LOGIN": "1"},
                                     {**REAL_OAUTH, "OAUTH_CLIENT_SECRET": "", "APEX_ARENA_LOGIN": "1"}],
                         ids=["login-flag", "client-id-only", "not-on-spaces", "no-secret"])
def test_login_is_refused_where_gradio_would_only_mock_it(environ: dict[str, str]) -> None:
    """Off a Space with OAuth, Gradio signs every visitor in as the machine's own account: refuse to start."""
    with pytest.raises(ApexError) as err:
        Settings.from_env(environ)
    assert err.value.code.value == "bad_setting" and "APEX_ARENA_LOGIN" in err.value.message
    assert "hf_oauth: true" in err.value.message


def test_login_on_a_space_with_oauth_is_accepted() -> None:
    assert Settings.from_env({**REAL_OAUTH, "APEX_ARENA_LOGIN": "1"}).arena_login is True
    assert Settings.from_env(REAL_OAUTH).arena_login is True          # a Space with hf_oauth: true
    assert Settings.from_env({}).arena_login is False


@pytest.mark.parametrize(("env", "expected"), [({}, False), ({"SPACE_ID": "me/checker"}, True),
                                               ({"SPACE_ID": "me/checker", "APEX_MCP": "0"}, False),
                                               ({"APEX_MCP": "on"}, True), ({"APEX_MCP": "OFF"}, False)])
def test_the_mcp_server_is_on_by_default_on_spaces_only(env: dict, expected: bool) -> None:
    assert Settings.from_env(env).mcp is expected


def test_a_bad_mcp_value_names_the_variable() -> None:
    with pytest.raises(ApexError) as err:
        Settings.from_env({"APEX_MCP": "maybe"})
    assert err.value.message.startswith("APEX_MCP='maybe'") and "1 or 0" in err.value.message


def test_persistent_storage_holds_votes_and_cache_on_a_space(tmp_path: Path) -> None:
    """A Space with persistent storage (simulated: a folder standing in for /data) keeps both there."""
    storage = tmp_path / "data"
    storage.mkdir()
    space = Settings.from_env({"SPACE_ID": "me/checker"}, persistent_storage=storage)
    assert space.persistent_storage == storage
    assert space.data_dir == storage / "apex_demo" and space.cache_dir == storage / "apex_demo" / "cache"
    assert space.storage_note() is None
    chosen = Settings.from_env({"SPACE_ID": "me/checker", "APEX_DATA_DIR": str(tmp_path / "elsewhere")},
                               persistent_storage=storage)
    assert chosen.data_dir == tmp_path / "elsewhere" and "outside its persistent storage" in (chosen.storage_note() or "")
    local = Settings.from_env({}, persistent_storage=storage)  # not a Space: a local folder named like it is not used
    assert local.persistent_storage is None and local.data_dir == Path("data") and local.storage_note() is None


def test_without_storage_or_a_votes_repo_a_space_loses_its_votes(tmp_path: Path) -> None:
    bare = Settings.from_env({"SPACE_ID": "me/checker"}, persistent_storage=tmp_path / "absent")
    assert bare.persistent_storage is None and bare.data_dir == Path("data")
    assert "Votes are lost when this Space restarts" in (bare.storage_note() or "")
    kept = Settings.from_env({"SPACE_ID": "me/checker", "APEX_VOTES_REPO": "me/votes"},
                             persistent_storage=tmp_path / "absent")
    assert kept.storage_note() is None
