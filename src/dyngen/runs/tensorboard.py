"""TensorBoard event files written with the standard library alone (``--log tensorboard``).

TensorBoard reads ``events.out.tfevents.*`` files: TFRecords (a little-endian length, its masked CRC-32C,
the bytes, their masked CRC-32C) that each hold one ``Event`` protocol buffer. A training run needs three
kinds of event (the file version, scalars and images), so the few protobuf fields they use are encoded here
by hand rather than through the ``tensorboard`` package, which would pull in protobuf, grpc and numpy pins:
``--log tensorboard`` adds no dependency. ``read_events`` decodes what ``EventWriter`` writes (for tests and
for a look without TensorBoard). Field numbers from tensorflow/core/util/event.proto and summary.proto:

    Event:   wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5 (Summary)
    Summary: value = 1 (repeated Value)
    Value:   tag = 1 (string), simple_value = 2 (float), image = 4 (Image)
    Image:   height = 1, width = 2, colorspace = 3 (int32), encoded_image_string = 4 (bytes, PNG)
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Any

TENSORBOARD = "tensorboard"  # the event files' folder in a run directory
FILE_VERSION = "brain.Event:2"
_CRC_TABLE: list[int] = []


def _crc_table() -> list[int]:
    if not _CRC_TABLE:
        for n in range(256):
            c = n
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # CRC-32C (Castagnoli), reflected
            _CRC_TABLE.append(c)
    return _CRC_TABLE


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    table, crc = _crc_table(), 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> bytes:
    crc = crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s as two's complement, as protobuf does
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _bytes_field(number: int, data: bytes) -> bytes:
    return _field(number, 2, _varint(len(data)) + data)


def _event(step: int, *, file_version: str | None = None, values: list[bytes] | None = None) -> bytes:
    out = _field(1, 1, struct.pack("<d", time.time())) + _field(2, 0, _varint(step))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if values:
        out += _bytes_field(5, b"".join(_bytes_field(1, v) for v in values))
    return out


class EventWriter:
    """Appends events to a new ``events.out.tfevents.<time>.<host>`` file in ``folder`` (one per process start;
    TensorBoard reads them all, and a resumed run's steps continue its earlier ones)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}"
        self._write(_event(0, file_version=FILE_VERSION))

    def _write(self, event: bytes) -> None:
        header = struct.pack("<Q", len(event))
        with open(self.path, "ab") as f:
            f.write(header + _masked(header) + event + _masked(event))

    def scalars(self, step: int, values: dict[str, float], *, prefix: str = "") -> None:
        """One event with a scalar per finite number in ``values`` (tags ``prefix + key``)."""
        encoded = [
            _bytes_field(1, (prefix + k).encode()) + _field(2, 5, struct.pack("<f", float(v)))
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if encoded:
            self._write(_event(step, values=encoded))

    def image(self, step: int, tag: str, png: bytes) -> None:
        """One event with a PNG image (its size read from the PNG's header)."""
        if png[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError("not a PNG image")
        width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
        channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(png[25], 3)  # PNG colour type -> grey, RGB, grey+alpha, RGBA
        image = (_field(1, 0, _varint(height)) + _field(2, 0, _varint(width)) + _field(3, 0, _varint(channels))
                 + _bytes_field(4, png))  # fmt: skip
        self._write(_event(step, values=[_bytes_field(1, tag.encode()) + _bytes_field(4, image)]))


def _parse(buf: bytes) -> dict[int, list[Any]]:
    """A protobuf message's fields: ``{number: [values]}`` (varints as int, fixed as bytes, lengths as bytes)."""
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[i]
        n |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return n, i


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events of one file, checksums verified: ``{"step", "wall_time", "scalars": {tag: value},
    "images": {tag: png bytes}}`` and ``"file_version"`` where present."""
    data, events, i = Path(path).read_bytes(), [], 0
    while i < len(data):
        header = data[i : i + 8]
        if _masked(header) != data[i + 8 : i + 12]:
            raise ValueError(f"{path}: corrupt record header at byte {i}")
        (n,) = struct.unpack("<Q", header)
        body = data[i + 12 : i + 12 + n]
        if _masked(body) != data[i + 12 + n : i + 16 + n]:
            raise ValueError(f"{path}: corrupt record at byte {i}")
        i += 16 + n
        f = _parse(body)
        event: dict[str, Any] = {"step": f.get(2, [0])[0], "wall_time": struct.unpack("<d", f[1][0])[0],
                                 "scalars": {}, "images": {}}  # fmt: skip
        if 3 in f:
            event["file_version"] = f[3][0].decode()
        for summary in f.get(5, []):
            for value in _parse(summary).get(1, []):
                v = _parse(value)
                tag = v[1][0].decode()
                if 2 in v:
                    event["scalars"][tag] = struct.unpack("<f", v[2][0])[0]
                if 4 in v:
                    event["images"][tag] = _parse(v[4][0])[4][0]
        events.append(event)
    return events
