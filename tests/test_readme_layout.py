"""The README's layout block ("How it is built") lists exactly the modules each folder has.

Each folder line (``path/``) is followed by its entries, one per line, indented: a module (``.py``,
``.pyx``), a data file, or a subpackage (``name/``). For the folders checked here the entries must be
exactly what the tree holds, so the map cannot go stale when a module is added, moved or removed.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKED = ("src/emoscore/", "src/emoscore/lexicon/", "src/emoscore/runner/", "kernels/", "lexicons/")
LISTED_SUFFIXES = (".py", ".pyx", ".tsv")


def readme_layout() -> dict[str, set[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^## How it is built\n.*?^```\n(.*?)^```", text, re.S | re.M)
    assert block, "README.md has no layout block under '## How it is built'"
    folders: dict[str, set[str]] = {}
    current = None
    for line in block.group(1).splitlines():
        if line and not line.startswith(" "):
            current = line.split()[0]
            folders[current] = set()
        elif line.strip():
            assert current is not None, line
            folders[current].add(line.split()[0])
    return folders


def on_disk(folder: str) -> set[str]:
    path = REPO / folder
    entries = {p.name for p in path.iterdir() if p.is_file() and p.suffix in LISTED_SUFFIXES}
    entries.discard("__init__.py") if folder in ("kernels/", "lexicons/") or folder.count("/") > 2 else None
    entries |= {f"{p.name}/" for p in path.iterdir() if (p / "__init__.py").is_file()}
    return entries


def test_the_readme_lists_every_module_and_nothing_else():
    layout = readme_layout()
    for folder in CHECKED:
        assert folder in layout, f"README layout has no {folder} section"
        assert sorted(layout[folder]) == sorted(on_disk(folder)), folder
