"""The on-disk cache of compiled lexicons (``emoscore.lexicon.load_compiled``): an entry gives the
same compiled lexicon as a fresh compile, a changed source is never served from a stale entry, and a
cache that cannot be used is skipped without changing any result."""

from __future__ import annotations

import json
import pkgutil
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import emoscore
from emoscore import AspectLexicon, LexiconError, Scorer
from emoscore.lexicon import ARRAY_DTYPES, Lexicon, cache_dir, load_compiled
from emoscore.lexicon.cache import COMPILER_MODULES

LEXICON = (
    "#!emoscore-lexicon 1\n"
    "# name: cached\n"
    "# emotions: happy grumpy\n"
    "term\tvalence\temotions\trole\n"
    "great\t2.5\thappy=1\t-\n"
    "slow\t-1.5\tgrumpy=0.6\t-\n"
    "frustrat*\t-2\tgrumpy=0.9\t-\n"
    "not\t-\t-\tnegator\n"
    "very\t-\t-\tbooster=0.3\n"
    "took forever\t-2.2\tgrumpy=1\t-\n"
)
ASPECTS = (
    "#!emoscore-aspects 1\n"
    "# aspects: delivery returns\n"
    "term\taspects\n"
    "delivery\tdelivery\n"
    "courier*\tdelivery\n"
    "refund\treturns\n"
    "in return\t-\n"
)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("EMOSCORE_CACHE_DIR", str(directory))
    return directory / "lexicons"


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.npz")) if cache.exists() else []


def stored_key(entry: Path) -> str:
    with np.load(entry) as stored:
        return json.loads(stored["meta"].tobytes())["key"]


def assert_same(got, want) -> None:
    assert got.fingerprint == want.fingerprint
    assert (got.emotions, got.terms, got.aspects, got.stem_mask) == (want.emotions, want.terms, want.aspects,
                                                                     want.stem_mask)
    for name, dtype in ARRAY_DTYPES.items():
        array = getattr(got, name)
        assert array.dtype == dtype and array.flags.c_contiguous and not array.flags.writeable, name
        np.testing.assert_array_equal(array, getattr(want, name), err_msg=name)


def test_cache_dir_follows_the_environment(cache, tmp_path):
    assert cache_dir() == str(tmp_path / "cache")


def test_the_key_digests_every_module_that_takes_part_in_compiling():
    # else an edit to one of them would be served stale entries: every module of the lexicon package
    # but the loaders of other formats (never cached), and the aspect lexicon, rules and tokenizer
    covered = {module.__name__ for module in COMPILER_MODULES}
    package = {f"emoscore.lexicon.{info.name}" for info in pkgutil.iter_modules(emoscore.lexicon.__path__)}
    assert package - covered == {"emoscore.lexicon.loaders"}
    assert {"emoscore.aspects", "emoscore.kernels.rules", "emoscore._tokenize"} <= covered


def test_the_bundled_lexicons_from_the_cache_equal_a_fresh_compile(cache):
    fresh = Lexicon.default().compile(aspects=AspectLexicon.default())
    first = load_compiled(None, True)  # a miss: compiled, then stored
    assert len(entries(cache)) == 1
    second = load_compiled(None, True)  # read back from the entry
    assert second is not first and second is not fresh
    assert_same(first, fresh)
    assert_same(second, fresh)
    without = load_compiled(None, False)  # another key: the emotion lexicon alone
    assert len(entries(cache)) == 2
    assert_same(load_compiled(None, None), Lexicon.default().compile())
    assert not without.aspects


def test_scores_from_a_cached_lexicon_equal_those_of_a_fresh_compile(cache):
    texts = pa.array(["The courier was slow, took forever and the refund? not great!!", None, "very great delivery"])
    load_compiled(None, True)
    cached = Scorer(load_compiled(None, True))
    fresh = Scorer(Lexicon.default().compile(aspects=AspectLexicon.default()))
    assert cached.score(texts).equals(fresh.score(texts))


def test_a_changed_lexicon_file_is_compiled_again(cache, tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text(LEXICON, encoding="utf-8")
    first = load_compiled(path)
    assert_same(load_compiled(path), Lexicon.load(path).compile())
    path.write_text(LEXICON.replace("great\t2.5", "great\t3.5"), encoding="utf-8")
    changed = load_compiled(path)
    assert changed.fingerprint != first.fingerprint
    assert_same(changed, Lexicon.load(path).compile())
    assert len(entries(cache)) == 2


def test_a_changed_aspect_file_is_compiled_again(cache, tmp_path):
    lexicon, aspects = tmp_path / "mine.tsv", tmp_path / "aspects.tsv"
    lexicon.write_text(LEXICON, encoding="utf-8")
    aspects.write_text(ASPECTS, encoding="utf-8")
    first = load_compiled(lexicon, aspects)
    assert first.aspects == ("delivery", "returns")
    assert_same(load_compiled(lexicon, aspects), Lexicon.load(lexicon).compile(aspects=AspectLexicon.load(aspects)))
    aspects.write_text(ASPECTS.replace("refund\treturns", "refund\tdelivery,returns"), encoding="utf-8")
    changed = load_compiled(lexicon, aspects)
    assert changed.fingerprint != first.fingerprint
    assert_same(changed, Lexicon.load(lexicon).compile(aspects=AspectLexicon.load(aspects)))


def test_paths_given_to_scorer_and_cli_go_through_the_cache(cache, tmp_path):
    lexicon, aspects = tmp_path / "mine.tsv", tmp_path / "aspects.tsv"
    lexicon.write_text(LEXICON, encoding="utf-8")
    aspects.write_text(ASPECTS, encoding="utf-8")
    scorer = Scorer(str(lexicon), aspects=aspects)
    assert len(entries(cache)) == 1
    assert_same(scorer.lexicon, Lexicon.load(lexicon).compile(aspects=AspectLexicon.load(aspects)))
    assert_same(Scorer(lexicon, aspects=False).lexicon, Lexicon.load(lexicon).compile())
    assert len(entries(cache)) == 2


def test_a_corrupt_or_misplaced_entry_is_replaced(cache):
    want = Lexicon.default().compile()
    load_compiled(None)
    (entry,) = entries(cache)
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # cut short
    assert_same(load_compiled(None), want)
    assert len(entries(cache)) == 1 and stored_key(entry) == entry.stem  # written again, whole
    assert_same(load_compiled(None), want)
    # another key's entry under this name (renamed by hand, say) is not used: it records its own key
    load_compiled(None, True)
    (other,) = [path for path in entries(cache) if path != entry]
    entry.write_bytes(other.read_bytes())
    assert stored_key(entry) == other.stem
    assert_same(load_compiled(None), want)
    assert stored_key(entry) == entry.stem


def test_an_unusable_cache_directory_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("EMOSCORE_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    assert_same(load_compiled(None, True), Lexicon.default().compile(aspects=AspectLexicon.default()))
    assert not list(tmp_path.glob("**/*.npz"))


def test_a_bad_lexicon_file_still_names_the_line_and_is_not_cached(cache, tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text(LEXICON + "oops\t9\t-\t-\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.tsv:11: valence is outside -4\.\.4"):
        load_compiled(path)
    with pytest.raises(FileNotFoundError):
        load_compiled(tmp_path / "missing.tsv")
    assert entries(cache) == []


def test_concurrent_writers_leave_one_whole_entry(cache):
    want = Lexicon.default().compile(aspects=AspectLexicon.default())
    results, errors = [], []

    def run():
        try:
            results.append(load_compiled(None, True))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 4
    for result in results:
        assert_same(result, want)
    assert len(entries(cache)) == 1
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".npz")] == []  # no temporary file left


def test_the_cache_is_used_by_the_default_scorer(cache):
    emoscore.api._default_lexicon.cache_clear()
    try:
        assert_same(Scorer().lexicon, Lexicon.default().compile(aspects=AspectLexicon.default()))
        assert len(entries(cache)) == 1
    finally:
        emoscore.api._default_lexicon.cache_clear()
