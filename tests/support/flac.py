"""FLAC as RFC 9639 lays it out, read independently of apex_demo.arena.blind: metadata blocks, STREAMINFO's
fields, and the last frame header found in a file's tail (what a script reading a byte range sees)."""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"fLaC"
STREAMINFO, PADDING, APPLICATION, SEEKTABLE, VORBIS_COMMENT, CUESHEET, PICTURE = range(7)
SYNC_FIXED = b"\xff\xf8"            # frame sync code with a fixed block size (RFC 9639 9.1)


def metadata_blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(block type, body) of every metadata block (RFC 9639 8.1: 1 bit last, 7 bits type, 24 bits length)."""
    assert data[:4] == MAGIC, "not FLAC"
    blocks, at = [], 4
    while True:
        header = data[at]
        length = int.from_bytes(data[at + 1:at + 4], "big")
        blocks.append((header & 0x7F, data[at + 4:at + 4 + length]))
        at += 4 + length
        if header & 0x80:
            return blocks


@dataclass(frozen=True)
class StreamInfo:
    min_block: int
    max_block: int
    min_frame: int
    max_frame: int
    sample_rate: int
    channels: int
    bits: int
    total_samples: int
    md5: bytes


def stream_info(body: bytes) -> StreamInfo:
    """RFC 9639 8.2: 16+16 bits block sizes, 24+24 frame sizes, 20 rate, 3 channels-1, 5 bits-1, 36 samples, MD5."""
    packed = int.from_bytes(body[10:18], "big")
    return StreamInfo(int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big"),
                      int.from_bytes(body[4:7], "big"), int.from_bytes(body[7:10], "big"),
                      packed >> 44, ((packed >> 41) & 0x7) + 1, ((packed >> 36) & 0x1F) + 1,
                      packed & ((1 << 36) - 1), body[18:34])


def _crc8(data: bytes) -> int:
    """CRC-8 of a frame header (polynomial x^8 + x^2 + x + 1, initial 0; RFC 9639 9.1.8)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _coded_number(data: bytes, at: int) -> tuple[int, int]:
    """The UTF-8-like coded frame number at `at` (RFC 9639 9.1.5): its value and its length in bytes."""
    first = data[at]
    if first < 0x80:
        return first, 1
    length = next(n for n in range(2, 8) if (first << n) & 0x80 == 0)  # the count of leading one bits
    value = first & (0x7F >> length)
    for byte in data[at + 1:at + length]:
        value = (value << 6) | (byte & 0x3F)
    return value, length


def last_frame(tail: bytes, block_size: int) -> tuple[int, int]:
    """The last frame header in `tail` whose CRC-8 checks: (frame number, samples in that frame). With a
    fixed block size the stream's length is frame number x block size + that frame's samples."""
    at = tail.rfind(SYNC_FIXED)
    while at >= 0:
        if at + 6 <= len(tail):
            size_code = tail[at + 2] >> 4
            number, length = _coded_number(tail, at + 4)
            end = at + 4 + length
            samples = {1: 192, 6: tail[end] + 1 if end < len(tail) else -1,
                       7: int.from_bytes(tail[end:end + 2], "big") + 1}.get(size_code, block_size)
            extra = {6: 1, 7: 2}.get(size_code, 0)
            rate_extra = {12: 1, 13: 2, 14: 2}.get(tail[at + 2] & 0x0F, 0)
            crc_at = end + extra + rate_extra
            if crc_at < len(tail) and _crc8(tail[at:crc_at]) == tail[crc_at]:
                return number, samples
        at = tail.rfind(SYNC_FIXED, 0, at)
    raise AssertionError("no frame header in the tail")
