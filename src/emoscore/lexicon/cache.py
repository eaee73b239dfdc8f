"""The on-disk cache of compiled lexicons: :func:`load_compiled` and :func:`cache_dir`.

Parsing and compiling the bundled emotion and aspect lexicons takes ~0.3 s, a third of a warm
`emoscore score` start; loading the arrays back takes milliseconds. An entry is one uncompressed .npz
named after a digest of the source files' bytes and of the code that turns them into arrays, so an
edited lexicon or compiler never reuses a stale entry. Entries are written under a temporary name and
renamed into place (concurrent processes see a whole entry or none); any problem with the cache
(not writable, unreadable, corrupt) means compiling as without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from importlib import resources

import numpy as np

from .. import _tokenize
from .. import aspects as aspects_module
from ..aspects import AspectLexicon
from ..kernels import contract, rules
from ..kernels import params as rule_params
from . import _terms, compiler, entry, model
from ._terms import PathLike, decode
from .compiler import ARRAY_DTYPES, CompiledLexicon
from .model import Lexicon

__all__ = ["COMPILER_MODULES", "cache_dir", "load_compiled"]

_CACHE_FORMAT = 1
_CACHE_KEEP = 16  # entries kept in the directory; writing a new one removes the oldest beyond this


def cache_dir() -> str:
    """Where compiled lexicons are cached: ``$EMOSCORE_CACHE_DIR``, else the user's cache directory
    (``$XDG_CACHE_HOME/emoscore`` or ``~/.cache/emoscore``; ``~/Library/Caches/emoscore`` on macOS,
    ``%LOCALAPPDATA%\\emoscore\\Cache`` on Windows)."""
    configured = os.environ.get("EMOSCORE_CACHE_DIR")
    if configured:
        return configured
    if sys.platform == "win32":
        return os.path.join(os.environ.get("LOCALAPPDATA") or os.path.expanduser("~"), "emoscore", "Cache")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "emoscore")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                        "emoscore")


#: The modules whose code turns lexicon files into compiled arrays (the cache key digests their files):
#: term keys and the shared reader, Entry's checks, the Lexicon and its text format, the compiler,
#: this cache (the stored form), the aspect lexicon, the rule constants and parameters, the read-only
#: contract and the tokenizer's folding, hashing and table building (the built extension). A new module
#: that takes part belongs here (tests/test_lexicon_cache.py checks the lexicon package's own).
COMPILER_MODULES = (_terms, entry, model, compiler, sys.modules[__name__], aspects_module, rules, rule_params,
                    contract, _tokenize)


@functools.cache
def _compiler_digest() -> bytes | None:
    """SHA-256 of the files of :data:`COMPILER_MODULES`; None when one cannot be read (then nothing
    is cached)."""
    digest = hashlib.sha256(f"emoscore compiled lexicon cache {_CACHE_FORMAT}\0".encode())
    for module in COMPILER_MODULES:
        try:
            path: str | None = module.__file__
            if path is None:
                return None
            with open(path, "rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
        except (OSError, TypeError, AttributeError):
            return None
    return digest.digest()


def _source(path: PathLike | None, bundled: str) -> tuple[str, bytes]:
    """(origin for error messages, bytes) of a lexicon file, or of the bundled one when ``path`` is None."""
    if path is None:
        return f"emoscore.lexicons/{bundled}", resources.files("emoscore.lexicons").joinpath(bundled).read_bytes()
    with open(path, "rb") as file:
        return os.fspath(path), file.read()


def load_compiled(lexicon: PathLike | None = None, aspects: PathLike | bool | None = None) -> CompiledLexicon:
    """The compiled lexicon of lexicon files, read from the on-disk cache when it holds them.

    Equal to ``Lexicon.load(lexicon).compile(aspects=AspectLexicon.load(aspects))`` (same arrays, same
    fingerprint). ``lexicon``: a lexicon file, None for the bundled one. ``aspects``: an aspect lexicon
    file, True for the bundled one, None or False for none. The cache (:func:`cache_dir`) is keyed by
    the files' bytes and the compiler's code; a cache that cannot be read or written is skipped.

    Raises
    ------
    LexiconError
        A file is malformed (``file:line: what is wrong``), as its loader raises it.
    OSError
        A file cannot be read.
    """
    # read the aspects first: a bad pair of files reports the aspect lexicon, as the loaders did
    aspect_source = None
    if aspects is not None and aspects is not False:
        aspect_source = _source(None if aspects is True else aspects, "aspects.tsv")
    origin, data = _source(lexicon, "default.tsv")
    code_digest = _compiler_digest()
    key: str | None = None
    entry_path: str | None = None
    if code_digest is not None:
        digest = hashlib.sha256(code_digest)
        for source in (data, None if aspect_source is None else aspect_source[1]):
            digest.update(b"-\0" if source is None else f"{len(source)}\0".encode() + source)
        key = digest.hexdigest()
        entry_path = os.path.join(cache_dir(), "lexicons", f"{key}.npz")
        cached = _cache_read(entry_path, key)
        if cached is not None:
            return cached
    aspect_lexicon = None
    if aspects is True:
        aspect_lexicon = AspectLexicon.default()
    elif aspect_source is not None:
        aspect_lexicon = AspectLexicon.from_text(decode(aspect_source[1], aspect_source[0]), origin=aspect_source[0])
    parsed = Lexicon.default() if lexicon is None else Lexicon.from_text(decode(data, origin), origin=origin)
    compiled = parsed.compile(aspects=aspect_lexicon)
    if entry_path is not None and key is not None:
        _cache_write(entry_path, key, compiled)
    return compiled


def _cache_read(path: str, key: str) -> CompiledLexicon | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(stored["meta"].tobytes())
            if meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
                return None
            arrays = {name: stored[name] for name in ARRAY_DTYPES}
            terms = stored["terms"].tobytes().decode("utf-8", "surrogatepass").split("\0")
    except Exception:  # noqa: BLE001 - missing, cut short, corrupt (zip CRC) or foreign: compile instead
        return None
    if len(terms) != meta["n_terms"] or len(terms) != arrays["valence"].shape[0]:
        return None
    for array in arrays.values():
        array.setflags(write=False)  # freshly read and ours alone: CompiledLexicon keeps them uncopied
    return CompiledLexicon(emotions=tuple(meta["emotions"]), terms=tuple(terms), stem_mask=meta["stem_mask"],
                           fingerprint=meta["fingerprint"], aspects=tuple(meta["aspects"]), **arrays)


def _cache_write(path: str, key: str, compiled: CompiledLexicon) -> None:
    if any("\0" in term for term in compiled.terms):
        return  # the separator of the stored terms (the tokenizer never makes a term with it)
    meta = {"format": _CACHE_FORMAT, "key": key, "emotions": list(compiled.emotions),
            "aspects": list(compiled.aspects), "stem_mask": compiled.stem_mask,
            "fingerprint": compiled.fingerprint, "n_terms": compiled.n_terms}
    arrays = {name: getattr(compiled, name) for name in ARRAY_DTYPES}
    arrays["terms"] = np.frombuffer("\0".join(compiled.terms).encode("utf-8", "surrogatepass"), np.uint8)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    directory = os.path.dirname(path)
    temp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.chmod(temp, 0o644)  # derived from public files; readable by whoever shares the directory
        os.replace(temp, path)
        temp = None
        _cache_prune(directory)
    except OSError:
        pass  # not writable (read-only home, full disk): the next start compiles again
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _cache_prune(directory: str) -> None:
    """Remove the oldest entries beyond :data:`_CACHE_KEEP`, and temporary files an hour old (a
    process killed while writing)."""
    now = time.time()
    entries = []
    with os.scandir(directory) as scan:
        for item in scan:
            with contextlib.suppress(OSError):
                if item.name.startswith(".tmp-") and now - item.stat().st_mtime > 3600:
                    os.unlink(item.path)
                elif item.name.endswith(".npz") and not item.name.startswith("."):
                    entries.append((item.stat().st_mtime, item.path))
    for _, stale in sorted(entries, reverse=True)[_CACHE_KEEP:]:
        with contextlib.suppress(OSError):
            os.unlink(stale)
