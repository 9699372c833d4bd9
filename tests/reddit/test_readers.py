from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.reddit.errors import DumpReadError
from jedi_academy.reddit.formats import check_input, detect_format, open_dump
from tests.reddit.conftest import bz2_decoders
from tests.reddit.dumps import comment, compress, ndjson

DATA = ndjson([comment(n, body=f"comment number {n} " + "x" * (n % 300)) for n in range(1200)])
# Level 1 means 100 kB blocks: several blocks from little data, so parallel decoders have work to split.
BIG = ndjson([comment(n, body=" ".join(str(n * k) for k in range(150))) for n in range(500)])
BIG_BZ2 = bz2.compress(BIG, 1)


def read_all(path: Path, chunk: int = 1 << 16, **kwargs: object) -> bytes:
    with open_dump(path, **kwargs) as reader:  # type: ignore[arg-type]
        pieces = []
        while piece := reader.read(chunk):
            assert len(piece) <= chunk
            pieces.append(piece)
        assert reader.position == sum(len(p) for p in pieces)
        return b"".join(pieces)


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("plain", ".ndjson"), ("gz", ".gz"), ("xz", ".xz"), ("zst", ".zst")]
)
def test_each_format_decodes_to_the_original_bytes(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = tmp_path / f"dump{suffix}"
    path.write_bytes(compress(DATA, fmt))
    assert read_all(path) == DATA


@pytest.mark.parametrize("decoder", bz2_decoders())
@pytest.mark.parametrize("fmt", ["bz2", "bz2-multi"])
def test_bz2_single_and_multi_stream(tmp_path: Path, decoder: str, fmt: str) -> None:
    path = tmp_path / "dump.bz2"
    path.write_bytes(compress(DATA, fmt))
    if fmt == "bz2-multi":
        assert path.read_bytes().count(b"BZh") >= 2
    assert read_all(path, bz2_decoder=decoder) == DATA


def test_file_without_suffix_is_plain_ndjson(tmp_path: Path) -> None:
    path = tmp_path / "RC_2015-01"  # what bunzip2 leaves behind
    path.write_bytes(DATA)
    assert detect_format(path) == "plain"
    assert read_all(path) == DATA


def test_compressed_reader_reports_compressed_position(tmp_path: Path) -> None:
    path = tmp_path / "dump.xz"
    path.write_bytes(compress(DATA, "xz"))
    with open_dump(path) as reader:
        assert reader.compressed_pos == 0
        while reader.read(1 << 16):
            pass
        assert reader.compressed_pos == path.stat().st_size


@pytest.mark.parametrize("fmt", ["gz", "xz", "zst"])
def test_truncated_file_names_file_and_offset(tmp_path: Path, fmt: str) -> None:
    whole = compress(DATA, fmt)
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    got = bytearray()
    with open_dump(path) as reader, pytest.raises(DumpReadError) as info:
        while piece := reader.read(1 << 14):
            got += piece
    error = info.value
    assert str(path) in error.message
    assert error.decompressed_offset == len(got) > 0
    assert f"{len(got):,}" in error.message
    assert DATA.startswith(bytes(got))


@pytest.mark.parametrize("decoder", bz2_decoders())
def test_truncated_bz2_with_each_decoder(tmp_path: Path, decoder: str) -> None:
    path = tmp_path / "cut.bz2"
    path.write_bytes(BIG_BZ2[: len(BIG_BZ2) // 2])
    got = bytearray()
    with open_dump(path, bz2_decoder=decoder) as reader, pytest.raises(DumpReadError) as info:
        while piece := reader.read(1 << 16):
            got += piece
    assert "cut.bz2" in info.value.message
    assert info.value.decompressed_offset == len(got)
    assert BIG.startswith(bytes(got))


@pytest.mark.parametrize("decoder", bz2_decoders())
def test_corrupt_bz2_is_an_error_not_garbage(tmp_path: Path, decoder: str) -> None:
    data = bytearray(BIG_BZ2)
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path = tmp_path / "bad.bz2"
    path.write_bytes(bytes(data))
    with pytest.raises(DumpReadError, match=r"bad\.bz2"):
        read_all(path, bz2_decoder=decoder)


def test_not_bz2_at_all(tmp_path: Path) -> None:
    path = tmp_path / "fake.bz2"
    path.write_bytes(b"this is not compressed\n")
    with pytest.raises(AcademyError, match="not a valid bz2 file"):
        read_all(path, bz2_decoder="python")
    with pytest.raises(AcademyError, match="not a valid bz2 file"):
        read_all(path)


def test_skip_resumes_at_a_decompressed_offset(tmp_path: Path) -> None:
    for fmt, name in (("xz", "d.xz"), ("plain", "d.ndjson"), ("bz2", "d.bz2")):
        path = tmp_path / name
        path.write_bytes(compress(DATA, fmt))
        with open_dump(path) as reader:
            reader.skip(12345)
            assert reader.position == 12345
            rest = reader.read(1 << 30)
            while piece := reader.read(1 << 20):
                rest += piece
        assert rest == DATA[12345:]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.bz2", "no such file"),
        ("dump.7z", "unsupported file type '.7z'"),
        ("dump.zip", "unsupported"),
    ],
)
def test_bad_inputs_fail_with_one_clear_error(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    if name != "missing.bz2":
        path.write_bytes(b"x")
    with pytest.raises(AcademyError, match=message):
        check_input(path)


def test_compressed_data_with_a_plain_name_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "dump.ndjson"
    path.write_bytes(compress(DATA, "bz2"))
    with pytest.raises(AcademyError, match=r"rename it to end in \.bz2"):
        check_input(path)


def test_folder_is_not_a_dump(tmp_path: Path) -> None:
    with pytest.raises(AcademyError, match="is a folder"):
        check_input(tmp_path)
