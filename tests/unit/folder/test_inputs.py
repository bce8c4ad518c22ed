"""What a folder run scores: manifests (.txt, .csv) and remote folders (file:// through pyarrow's
filesystems, the same code path as s3:// or gs://) expand to their songs, and a remote file is copied
for decoding within a size bound."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from apex_demo.errors import ApexError, AudioError
from apex_demo.folder import remote
from apex_demo.folder.inputs import find_audio, is_batch_output


@pytest.fixture()
def songs(tmp_path: Path) -> Path:
    """A folder tree: two songs, one in a sub-folder, a hidden file and a text file (neither is a song)."""
    root = tmp_path / "songs"
    (root / "sub").mkdir(parents=True)
    for rel in ("b.wav", "a.mp3", "sub/c.flac", ".hidden.wav", "notes.txt"):
        (root / rel).write_bytes(b"x")
    return root


def test_a_txt_manifest_lists_songs_in_its_order_relative_to_its_folder(songs: Path, tmp_path: Path) -> None:
    manifest = songs / "list.txt"
    manifest.write_text(f"# first the sub-folder's song\nsub/c.flac\n\n  b.wav  \n{songs / 'a.mp3'}\ns3://bucket/x.mp3\n")
    assert find_audio([str(manifest)], recursive=False) == [str(songs / "sub/c.flac"), str(songs / "b.wav"),
                                                            str(songs / "a.mp3"), "s3://bucket/x.mp3"]


def test_a_csv_manifest_reads_its_file_column_and_a_folder_entry_expands(songs: Path) -> None:
    manifest = songs / "rows.csv"
    manifest.write_text("score_streams,file\n12.5,a.mp3\n,sub\n")
    assert find_audio([str(manifest)], recursive=False) == [str(songs / "a.mp3"), str(songs / "sub/c.flac")]


def test_a_csv_manifest_without_a_file_column_is_refused_with_its_columns(songs: Path) -> None:
    manifest = songs / "rows.csv"
    manifest.write_text("path,score\na.mp3,1\n")
    with pytest.raises(ApexError, match="'file' column.*path, score") as caught:
        find_audio([str(manifest)], recursive=False)
    assert caught.value.code.value == "bad_request"


def test_a_manifest_with_nul_bytes_is_refused(songs: Path) -> None:
    manifest = songs / "list.txt"
    manifest.write_bytes(b"a.mp3\n\x00\x00\n")
    with pytest.raises(ApexError, match="NUL"):
        find_audio([str(manifest)], recursive=False)


def test_a_remote_folder_lists_its_songs_sorted_without_hidden_or_other_files(songs: Path) -> None:
    uri = "file://" + str(songs)
    assert find_audio([uri], recursive=False) == [f"file://{songs}/a.mp3", f"file://{songs}/b.wav"]
    assert find_audio([uri + "/"], recursive=True) == [f"file://{songs}/a.mp3", f"file://{songs}/b.wav",
                                                       f"file://{songs}/sub/c.flac"]
    assert find_audio([f"file://{songs}/b.wav"], recursive=False) == [f"file://{songs}/b.wav"]  # a file as given


def test_a_remote_manifest_resolves_relative_entries_against_its_own_folder(songs: Path) -> None:
    (songs / "list.txt").write_text("sub/c.flac\n")
    assert find_audio([f"file://{songs}/list.txt"], recursive=False) == [f"file://{songs}/sub/c.flac"]


def test_manifests_and_uris_make_a_csv_output_a_results_file(songs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    (songs / "list.txt").write_text("a.mp3\n")
    assert not is_batch_output(out, [str(songs / "a.mp3")], recursive=False)  # one-shot --format csv, as before
    assert is_batch_output(out, [str(songs / "list.txt")], recursive=False)
    assert is_batch_output(out, ["s3://bucket/songs"], recursive=False)
    assert is_batch_output(out, [str(songs)], recursive=False)


def test_a_remote_file_is_copied_byte_for_byte_then_removed(tmp_path: Path) -> None:
    source = tmp_path / "song.flac"
    source.write_bytes(bytes(range(256)) * 5000)  # over one copy block
    with remote.local_copy(f"file://{source}") as copy:
        assert copy.name == "song.flac" and copy.parent != source.parent
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert not copy.exists() and not copy.parent.exists()


def test_a_remote_file_over_the_bound_is_refused_before_it_is_copied(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "huge.wav"
    source.write_bytes(b"\0" * 2048)
    monkeypatch.setattr(remote, "MAX_REMOTE_BYTES", 2047)
    with pytest.raises(AudioError) as caught, remote.local_copy(f"file://{source}"):
        pass
    assert caught.value.code.value == "too_large"


def test_a_missing_remote_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as caught, remote.local_copy(f"file://{tmp_path}/gone.mp3"):
        pass
    assert caught.value.code.value == "file_not_found"


def test_the_copy_bound_is_inclusive_where_the_listing_did_not_know_the_size(monkeypatch) -> None:
    """A stream exactly at the bound is copied whole; one byte more is too_large (the bound holds for a size
    the filesystem did not report, or reported wrong)."""
    import io

    monkeypatch.setattr(remote, "MAX_REMOTE_BYTES", 10)
    monkeypatch.setattr(remote, "COPY_BLOCK_BYTES", 4)
    sink = io.BytesIO()
    remote._copy_bounded(io.BytesIO(b"0123456789"), sink, "s3://bucket/exact.wav")
    assert sink.getvalue() == b"0123456789"
    with pytest.raises(AudioError) as caught:
        remote._copy_bounded(io.BytesIO(b"0123456789A"), io.BytesIO(), "s3://bucket/over.wav")
    assert caught.value.code.value == "too_large"
