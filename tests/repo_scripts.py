"""Load a repository script that the wheel does not ship (lexicons/build_*.py) as a module, for tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """The module of ``REPO / relative``, registered in ``sys.modules`` (its dataclasses look it up there)."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(f"emoscore_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
