"""Print the lowest versions pyproject.toml declares, as pins: one `name==floor` line per requirement.

CI installs exactly these floors (the core dependencies plus the extras named on the command line) and
runs a smoke subset of the tests on them, so a declared floor can't drift below what is really tested.
Every requirement must therefore declare a `>=` floor (an exact `==` pin counts as its own floor); one
without is an error (exit 2).

    python .ci/lowest_versions.py test      # numpy==2.0 ... -> pip install "$wheel" $(...)
"""

import re
import sys
import tomllib
from pathlib import Path
from typing import NoReturn


def fail(message: str) -> NoReturn:
    print(f"lowest_versions: {message}", file=sys.stderr)
    sys.exit(2)


def release(version: str) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", version)]


project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
extras = project.get("optional-dependencies", {})
unknown = [e for e in sys.argv[1:] if e not in extras]
if unknown:
    fail(f"no such extra: {', '.join(unknown)} (have: {', '.join(extras)})")

pins: dict[str, str] = {}
for req in project.get("dependencies", []) + [r for e in sys.argv[1:] for r in extras[e]]:
    name = re.match(r"\s*([A-Za-z0-9._-]+)", req)
    floor = re.search(r"[>=]=\s*([^\s,;]+)", req.split(";")[0])
    if not (name and floor):
        fail(f"requirement {req!r} declares no '>=' floor")
    key = re.sub(r"[-_.]+", "-", name.group(1)).lower()  # listed in two extras: the higher floor wins
    pins[key] = max(pins.get(key, floor.group(1)), floor.group(1), key=release)
for key, version in pins.items():
    print(f"{key}=={version}")
