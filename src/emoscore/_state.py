"""The envelope of saved engine states: a 12-byte header, then one Arrow IPC stream.

Header: 6-byte magic naming the kind of state, format version (uint16), CRC-32 of the payload
(uint32), little-endian. Arrow IPC is data only (no pickle), so reading untrusted bytes is safe.
"""

from __future__ import annotations

import struct
import zlib

import pyarrow as pa

from .errors import StateFormatError

_HEADER = struct.Struct("<6sHI")


def pack_state(table: pa.Table, *, magic: bytes, version: int) -> bytes:
    """Serialize ``table`` (zstd-compressed where pyarrow has the codec) behind the header."""
    sink = pa.BufferOutputStream()
    codec = "zstd" if pa.Codec.is_available("zstd") else None
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    return _HEADER.pack(magic, version, zlib.crc32(payload)) + payload


def unpack_state(data: bytes, *, magic: bytes, version: int, what: str) -> pa.Table:
    """The table saved by :func:`pack_state`; :class:`StateFormatError` names ``what`` was expected.

    Any byte string either gives a table or raises :class:`StateFormatError` (a payload whose
    checksum was forged is still decoded defensively: every Arrow or I/O failure is wrapped)."""
    try:
        data = bytes(data)
    except (TypeError, ValueError) as exc:
        raise StateFormatError(f"not an emoscore {what}: expected bytes, got {type(data).__name__}") from exc
    if len(data) < _HEADER.size or data[: len(magic)] != magic:
        raise StateFormatError(f"not an emoscore {what} (missing the {magic.decode()} header)")
    _, found, crc = _HEADER.unpack_from(data)
    if found != version:
        raise StateFormatError(f"{what} format version {found} is not supported; this release reads version {version}")
    payload = data[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise StateFormatError(f"corrupt {what}: the checksum does not match (truncated or altered bytes)")
    try:
        source = pa.BufferReader(payload)
        table = pa.ipc.open_stream(source).read_all()
        table.validate(full=True)
        if source.tell() != len(payload):
            raise StateFormatError(f"corrupt {what}: {len(payload) - source.tell()} bytes after the end of the state")
    except StateFormatError:
        raise
    except MemoryError as exc:
        raise StateFormatError(f"corrupt {what}: implausible sizes ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - OSError, ArrowInvalid, IndexError ...: all mean bad bytes
        raise StateFormatError(f"corrupt {what}: {type(exc).__name__}: {exc}") from None
    return table
