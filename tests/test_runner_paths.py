"""The files a command reads and writes never hurt each other (issue 19), and configuration
mistakes in ``score`` fail fast.

- Every file a command writes (``-o``, ``--errors``, ``--kpi-out``, ``--alerts-out``, ``--state``)
  is checked against the input and against each other before anything is opened: the same file,
  under any spelling (``./``, ``..``, a symbolic or hard link, ``/dev/stdout`` when stdout is that
  file), is a usage error (status 2) naming both options and the path; nothing is read or truncated.
- An output whose directory does not exist, or that is a directory, is an output error (status 5)
  before anything is read, without a traceback.
- JSONL input where no record of the first lines has the ``--text`` field stops at once (status 4)
  naming the field and the fields the records have, like CSV, Arrow and Parquet do.

Real processes where the process matters (stdin and stdout as files); ``check_paths`` in-process
with hypothesis over the spellings of one path.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoscore.runner.session import OutputFailure, UsageError

RUNNER = [sys.executable, "-m", "emoscore"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}

RECORDS = [{"id": i, "ts": f"2026-08-0{1 + i % 3}T10:00:00Z", "text": t, "nps": i % 11, "touchpoint": "web"}
           for i, t in enumerate(["I love it", "terrible service", "fine", "so slow, angry", "great"])]  # fmt: skip
DATA = b"".join(orjson.dumps(r) + b"\n" for r in RECORDS)


def run(args: list[str], data: bytes = b"", **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    if "stdin" not in kwargs:
        kwargs["input"] = data
    return subprocess.run(RUNNER + args, timeout=300, env=ENV, **kwargs)


def inproc(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess:
    """``emoscore.cli.main`` in this process with byte streams (for the many refusals: no start-up)."""
    from emoscore.cli import main

    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(args, stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


def summary(stderr: bytes) -> dict:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b'{"event":"summary"')]
    assert len(lines) == 1, stderr
    return lines[0]


def events(stderr: bytes, kind: str) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["event"] == kind]


def assert_refused(out: subprocess.CompletedProcess, *words: str) -> None:
    """Status 2, one error message naming ``words`` (options, path), nothing read, no traceback."""
    text = out.stderr.decode()
    assert out.returncode == 2, text
    assert b"Traceback" not in out.stderr, text
    errors = [line for line in text.splitlines() if line.startswith("emoscore: error:")]
    assert len(errors) == 1, text
    for word in words:
        assert word in errors[0], (word, errors[0])
    assert summary(out.stderr)["read"] == 0


@pytest.fixture
def inp(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(DATA)
    return path


# -------------------------------------------------------------------------------------------------
# row 1: --errors (and every other output) never hurts the input or another output
# -------------------------------------------------------------------------------------------------
def test_errors_equal_to_the_input_is_refused_and_the_input_kept(inp: Path, tmp_path: Path):
    out = run(["score", "-i", str(inp), "--errors", str(inp), "-o", str(tmp_path / "o.jsonl")])
    assert_refused(out, "--errors", "--input", str(inp))
    assert inp.read_bytes() == DATA
    assert not (tmp_path / "o.jsonl").exists()


def test_errors_equal_to_the_output_is_refused(inp: Path, tmp_path: Path):
    target = tmp_path / "o.jsonl"
    target.write_bytes(b"previous\n")
    out = run(["score", "-i", str(inp), "-o", str(target), "--errors", f"{tmp_path}/./o.jsonl"])
    assert_refused(out, "--errors", "--output", "o.jsonl")
    assert target.read_bytes() == b"previous\n"


def test_output_equal_to_the_input_is_refused(inp: Path):
    out = run(["score", "-i", str(inp), "-o", str(inp)])
    assert_refused(out, "--output", "--input", str(inp))
    assert inp.read_bytes() == DATA


def test_links_to_the_input_are_the_same_file(inp: Path, tmp_path: Path):
    (tmp_path / "soft.jsonl").symlink_to(inp)
    os.link(inp, tmp_path / "hard.jsonl")
    for other in ("soft.jsonl", "hard.jsonl"):
        out = run(["score", "-i", str(inp), "--errors", str(tmp_path / other)])
        assert_refused(out, "--errors", "--input")
        assert inp.read_bytes() == DATA


def test_stdin_file_is_the_input(inp: Path, tmp_path: Path):
    """``emoscore score < in.jsonl --errors in.jsonl``: the file behind stdin is the input."""
    with inp.open("rb") as stdin:
        out = run(["score", "--errors", str(inp)], stdin=stdin)
    assert_refused(out, "--errors", "stdin", str(inp))
    assert inp.read_bytes() == DATA


def test_stdout_file_is_the_output(inp: Path, tmp_path: Path):
    """``--errors /dev/stdout`` (or /proc/self/fd/1) when stdout is a file: the error lines would
    truncate and interleave with the data; stdout appended to the input would be read back."""
    target = tmp_path / "o.jsonl"
    for errors in ("/dev/stdout", "/proc/self/fd/1"):
        target.write_bytes(b"previous\n")
        with target.open("ab") as stdout:
            out = run(["score", "-i", str(inp), "--errors", errors], stdout=stdout)
        assert_refused(out, "--errors", "stdout", errors)
        assert target.read_bytes() == b"previous\n"
    with inp.open("ab") as stdout:  # emoscore score -i in.jsonl >> in.jsonl
        out = run(["score", "-i", str(inp)], stdout=stdout)
    assert_refused(out, "--input", "stdout")
    assert inp.read_bytes() == DATA


def test_devices_and_stderr_stay_allowed(inp: Path):
    out = run(["score", "-i", str(inp), "--errors", "/dev/stderr"])
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(RECORDS)
    out = run(["score", "-i", str(inp), "-o", "/dev/null", "--errors", "/dev/null"])
    assert out.returncode == 0, out.stderr
    assert summary(out.stderr)["written"] == len(RECORDS)


def test_kpi_and_run_files_are_checked_against_each_other(inp: Path, tmp_path: Path):
    state, kpi, alerts, scored = (str(tmp_path / n) for n in ("s.state", "k.jsonl", "a.jsonl", "o.jsonl"))
    cases = [
        (["kpi", "-i", str(inp), "-o", str(inp)], ("--output", "--input")),
        (["kpi", "-i", str(inp), "--state", str(inp)], ("--state", "--input")),
        (["kpi", "-i", str(inp), "-o", kpi, "--errors", kpi], ("--errors", "--output")),
        (["kpi", "-i", str(inp), "-o", state, "--state", state], ("--state", "--output")),
        (["run", "-i", str(inp), "--kpi-out", kpi, "--alerts-out", kpi], ("--alerts-out", "--kpi-out")),
        (["run", "-i", str(inp), "-o", scored, "--kpi-out", scored], ("--kpi-out", "--output")),
        (["run", "-i", str(inp), "--kpi-out", kpi, "--state", str(inp)], ("--state", "--input")),
        (["run", "-i", str(inp), "--kpi-out", str(inp)], ("--kpi-out", "--input")),
        (["run", "-i", str(inp), "--kpi-out", kpi, "--errors", state, "--state", state], ("--state", "--errors")),
        (["kpi", "-i", str(inp), "--state", state, "-o", state + ".lock"], ("--state", "lock", "--output")),
    ]
    Path(state).write_bytes(b"not a state, but must survive")
    for number, (args, words) in enumerate(cases):
        out = run(args) if number == 0 else inproc(args)
        assert_refused(out, *words)
        assert inp.read_bytes() == DATA
        assert Path(state).read_bytes() == b"not a state, but must survive"
        assert not Path(kpi).exists() and not Path(scored).exists() and not Path(alerts).exists()


# -------------------------------------------------------------------------------------------------
# row 2: outputs that cannot be made fail before anything is read
# -------------------------------------------------------------------------------------------------
def test_missing_directory_or_a_directory_is_an_output_error_before_reading(inp: Path, tmp_path: Path):
    missing = str(tmp_path / "no" / "such" / "dir" / "o.jsonl")
    cases = [
        (["score", "-i", str(inp), "-o", missing], "--output"),
        (["score", "-i", str(inp), "--errors", missing], "--errors"),
        (["score", "-i", str(inp), "-o", str(tmp_path)], "--output"),
        (["score", "-i", str(inp), "--errors", str(tmp_path)], "--errors"),
        (["kpi", "-i", str(inp), "-o", missing], "--output"),
        (["kpi", "-i", str(inp), "--state", str(tmp_path)], "--state"),
        (["kpi", "-i", str(inp), "--state", missing], "--state"),
        (["run", "-i", str(inp), "--kpi-out", missing], "--kpi-out"),
        (["run", "-i", str(inp), "--kpi-out", str(tmp_path / "k.jsonl"), "--alerts-out", str(tmp_path)],
         "--alerts-out"),
    ]  # fmt: skip
    for number, (args, option) in enumerate(cases):
        out = run(args) if number in (0, 4) else inproc(args)
        text = out.stderr.decode()
        assert out.returncode == 5, (args, text)
        assert b"Traceback" not in out.stderr, text
        error = [line for line in text.splitlines() if line.startswith("emoscore: error:")]
        assert len(error) == 1 and option in error[0], (args, text)
        assert "does not exist" in error[0] or "is a directory" in error[0], error
        assert summary(out.stderr)["read"] == 0, (args, text)  # failed before reading
        assert out.stdout == b""
    assert not (tmp_path / "k.jsonl").exists()


def test_an_output_path_that_is_stdout_writes_stdout(inp: Path, tmp_path: Path):
    """``-o /proc/self/fd/1`` (or ``/dev/stdout``, or a link to either) with stdout a file: the records
    go to that file, in place; no temporary file is renamed over the link (or over /dev/stdout)."""
    link = tmp_path / "fd1"
    link.symlink_to("/proc/self/fd/1")
    target = tmp_path / "o.jsonl"
    for path in (str(link), "/proc/self/fd/1"):
        with target.open("wb") as stdout:
            out = run(["score", "-i", str(inp), "-o", path, "-q"], stdout=stdout)
        assert out.returncode == 0, out.stderr
        assert [orjson.loads(line)["id"] for line in target.read_bytes().splitlines()] == [r["id"] for r in RECORDS]
        assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fd1", "in.jsonl", "o.jsonl"]


def test_errors_to_the_stderr_file_appends(inp: Path, tmp_path: Path):
    """``--errors /dev/stderr 2>> log``: the error lines join the log; opening the descriptor path
    must not truncate what the log held."""
    log = tmp_path / "log"
    log.write_bytes(b"previous\n")
    with log.open("ab") as stderr:
        out = run(["score", "--errors", "/proc/self/fd/2"], DATA + b'{"id": 99}\n', stderr=stderr)
    assert out.returncode == 1
    lines = log.read_bytes().splitlines()
    assert lines[0] == b"previous"
    assert [orjson.loads(line)["line"] for line in lines if line.startswith(b'{"event":"rejected"')] == [6]


def test_an_output_path_that_is_a_link_writes_its_target(inp: Path, tmp_path: Path):
    """``-o link`` writes the file the link points to, as the shell's ``> link`` does; the link stays
    (the temporary file is made beside the target and renamed onto it)."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.jsonl"
    link = tmp_path / "out.jsonl"
    link.symlink_to(target)
    for existing in (False, True):
        if existing:
            target.write_bytes(b"previous\n")
        out = inproc(["score", "-i", str(inp), "-o", str(link), "-q"])
        assert out.returncode == 0, out.stderr
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert [orjson.loads(line)["id"] for line in target.read_bytes().splitlines()] == [r["id"] for r in RECORDS]
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["out.jsonl"]


def test_two_outputs_on_stdout_are_refused(inp: Path, tmp_path: Path):
    kpi = str(tmp_path / "k.jsonl")
    for args, words in (
        (["run", "-i", str(inp), "--kpi-out", "-"], ("--kpi-out -", "-o/--output", "stdout")),
        (["run", "-i", str(inp), "-o", "-", "--kpi-out", kpi, "--alerts-out", "-"],
         ("--alerts-out -", "-o/--output -")),
    ):
        assert_refused(inproc(args), *words)
    out = run(["run", "-i", str(inp), "-o", str(tmp_path / "o.jsonl"), "--kpi-out", "-", "-q"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(b"\n") >= 1 and b'"valence"' not in out.stdout  # the KPI table alone


# -------------------------------------------------------------------------------------------------
# check_paths in-process: every spelling of one file is that file
# -------------------------------------------------------------------------------------------------
def _namespace(**values) -> argparse.Namespace:
    base = dict(input=None, output=None, errors=None, kpi_out=None, alerts_out=None, state=None, lexicon=None,
                aspect_lexicon=None)  # fmt: skip
    base.update(values)
    return argparse.Namespace(**base)


SPELLINGS = st.lists(st.sampled_from(["./", "sub/../", "link/", ".//", "sub/./../"]), max_size=4)
OPTIONS = ("input", "output", "errors", "kpi_out", "alerts_out", "state", "lexicon")
WRITTEN = ("output", "errors", "kpi_out", "alerts_out", "state")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.sampled_from(OPTIONS), second=st.sampled_from(OPTIONS), a=SPELLINGS, b=SPELLINGS,
       exists=st.booleans(), absolute=st.booleans())  # fmt: skip
def test_check_paths_sees_through_spellings(tmp_path_factory, first, second, a, b, exists, absolute):
    from emoscore.runner.arguments import check_paths

    root = tmp_path_factory.mktemp("spell")
    (root / "sub").mkdir()
    (root / "link").symlink_to(root, target_is_directory=True)
    if exists:
        (root / "f.jsonl").write_bytes(b"{}\n")
    where = str(root) + "/" if absolute else os.path.relpath(root) + "/"
    one, two = where + "".join(a) + "f.jsonl", where + "".join(b) + "f.jsonl"
    if first == second or (first not in WRITTEN and second not in WRITTEN):
        check_paths(_namespace(**{first: one, second: two}), stdin=io.BytesIO(), stdout=io.BytesIO())
        return
    with pytest.raises(UsageError) as caught:
        check_paths(_namespace(**{first: one, second: two}), stdin=io.BytesIO(), stdout=io.BytesIO())
    message = str(caught.value)
    for option in (first, second):
        assert "--" + option.replace("_", "-").replace("aspect-lexicon", "aspects") in message
    # a different file in the same places is fine
    check_paths(_namespace(**{first: one, second: two.replace("f.jsonl", "g.jsonl")}), stdin=io.BytesIO(),
                stdout=io.BytesIO())  # fmt: skip


def test_check_paths_output_failures_name_the_option(tmp_path: Path):
    from emoscore.runner.arguments import check_paths

    with pytest.raises(OutputFailure, match="--kpi-out"):
        check_paths(_namespace(kpi_out=str(tmp_path / "no" / "k.csv")), stdin=io.BytesIO(), stdout=io.BytesIO())
    with pytest.raises(OutputFailure, match="is a directory"):
        check_paths(_namespace(output=str(tmp_path)), stdin=io.BytesIO(), stdout=io.BytesIO())
    # stdout and stderr are not paths
    check_paths(_namespace(output="-", errors="-"), stdin=io.BytesIO(), stdout=io.BytesIO())


def test_check_paths_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """As root every directory is writable, so os.access is made to say no."""
    from emoscore.runner.arguments import check_paths

    (tmp_path / "e.jsonl").write_bytes(b"")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    for values, option in (({"output": str(tmp_path / "o.jsonl")}, "--output"),
                           ({"errors": str(tmp_path / "e.jsonl")}, "--errors"),
                           ({"state": str(tmp_path / "s")}, "--state")):  # fmt: skip
        with pytest.raises(OutputFailure, match="Permission denied") as caught:
            check_paths(_namespace(**values), stdin=io.BytesIO(), stdout=io.BytesIO())
        assert option in str(caught.value)


# -------------------------------------------------------------------------------------------------
# row 3: a wrong --text on JSONL stops at once
# -------------------------------------------------------------------------------------------------
def test_jsonl_with_a_wrong_text_field_stops_at_once(tmp_path: Path):
    many = b"".join(orjson.dumps({"id": i, "body": "hello", "ts": "x"}) + b"\n" for i in range(3000))
    for label, data in (("plain", many), ("gzip", gzip.compress(many))):
        out = run(["score", "--text", "text"], data)
        text = out.stderr.decode()
        assert out.returncode == 4, (label, text)
        assert events(out.stderr, "rejected") == [], label
        error = [line for line in text.splitlines() if line.startswith("emoscore: error:")]
        assert len(error) == 1, text
        assert "'text'" in error[0] and "'body'" in error[0] and "'id'" in error[0], error
        assert summary(out.stderr)["read"] == 0 and out.stdout == b""
    # the file output is not made either
    out = run(["score", "--text", "txt", "-o", str(tmp_path / "o.jsonl")], DATA)
    assert out.returncode == 4 and not (tmp_path / "o.jsonl").exists()


def test_csv_on_stdin_with_a_wrong_text_field_stops_at_once():
    """Without the text field in its header, CSV on stdin was taken for JSONL: every line rejected as
    invalid JSON, status 1. Now status 4 naming the columns, as with ``-i file.csv``."""
    header = b"id;touchpoint;body\n"
    data = header + b"".join(b"%d;web;hello there\n" % i for i in range(3000))
    out = run(["score"], data)
    error = [line for line in out.stderr.decode().splitlines() if line.startswith("emoscore: error:")]
    assert out.returncode == 4 and events(out.stderr, "rejected") == [], out.stderr[-600:]
    assert len(error) == 1 and "CSV" in error[0] and "'body'" in error[0] and "'text'" in error[0], error
    out = inproc(["score", "--text", "x"], data)
    assert out.returncode == 4 and b"'x'" in out.stderr
    # a declared --input-format jsonl is taken at its word: each line is rejected as invalid JSON
    out = inproc(["score", "--input-format", "jsonl", "--text", "body"], b"a;b\nc;d\n")
    assert out.returncode == 1 and len(events(out.stderr, "rejected")) == 2
    assert inproc(["score", "--text", "body"], data).returncode == 0  # detected as CSV: fine


def test_records_missing_the_text_field_among_good_ones_are_still_rejected_one_by_one():
    lines = [{"id": 0, "body": "x"}, {"id": 1, "body": "y"}, {"id": 2, "text": "I love it"}, {"id": 3}]
    data = b"\n".join(orjson.dumps(r) for r in lines)
    out = run(["score", "--batch-size", "1"], b"\n\n[1]\n{bad\n" + data)
    assert out.returncode == 1, out.stderr
    assert [r["line"] for r in events(out.stderr, "rejected")] == [3, 4, 5, 6, 8]
    assert [orjson.loads(line)["id"] for line in out.stdout.splitlines()] == [2]
    assert summary(out.stderr)["reconciled"]
    # nothing but garbage: every line reported, as before (not a configuration mistake)
    out = run(["score"], b"{bad\n[1]\n")
    assert out.returncode == 1 and len(events(out.stderr, "rejected")) == 2


LINES = st.one_of(
    st.fixed_dictionaries({"id": st.integers(0, 9)}, optional={"text": st.text(max_size=5), "body": st.just("b")}),
    st.sampled_from(["", "  ", "{bad", "[1]", '"s"', "\ufeff{}", '{"text": 1}']),
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(LINES, max_size=30), cuts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
       final_newline=st.booleans(), damaged=st.booleans())  # fmt: skip
def test_check_text_field_hands_on_every_byte_and_decides_like_the_reader(lines, cuts, final_newline, damaged):
    """Whatever is read ahead reaches the reader, in order, then the damage (if any); the run stops
    at once exactly when some object was seen and none of them has the text field."""
    from emoscore.runner.inputs import Input
    from emoscore.runner.session import InputFailure, Session
    from emoscore.runner.sources import check_text_field

    texts = [line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines]
    data = "\n".join(texts).encode() + (b"\n" if final_newline and texts else b"")
    damage = InputFailure("damaged here")
    pieces, at = [], 0
    while at < len(data):
        size = cuts[len(pieces) % len(cuts)]
        pieces.append(data[at : at + size])
        at += size

    def read_block(n: int) -> bytes:  # as inputs.read_block: up to n bytes
        if pieces:
            piece = pieces.pop(0)
            if len(piece) > n:
                pieces.insert(0, piece[n:])
            return piece[:n]
        if damaged:
            raise damage
        return b""

    source = Input("<test>", "jsonl", None, None, read_block=read_block)
    seen = texts if final_newline or not damaged else texts[:-1]  # a line cut by damage is no record
    objects = [orjson.loads(t.lstrip("\ufeff")) for t in seen if t.lstrip("\ufeff").startswith("{") and t != "{bad"]
    expect_stop = bool(objects) and not any("text" in obj for obj in objects)
    session = Session("score", stderr=None)
    if expect_stop:
        with pytest.raises(InputFailure, match="'text'"):
            check_text_field(source, "text", session)
        return
    check_text_field(source, "text", session)
    assert source.read_block is not None
    got = []
    while True:
        try:
            block = source.read_block(7)
        except InputFailure as exc:
            assert damaged and exc is damage
            break
        assert len(block) <= 7
        if not block:
            assert not damaged
            break
        got.append(block)
    assert b"".join(got) == data
