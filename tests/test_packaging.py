"""What a user installs: the wheel holds every module and data file of the source tree, and the
version has one source.

The wheel is built from a clean copy of the tracked files (a stale ``build/`` folder can neither
hide a missing module nor add one), the way ``pip install .`` builds it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import emoscore
from emoscore.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
#: Source folder -> where its files land in the wheel.
ROOTS = {"src/emoscore": "emoscore", "kernels": "emoscore/kernels", "lexicons": "emoscore/lexicons"}
#: Repository scripts that rebuild and tune the default lexicon: the package never imports them.
BUILD_SCRIPTS = {"lexicons/build_default.py", "lexicons/tune_params.py", "lexicons/build_fr.py"}


def tracked_files() -> list[str]:
    run = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [name for name in run.stdout.decode().split("\0") if name]


def expected_in_wheel(tracked: list[str]) -> set[str]:
    """Every tracked file under the three roots at its place in the package; a ``.pyx`` also as
    its compiled extension module (``name.<ext>``)."""
    expected = set()
    for path in tracked:
        for root, target in ROOTS.items():
            if path.startswith(root + "/") and path not in BUILD_SCRIPTS:
                inside = f"{target}/{path[len(root) + 1:]}"
                expected.add(inside)
                if inside.endswith(".pyx"):
                    expected.add(inside.removesuffix(".pyx") + ".<ext>")
    return expected


def wheel_contents(wheel: Path) -> tuple[set[str], str]:
    """The package files of ``wheel`` (extension suffixes as ``.<ext>``) and its METADATA text."""
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    files, metadata = set(), ""
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if ".dist-info/" in name:
                if name.endswith(".dist-info/METADATA"):
                    metadata = archive.read(name).decode()
                continue
            for suffix in suffixes:
                if name.endswith(suffix):
                    name = name.removesuffix(suffix) + ".<ext>"
                    break
            files.add(name)
    return files, metadata


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file_of_the_source_tree(tmp_path):
    tracked = tracked_files()
    copy = tmp_path / "src"
    for name in tracked:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
                           cwd=copy, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    [wheel] = tmp_path.glob("*.whl")
    shipped, metadata = wheel_contents(wheel)
    expected = expected_in_wheel(tracked)
    assert {"emoscore/runner/__init__.py", "emoscore/kernels/rules.py", "emoscore/lexicons/default.tsv",
            "emoscore/_tokenize.<ext>", "emoscore/data/sample.jsonl"} <= expected  # fmt: skip
    assert sorted(expected - shipped) == [], "in the source tree but not in the wheel"
    assert sorted(shipped - expected) == [], "in the wheel but not in the source tree"
    assert not {f"emoscore/lexicons/{Path(p).name}" for p in BUILD_SCRIPTS} & shipped
    assert f"\nVersion: {emoscore.__version__}\n" in metadata


def test_the_version_has_one_source(capsys):
    assert importlib.metadata.version("emoscore") == emoscore.__version__
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"emoscore {emoscore.__version__}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert f"usage: emoscore {command}" in capsys.readouterr().out
