"""Opening the input: stdin or a path, gzip/zstd detected by magic bytes, the format detected from
magic bytes, the file name or the first line; and the bounded line splitter of the text formats.

The byte stream a reader sees is layered::

    file descriptor ─ _Source (a blocking read a stop signal turns into end of input)
                    ─ _Gunzip (zlib) / _Unzstd (pyarrow), when the magic bytes say so
                    ─ _Guard (read errors become InputFailure; after a stop, end of input)

Damaged compressed input (cut short, corrupt, bytes after the last gzip member or zstd frame that
are not another one): every byte that decompresses before the damage is handed on, then each read
raises :class:`InputFailure`, so the readers write the records before it and end with status 4.
Concatenated gzip members and zstd frames are one input, as ``zcat`` and ``zstd -d`` read them.

Format detection, first rule that applies: ``--input-format``; the magic bytes (Arrow IPC stream
``FF FF FF FF``, Arrow IPC file ``ARROW1``, Parquet ``PAR1``); the file extension (``.jsonl``
``.ndjson`` ``.json`` → jsonl, ``.csv`` ``.tsv`` → csv, ``.arrow`` ``.arrows`` ``.ipc``
``.feather`` → arrow, ``.parquet`` ``.pq`` → parquet, after ``.gz`` / ``.zst``); the first line
(``{`` → jsonl; a CSV header that names the text field → csv); otherwise jsonl.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow as pa

from .session import InputFailure, Session, UsageError, describe_os_error

__all__ = ["FORMATS", "Input", "TooLong", "open_input", "split_lines"]

FORMATS = ("jsonl", "csv", "arrow", "parquet")
BOM = b"\xef\xbb\xbf"
ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"
ARROW_FILE_MAGIC = b"ARROW1"
PARQUET_MAGIC = b"PAR1"
COMPRESSION_MAGIC = (("gzip", b"\x1f\x8b"), ("zstd", b"\x28\xb5\x2f\xfd"))
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".csv": "csv", ".tsv": "csv",
    ".arrow": "arrow", ".arrows": "arrow", ".ipc": "arrow", ".feather": "arrow",
    ".parquet": "parquet", ".pq": "parquet",
}  # fmt: skip
READ_BLOCK = 1 << 18
_SNIFF_BYTES = 1 << 16
_COMPRESSED_READ = 1 << 14


def format_from_name(path: str | None) -> tuple[str | None, str | None]:
    """(format, compression) that the file name suggests."""
    if not path or path == "-":
        return None, None
    name = os.path.basename(path).lower()
    stem, ext = os.path.splitext(name)
    compression = COMPRESSION_SUFFIXES.get(ext)
    if compression:
        ext = os.path.splitext(stem)[1]
    return EXTENSIONS.get(ext), compression


def is_tsv_name(path: str | None) -> bool:
    if not path or path == "-":
        return False
    name = os.path.basename(path).lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.endswith(".tsv")


class _Source(io.RawIOBase):
    """The bottom layer: the OS file, each blocking read interruptible by a stop signal."""

    def __init__(self, raw, session: Session, head: bytes = b"") -> None:
        self._raw = raw
        self._session = session
        self._head = head
        self._read = getattr(raw, "read1", None) or raw.read
        self.kept: bytearray | None = None  # every byte handed on, while under _KEEP_BYTES (zstd replay)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            self._keep(buffer[:n])
            return n
        data = self._session.interruptible(self._read, len(buffer))
        if not data:
            return 0
        buffer[: len(data)] = data
        self._keep(data)
        return len(data)

    def _keep(self, data) -> None:
        if self.kept is not None:
            if len(self.kept) + len(data) > _KEEP_BYTES:
                self.kept = None
            else:
                self.kept += data


_KEEP_BYTES = 64 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_FEED = 1 << 14


class _Gunzip:
    """gzip members one after another (as ``zcat`` reads them), decompressed with zlib. Everything
    that decompresses before damage is handed on first; the damage (the input ends inside a member,
    corrupt data, bytes after the last member that are not gzip) then raises :class:`InputFailure`,
    and again on every later read."""

    def __init__(self, source: _Source, name: str, session: Session) -> None:
        self._source = source
        self._name = name
        self._session = session
        self._d = zlib.decompressobj(31)
        self._buffer = b""
        self._input = b""  # compressed bytes not yet fed to the decompressor
        self._offset = 0  # compressed bytes fed so far
        self._fed = False  # the current member has been fed bytes
        self._done = False
        self._failure: InputFailure | None = None

    def close(self) -> None:
        pass

    def read(self, n: int) -> bytes:
        while not self._buffer:
            if self._failure is not None:
                raise self._failure
            if self._done:
                return b""
            self._fill()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _more(self) -> bytes:
        data = self._source.read(_GZIP_FEED)
        return data or b""

    def _fill(self) -> None:
        data, self._input = self._input, b""
        if not data:
            data = self._more()
        if self._d.eof:  # the previous member ended: only another member may follow
            while len(data) < 2:
                more = self._more()
                if not more:
                    break
                data += more
            if not data:
                self._done = True
                return
            if not data.startswith(_GZIP_MAGIC):
                self._failure = InputFailure(
                    f"{self._name}: bytes that are not gzip data follow the end of the gzip data "
                    f"(at compressed byte {self._offset})"
                )
                return
            self._d = zlib.decompressobj(31)
            self._fed = False
        if not data:
            self._done = True
            if self._fed and not self._session.stopping:  # a stop ends the input, it is no damage
                self._failure = InputFailure(
                    f"{self._name}: the gzip data is cut short (the input ends inside a gzip member, after "
                    f"{self._offset} compressed bytes)"
                )
            return
        backup = self._d.copy()
        try:
            out = self._d.decompress(data)
        except zlib.error as exc:  # again byte by byte from before this piece: hand on all that decodes
            self._d, pieces = backup, []
            for i in range(len(data)):
                try:
                    pieces.append(self._d.decompress(data[i : i + 1]))
                except zlib.error:
                    break
            self._buffer = b"".join(pieces)
            self._failure = InputFailure(
                f"{self._name}: corrupt gzip data at compressed byte {self._offset + i}: {exc}"
            )
            return
        self._fed = True
        self._offset += len(data)
        if self._d.eof:
            self._input = self._d.unused_data
            self._offset -= len(self._input)
        self._buffer = out


class _Unzstd:
    """zstd through pyarrow. pyarrow hands nothing of a read that meets damage, so on damage the
    compressed bytes (kept in memory up to 64 MiB, or the file read again) are decompressed again and
    the bytes before the damage handed on one by one; then :class:`InputFailure`, on every later read."""

    def __init__(self, source: _Source, name: str, session: Session, path: str | None) -> None:
        self._source = source
        self._name = name
        self._session = session
        self._path = path
        if path is None:
            source.kept = bytearray()
        self._stream = pa.CompressedInputStream(source, "zstd")
        self._offset = 0  # decompressed bytes handed on
        self._buffer = b""
        self._failure: InputFailure | None = None

    def close(self) -> None:
        self._stream.close()

    def read(self, n: int) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer[:n], self._buffer[n:]
            self._offset += len(data)
            return data
        if self._failure is not None:
            raise self._failure
        try:
            data = self._stream.read(n)
        except InputFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError, ArrowInvalid...
            if self._session.stopping:
                return b""
            self._buffer = self._replay(n)
            self._failure = InputFailure(
                f"{self._name}: corrupt or cut short zstd data after {self._offset + len(self._buffer)} "
                f"decompressed bytes: {describe_os_error(exc)}"
            )
            return self.read(n)
        self._offset += len(data)
        return data

    def _replay(self, n: int) -> bytes:
        """The bytes from ``_offset`` up to the damage (at most ``n``), decompressed again."""
        out = bytearray()
        try:
            if self._path is not None:
                with open(self._path, "rb") as file:
                    compressed = file.read()
            elif self._source.kept is not None:
                compressed = bytes(self._source.kept)
            else:
                return b""
            stream = pa.CompressedInputStream(pa.BufferReader(compressed), "zstd")
            skip = self._offset
            while skip:
                got = len(stream.read(min(skip, 1 << 20)))
                if not got:
                    return b""
                skip -= got
            while len(out) < n:
                piece = stream.read(1)
                if not piece:
                    break
                out += piece
        except Exception:  # noqa: BLE001 - the damage itself, met again
            pass
        return bytes(out)


class _Guard(io.RawIOBase):
    """The top layer: read errors become :class:`InputFailure`; after a stop, end of input."""

    def __init__(self, stream, session: Session, name: str, head: bytes = b"") -> None:
        self._stream = stream
        self._session = session
        self._name = name
        self._head = head
        self.offset = 0  # decompressed bytes handed on

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """The decompressed bytes handed on (a buffered reader over this subtracts what it holds)."""
        return self.offset

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            self.offset += n
            return n
        if self._session.stopping:
            return 0
        try:
            data = self._stream.read(len(buffer))
        except InputFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the layers below raise
            if self._session.stopping:
                return 0
            raise InputFailure(
                f"cannot read {self._name} after {self.offset} bytes: {describe_os_error(exc)}"
            ) from None
        if not data:
            return 0
        buffer[: len(data)] = data
        self.offset += len(data)
        return len(data)


def _block_reader(head: bytes, read: Callable[[int], bytes | None], session: Session, name: str):
    """``read_block(n)``: the sniffed head first, then up to ``n`` bytes per call straight from the
    layer below (one copy); ``b""`` at the end of input or once a stop signal arrived; read errors
    become :class:`InputFailure`. The text readers use this rather than the buffered stream."""
    pending = [head]
    offset = [0]

    def read_block(n: int) -> bytes:
        data: bytes | None
        if pending[0]:
            data, pending[0] = pending[0], b""
        elif session.stopping:
            return b""
        else:
            try:
                data = read(n)
            except InputFailure:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the layers below raise
                if session.stopping:
                    return b""
                raise InputFailure(
                    f"cannot read {name} after {offset[0]} bytes: {describe_os_error(exc)}"
                ) from None
            if not data:
                return b""
        offset[0] += len(data)
        return data

    return read_block


def _read_at_least(read, n: int, until_newline: bool = False) -> bytes:
    """Up to ``n`` bytes (fewer only at end of input); with ``until_newline`` stop early once a
    line end has been seen (but not before 8 bytes)."""
    pieces: list[bytes] = []
    got = 0
    while got < n:
        try:
            data = read(n - got)
        except InputFailure:  # damage: what came before it is read first; the next read raises again
            if not pieces:
                raise
            break
        if not data:
            break
        pieces.append(data)
        got += len(data)
        if until_newline and got >= 8 and b"\n" in data:
            break
    return b"".join(pieces)


@dataclass
class Input:
    """An opened input: ``stream`` (a buffered binary stream) or, for Parquet, ``path``."""

    name: str
    format: str
    compression: str | None
    stream: BinaryIO | None
    path: str | None = None
    head: bytes = b""
    delimiter: str = ","
    arrow_file: bool = False  # an Arrow IPC *file*: the stream starts after the 8-byte magic
    read_block: Callable[[int], bytes] | None = None  # up to n bytes, b"" at the end (text readers)
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except (OSError, ValueError):
                pass
        self._closers.clear()


def open_input(
    path: str | None,
    session: Session,
    *,
    input_format: str | None = None,
    text_field: str = "text",
    delimiter: str | None = None,
    stdin: BinaryIO | None = None,
) -> Input:
    """Open ``path`` (``None`` or ``-``: stdin) and detect its compression and format."""
    closers = []
    raw: BinaryIO | io.FileIO
    if path in (None, "-"):
        name = "<stdin>"
        if stdin is None:
            try:
                os.fstat(0)
            except OSError:
                raise InputFailure("stdin is closed; give --input PATH or pipe the records in") from None
            raw = open(0, "rb", buffering=0, closefd=False)  # noqa: SIM115
        else:
            raw = stdin
        hint_format, hint_compression = None, None
    else:
        name = path
        hint_format, hint_compression = format_from_name(path)
        if (input_format or hint_format) == "parquet":
            return _open_parquet(path, session, hint_compression)
        try:
            raw = open(path, "rb", buffering=0)  # noqa: SIM115
        except OSError as exc:
            raise InputFailure(f"cannot open the input {path}: {describe_os_error(exc)}") from None
        closers.append(raw.close)

    source = _Source(raw, session)
    try:
        head = _read_at_least(source.read, 4)
    except OSError as exc:
        raise InputFailure(f"cannot read {name}: {describe_os_error(exc)}") from None
    compression = next((codec for codec, magic in COMPRESSION_MAGIC if head.startswith(magic)), None)
    source = _Source(raw, session, head)
    stream: _Source | _Gunzip | _Unzstd
    if compression == "gzip":
        stream = _Gunzip(source, name, session)
    elif compression == "zstd":
        try:
            stream = _Unzstd(source, name, session, None if path in (None, "-") else path)
        except (pa.ArrowException, ValueError) as exc:
            raise InputFailure(f"cannot decompress {name} ({compression}): {exc}") from None
        closers.append(stream.close)
    else:
        stream = source
    guard = _Guard(stream, session, name)
    if session.stopping:
        head = b""
    else:
        try:
            head = _read_at_least(guard.read, _SNIFF_BYTES, until_newline=True)
        except InputFailure:
            raise
        except OSError as exc:
            raise InputFailure(f"cannot read {name}: {describe_os_error(exc)}") from None
    guard = _Guard(stream, session, name, head)
    guard.offset = 0
    buffered = io.BufferedReader(guard, buffer_size=1 << 16)
    if compression is None:
        raw_read = getattr(raw, "read1", None) or raw.read
        read_block = _block_reader(head, lambda n: session.interruptible(raw_read, n), session, name)
    else:  # small reads: a stream cut short loses at most this much of what decompressed before the cut
        read_block = _block_reader(head, lambda n: stream.read(min(n, _COMPRESSED_READ)), session, name)

    magic_format = _format_from_magic(head)
    if magic_format == "parquet" and input_format in (None, "parquet"):
        if path in (None, "-"):
            raise UsageError("Parquet input needs a path: --input FILE.parquet (Parquet cannot be streamed)")
        raise InputFailure(f"{name} is a {compression}-compressed Parquet file; decompress it first")
    fmt = input_format or magic_format or hint_format or _format_from_text(head, text_field, delimiter)
    if fmt == "parquet":
        if path in (None, "-"):
            raise UsageError("Parquet input needs a path: --input FILE.parquet (Parquet cannot be streamed)")
        raise InputFailure(f"{name} does not start like a Parquet file (no PAR1 magic)")
    if delimiter is None:
        if is_tsv_name(path):
            delimiter = "\t"
        else:
            delimiter = (sniff_delimiter(head, text_field) if fmt == "csv" else None) or ","
    result = Input(name, fmt, compression, buffered, head=head, delimiter=delimiter, read_block=read_block,
                   _closers=closers)  # fmt: skip
    result.arrow_file = fmt == "arrow" and head.startswith(ARROW_FILE_MAGIC)
    return result


def _open_parquet(path: str, session: Session, compression: str | None) -> Input:
    if compression:
        raise InputFailure(f"{path}: compressed Parquet files are not read; Parquet compresses inside the file")
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError as exc:
        raise InputFailure(f"cannot open the input {path}: {describe_os_error(exc)}") from None
    if head != PARQUET_MAGIC:
        raise InputFailure(f"{path} is not a Parquet file (it does not start with PAR1)")
    return Input(path, "parquet", None, None, path=path, head=head)


def _format_from_magic(head: bytes) -> str | None:
    if head.startswith(ARROW_STREAM_MAGIC) or head.startswith(ARROW_FILE_MAGIC):
        return "arrow"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return None


def _format_from_text(head: bytes, text_field: str, delimiter: str | None) -> str:
    """``{`` first → jsonl; a first line that is a CSV header naming the text field → csv."""
    body = head[3:] if head.startswith(BOM) else head
    stripped = body.lstrip()
    if not stripped or stripped[:1] in (b"{", b"["):
        return "jsonl"
    first = body.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError:
        return "jsonl"
    for candidate in [delimiter] if delimiter else [",", "\t", ";", "|"]:
        try:
            names = next(csv.reader([line], delimiter=candidate, strict=True))
        except (csv.Error, StopIteration):
            continue
        if text_field in names and len(names) > 1 or names == [text_field]:
            return "csv"
    return "jsonl"


def sniff_delimiter(head: bytes, text_field: str) -> str | None:
    """The delimiter under which the first line names ``text_field`` (for CSV read from stdin)."""
    body = head[3:] if head.startswith(BOM) else head
    first = body.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for candidate in [",", "\t", ";", "|"]:
        try:
            names = next(csv.reader([line], delimiter=candidate, strict=True))
        except (csv.Error, StopIteration):
            continue
        if text_field in names:
            return candidate
    return None


class TooLong:
    """A line longer than the limit: its first bytes and its full size (it is not kept)."""

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int) -> None:
        self.head = head
        self.size = size


def split_lines(read, max_bytes: int, head_bytes: int, block_size: int = READ_BLOCK, *, stopped=None):
    """Yield the input's lines (``bytes`` without the ``\\n``), a list per block read, in order.

    A line longer than ``max_bytes`` is yielded as a :class:`TooLong` in place of a list, and is
    never held whole: memory stays below ``max_bytes + 2 * block_size`` whatever the input. When
    ``stopped()`` is true at the end (a stop signal ended the input), an unfinished last line is
    dropped: it is not a record yet.
    """
    carry: list[bytes] = []  # the unfinished line, in pieces
    carry_len = 0
    skipping: TooLong | None = None  # inside a line that is too long: drop bytes up to its end
    while True:
        data = read(block_size)
        if not data:
            break
        if skipping is not None:
            end = data.find(b"\n")
            if end < 0:
                skipping.size += len(data)
                continue
            skipping.size += end
            yield skipping
            skipping = None
            data = data[end + 1 :]
            if not data:
                continue
        if carry:
            end = data.find(b"\n")
            if end < 0:
                carry.append(data)
                carry_len += len(data)
                if carry_len > max_bytes:
                    joined = b"".join(carry)
                    skipping = TooLong(joined[:head_bytes], carry_len)
                    carry, carry_len = [], 0
                continue
            carry.append(data[:end])
            first = b"".join(carry)
            carry, carry_len = [], 0
            if len(first) > max_bytes:
                yield TooLong(first[:head_bytes], len(first))
            else:
                yield [first]
            data = data[end + 1 :]
        lines = data.split(b"\n")
        rest = lines.pop()
        if lines:
            if max(map(len, lines)) > max_bytes:
                yield from _cut_long(lines, max_bytes, head_bytes)
            else:
                yield lines
        if rest:
            if len(rest) > max_bytes:
                skipping = TooLong(rest[:head_bytes], len(rest))
            else:
                carry, carry_len = [rest], len(rest)
    if stopped is not None and stopped():
        return
    if skipping is not None:
        yield skipping
    elif carry:
        yield [b"".join(carry)]


def _cut_long(lines: list[bytes], max_bytes: int, head_bytes: int):
    start = 0
    for i, line in enumerate(lines):
        if len(line) > max_bytes:
            if i > start:
                yield lines[start:i]
            yield TooLong(line[:head_bytes], len(line))
            start = i + 1
    if start < len(lines):
        yield lines[start:]
