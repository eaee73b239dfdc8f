"""The tokenizer as it was before the speed work of issue 14, built on first use, for A/B runs.

    from baseline_tokenizer import load
    old = load()                  # same API as emoscore._tokenize
    old.tokenize(texts, keys, ids, stem_mask)

``load()`` takes ``src/emoscore/_tokenize.pyx`` at :data:`BASELINE_COMMIT` from git, compiles it with
Cython + setuptools (the flags of setup.py) into a cache folder and imports it under its own module
name, so the old and the new tokenizer run side by side in one process. Later calls reuse the built
extension. The cache folder is ``$EMOSCORE_BENCH_CACHE``, else ``<user cache>/emoscore-bench``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

#: The last commit before any tokenizer speed work.
BASELINE_COMMIT = "c07d71f"
MODULE_NAME = f"_tokenize_baseline_{BASELINE_COMMIT}"
REPO = Path(__file__).resolve().parent.parent
PYX_PATH = "src/emoscore/_tokenize.pyx"
# as setup.py builds emoscore._tokenize
DIRECTIVES = {"language_level": 3, "boundscheck": False, "wraparound": False, "cdivision": True,
              "initializedcheck": False}


def cache_folder() -> Path:
    configured = os.environ.get("EMOSCORE_BENCH_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emoscore-bench"


def _build(target: Path) -> None:
    """Compile the baseline source into ``target`` (written under a temporary name, then renamed, so a
    concurrent or interrupted build never leaves a half-written extension)."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    source = subprocess.run(["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:{PYX_PATH}"],
                            check=True, capture_output=True).stdout
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        pyx = Path(tmp) / f"{MODULE_NAME}.pyx"  # Cython names the module after the file
        pyx.write_bytes(source)
        extensions = cythonize([Extension(MODULE_NAME, [str(pyx)], extra_compile_args=["-O3"])],
                               compiler_directives=DIRECTIVES, quiet=True)
        command = Distribution({"ext_modules": extensions}).get_command_obj("build_ext")
        command.build_lib = tmp
        command.build_temp = tmp
        command.ensure_finalized()
        command.run()
        os.replace(Path(tmp) / target.name, target)


def load() -> ModuleType:
    """The baseline tokenizer module (built into :func:`cache_folder` the first time)."""
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    target = cache_folder() / f"{MODULE_NAME}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not target.exists():
        _build(target)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, target)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the baseline tokenizer from {target}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    print(load().__file__)
