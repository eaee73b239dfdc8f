"""Builds the Cython extension and lays out the package; all metadata lives in pyproject.toml.

The import package ``emoscore`` is put together from three source roots. Every Python package under
each root ships (found, never listed by hand: a hand-kept list once left ``emoscore.runner`` out of
every non-editable install), except the lexicon build scripts, which are run from the repository.
"""
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_py import build_py

#: Import package -> source folder. kernels/ and lexicons/ live at the top of the repository.
PACKAGE_ROOTS = {"emoscore": "src/emoscore", "emoscore.kernels": "kernels", "emoscore.lexicons": "lexicons"}

#: Modules kept out of the wheel: the package never imports them; they rebuild and tune
#: lexicons/default.tsv from ../shared/data (see lexicons/README.md).
BUILD_SCRIPTS = {("emoscore.lexicons", "build_default"), ("emoscore.lexicons", "tune_params"),
                 ("emoscore.lexicons", "build_fr")}


def discover_packages() -> list[str]:
    packages = []
    for name, root in PACKAGE_ROOTS.items():
        if not (Path(root) / "__init__.py").is_file():
            raise RuntimeError(f"package root {root} of {name} has no __init__.py")
        packages += [name] + [f"{name}.{sub}" for sub in find_packages(root)]
    return packages


class BuildPyWithoutScripts(build_py):
    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if (m[0], m[1]) not in BUILD_SCRIPTS]


setup(
    package_dir=PACKAGE_ROOTS,
    packages=discover_packages(),
    cmdclass={"build_py": BuildPyWithoutScripts},
    ext_modules=cythonize(
        # --param=inline-unit-growth=200 (GCC's default is 40%): with the scanner compiled three
        # times (Plain, Locating, Folding) the unit reaches that limit, GCC stops inlining small
        # helpers (fold_cp, append_cold) into the Plain scanner, and tokenize's default path ran
        # 6-12% slower on ASCII text than with two specialisations, its C code unchanged. With 200,
        # fold_cp, classify_cp and decode_utf8 are inlined: the default path is back to its old
        # speed, and non-ASCII text and spans=True are a little faster.
        [Extension("emoscore._tokenize", ["src/emoscore/_tokenize.pyx"],
                   extra_compile_args=["-O3", "--param=inline-unit-growth=200"])],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
