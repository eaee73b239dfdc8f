"""The lexicon: file format, errors, loaders of other formats, compilation, and the default lexicon."""

from __future__ import annotations

import pickle
import random
import re
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from emoscore import LexiconError
from emoscore._tokenize import STEM_TAG, fnv1a64, fold_tokens, stem_key, tokenize
from emoscore.kernels import params as rule_params
from emoscore.kernels import rules
from emoscore.lexicon import CompiledLexicon, Entry, Lexicon
from repo_scripts import load_script
from shared_data import require

REPO = Path(__file__).resolve().parents[1]
TAXONOMY = tuple(
    "anger anticipation disgust fear joy sadness surprise trust frustration satisfaction confusion".split()
)
HEADER = "#!emoscore-lexicon 1\n# emotions: happy grumpy\nterm\tvalence\temotions\trole\n"

TINY = (
    "#!emoscore-lexicon 1\n"
    "# name: tiny\n"
    "# emotions: happy grumpy\n"
    "# source: written for the tests\n"
    "# source: a second source line\n"
    "# licence: CC0\n"
    "# param negation_scale: -0.5\n"
    "# param negated_positive_emotion: grumpy\n"
    "# param negated_negative_emotion: none\n"
    "# a comment: not a header key\n"
    "\n"
    "term\tvalence\temotions\trole\n"
    "# comments and blank lines may sit between entries\n"
    "\n"
    "Yay\t2.0\thappy=1\t-\n"
    "ugh\t-2\tgrumpy=0.75,happy=0\t-\n"
    "meh\t-\t-\t-\n"
    "not\t0\t-\tnegator\n"
    "very\t-\t-\tbooster=0.3\n"
    "slightly\t-\t-\tdampener=0.4\n"
    "but\t-\t-\tcontrast\n"
    "frustrat*\t-1.5\tgrumpy=0.7\t-\n"
    "can't stand\t-2\tgrumpy=0.8\t-\n"
    "can't stand it\t-2.5\tgrumpy=1\t-\n"
    "isn’t\t-\t-\tnegator\n"
    "😡\t-2.5\tgrumpy=1\t-\n"
)


def write(tmp_path: Path, text: str, name: str = "lex.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def probe(compiled: CompiledLexicon, key: int) -> int:
    """Naive lookup in the open-addressing table, as docs/internals.md states the probing rule."""
    keys, ids = compiled.table_keys, compiled.table_ids
    mask = len(keys) - 1
    slot = (key ^ (key >> 29)) & mask
    while int(keys[slot]) != 0:
        if int(keys[slot]) == key:
            return int(ids[slot])
        slot = (slot + 1) & mask
    return -1


def folded(word: str) -> bytes:
    (token,) = fold_tokens(word)
    return token


# --- parsing ----------------------------------------------------------------------------------------


def test_parses_every_field(tmp_path):
    lex = Lexicon.load(write(tmp_path, TINY))
    assert lex.name == "tiny"
    assert lex.emotions == ("happy", "grumpy")
    assert lex.sources == ("written for the tests", "a second source line")
    assert lex.licences == ("CC0",)
    assert dict(lex.params) == {
        "negation_scale": -0.5,
        "negated_positive_emotion": "grumpy",
        "negated_negative_emotion": None,
    }
    assert len(lex) == 12
    assert lex.get("yay") == Entry("Yay", 2.0, (("happy", 1.0),))
    ugh = lex.get("UGH")
    assert ugh.valence == -2.0 and ugh.emotions == (("grumpy", 0.75), ("happy", 0.0))
    assert ugh.weight("grumpy") == 0.75 and ugh.weight("happy") == 0.0
    assert lex.get("meh") == Entry("meh")
    assert lex.get("meh").valence is None
    assert lex.get("not").role == "negator" and lex.get("not").valence == 0.0
    assert lex.get("very").role == "booster" and lex.get("very").modifier == pytest.approx(0.3)
    assert lex.get("slightly").role == "dampener" and lex.get("slightly").modifier == pytest.approx(-0.4)
    assert lex.get("but").role == "contrast"
    assert lex.get("frustrat*").kind == "stem" and lex.get("frustrat*").valence == -1.5
    assert lex.get("can't stand").kind == "mwe"
    assert lex.get("isn't").term == "isn’t"  # apostrophes fold to ASCII "'"
    assert lex.get("😡").kind == "word"
    assert "YAY" in lex and "nope" not in lex and 3 not in lex
    assert [e.term for e in lex][:3] == ["Yay", "ugh", "meh"]


def test_crlf_bom_and_round_trip(tmp_path):
    crlf = "\ufeff" + TINY.replace("\n", "\r\n")
    lex = Lexicon.load(write(tmp_path, crlf))
    assert lex == Lexicon.from_text(TINY)
    out = tmp_path / "again.tsv"
    lex.save(out, comments=["saved by a test"])
    text = out.read_text(encoding="utf-8")
    assert text.startswith("#!emoscore-lexicon 1\n# name: tiny\n") and "# saved by a test\n" in text
    again = Lexicon.load(out)
    assert again == lex and hash(again) == hash(lex)
    assert again.compile().fingerprint == lex.compile().fingerprint
    assert Lexicon.from_text(lex.to_text()) == lex


def test_empty_taxonomy_and_no_entries():
    lex = Lexicon.from_text("#!emoscore-lexicon 1\n# emotions:\nterm\tvalence\temotions\trole\ngood\t1.9\t-\t-\n")
    assert lex.emotions == () and len(lex) == 1
    compiled = lex.compile()
    assert compiled.weights.shape == (1, 0)
    assert Lexicon.from_text(lex.to_text()) == lex
    empty = Lexicon(emotions=("a",)).compile()
    assert empty.n_terms == 0 and empty.mwe_first.tolist() == [0] and len(empty.table_keys) >= 16


# --- errors: every malformed line names the file and the line ---------------------------------------

BAD_HEADERS = [
    ("#!emoscore-lexicon\n", 1, "first line"),
    ("emotions: a\n", 1, "first line"),
    ("#!emoscore-lexicon 2\n# emotions: a\nterm\tvalence\temotions\trole\n", 1, "unsupported format version.*'2'"),
    ("#!emoscore-lexicon 1\nterm\tvalence\temotions\trole\n", 2, "no '# emotions:' header"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# emotions: b\n", 3, "given twice.*line 2"),
    ("#!emoscore-lexicon 1\n# emotions: a none\n", 2, "emotion name.*'none'"),
    ("#!emoscore-lexicon 1\n# emotions: a b=c\n", 2, "emotion name.*'b=c'"),
    ("#!emoscore-lexicon 1\n# emotions: a b a\n", 2, "named twice.*'a'"),
    ("#!emoscore-lexicon 1\n# name: x\n# name: y\n", 3, "'# name:' given twice"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# param nope: 1\nterm\tvalence\temotions\trole\n", 3,
     "unknown param.*'nope'"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# param decay_2: fast\nterm\tvalence\temotions\trole\n", 3,
     "param decay_2 is not a number.*'fast'"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# param decay_2: nan\nterm\tvalence\temotions\trole\n", 3, "not a number"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# param negated_positive_emotion: b\nterm\tvalence\temotions\trole\n", 3,
     "taxonomy or 'none'.*'b'"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# param decay_2: 1\n# param decay_2: 2\n", 4, "param given twice"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# param decay_2 1\n", 3, "# param NAME: VALUE"),
    ("#!emoscore-lexicon 1\n# emotions: a\nterm valence emotions role\n", 3, "column line.*'term valence"),
    ("#!emoscore-lexicon 1\n# emotions: a\n# just comments\n", 4, "no column line"),
]


@pytest.mark.parametrize("text, line, message", BAD_HEADERS)
def test_header_errors_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(LexiconError) as info:
        Lexicon.load(path)
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert re.search(message, str(info.value)), str(info.value)


BAD_ENTRIES = [
    ("good\t1.0\t-", "4 tab-separated fields.*found 3"),
    ("good\t1.0\t-\t-\textra", "found 5"),
    ("\t1.0\t-\t-", "empty term"),
    ("good\tabc\t-\t-", "valence is not a number.*'abc'"),
    ("good\tnan\t-\t-", "valence is not a number.*'nan'"),
    ("good\t1e\t-\t-", "valence is not a number"),
    ("good\t 1.0\t-\t-", "valence is not a number"),
    ("good\t4.5\t-\t-", "outside -4..4.*4.5"),
    ("good\t1\thappy\t-", "name=weight pairs.*'happy'"),
    ("good\t1\thappy=\t-", "name=weight pairs"),
    ("good\t1\tjolly=0.5\t-", "unknown emotion.*'jolly'"),
    ("good\t1\thappy=1.5\t-", r"outside \[0, 1\].*happy=1.5"),
    ("good\t1\thappy=-0.1\t-", r"outside \[0, 1\]"),
    ("good\t1\thappy=x\t-", "weight of 'happy' is not a number.*'x'"),
    ("good\t1\thappy=0.5,happy=0.2\t-", "emotion given twice.*'happy'"),
    ("good\t1\t-\tamplifier", "role is.*'amplifier'"),
    ("very\t-\t-\tbooster", "role is.*'booster'"),
    ("very\t-\t-\tbooster=-0.2", r"booster strength is outside \(0, 4\]"),
    ("very\t-\t-\tbooster=5", r"booster strength is outside \(0, 4\]"),
    ("bit\t-\t-\tdampener=1.5", r"dampener strength is outside \(0, 1\]"),
    ("not\t-\t-\tnegator=1", "role is"),
    ("not\t-1\t-\tnegator", "negator does not score itself"),
    ("but\t-\thappy=0.2\tcontrast", "contrast does not score itself"),
    ("e-mail\t1\t-\t-", "splits this term into 2 tokens.*'e' 'mail'.*'e-mail'"),
    (":)\t1\t-\t-", "reads no word.*':\\)'"),
    ("</3\t1\t-\t-", "reads this term as '3'.*'</3'"),
    ("good  day\t1\t-\t-", "single spaces"),
    (" good\t1\t-\t-", "single spaces"),
    ("good*day\t1\t-\t-", "'\\*' may only end a stem"),
    ("go*od*\t1\t-\t-", "a stem is a word followed by one"),
    ("*\t1\t-\t-", "a stem is a word followed by one"),
    ("very good*\t1\t-\t-", "cannot contain a stem"),
    ("a" * 64 + "*\t1\t-\t-", "1 to 63 bytes long, this one is 64"),
]


@pytest.mark.parametrize("line, message", BAD_ENTRIES)
def test_entry_errors_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, HEADER + "fine\t1\thappy=0.5\t-\n\n" + line + "\n")
    with pytest.raises(LexiconError) as info:
        Lexicon.load(path)
    assert str(info.value).startswith(f"{path}:6: "), str(info.value)
    assert re.search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    "first, second",
    [("good", "GOOD"), ("isn't", "isn’t"), ("Café", "CAFÉ"), ("café", "cafe"), ("cœur", "COEUR"),
     ("straße", "strasse"), ("frustrat*", "FRUSTRAT*"),
     ("can't stand", "CAN’T stand"), ("❤", "❤️")],
)
def test_duplicates_by_folded_key_are_errors(tmp_path, first, second):
    path = write(tmp_path, HEADER + f"{first}\t1\t-\t-\n{second}\t1\t-\t-\n")
    with pytest.raises(LexiconError, match=rf"^{re.escape(str(path))}:5: duplicate term.*line 4"):
        Lexicon.load(path)


def test_a_stem_and_a_word_with_the_same_letters_are_different_terms():
    lex = Lexicon.from_text(HEADER + "frustrat\t-1\t-\t-\nfrustrat*\t-2\t-\t-\n")
    assert len(lex) == 2


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(HEADER.encode() + b"good\t1\t-\t-\ncaf\xe9\t1\t-\t-\n")
    with pytest.raises(LexiconError, match=rf"^{re.escape(str(path))}:5: not UTF-8"):
        Lexicon.load(path)


def test_entry_and_lexicon_constructors_validate():
    with pytest.raises(LexiconError, match="outside -4..4"):
        Entry("good", 9)
    with pytest.raises(LexiconError, match=r"outside \[0, 1\]"):
        Entry("good", 1, {"joy": 2})
    with pytest.raises(LexiconError, match="unknown role"):
        Entry("very", role="intensifier")
    with pytest.raises(LexiconError, match="strength needs the role"):
        Entry("very", strength=0.3)
    with pytest.raises(LexiconError, match="entry 1: unknown emotion.*'fear'"):
        Lexicon([Entry("a", 1, {"joy": 1}), Entry("b", 1, {"fear": 1})], emotions=("joy",))
    with pytest.raises(LexiconError, match="entry 1: duplicate term.*'Good'"):
        Lexicon([Entry("good", 1), Entry("Good", 2)])
    with pytest.raises(LexiconError, match="entry 0: .*splits"):
        Lexicon([Entry("e-mail", 1)])
    with pytest.raises(LexiconError, match="unknown param"):
        Lexicon(params={"nope": 1})
    with pytest.raises(LexiconError, match="named twice"):
        Lexicon(emotions=("a", "a"))
    with pytest.raises(LexiconError, match="one line"):
        Lexicon(name="two\nlines")
    entry = Entry("good", 1, {"joy": 0.5})
    assert entry.emotions == (("joy", 0.5),)
    with pytest.raises(AttributeError):
        entry.valence = 2


# --- loaders of other formats -----------------------------------------------------------------------


def test_from_vader(tmp_path):
    path = write(
        tmp_path,
        "good\t1.9\t0.9\t[2, 2, 1, 3, 2, 2, 1, 2, 2, 2]\n"
        ":)\t2.0\t1.2\t[2, 2, 2, 2, 2, 2, 2, 2, 2, 2]\n"  # an emoticon the tokenizer never produces
        "x-d\t2.6\t0.5\t[3, 3, 2, 3, 2, 3, 2, 3, 2, 3]\n"  # an emoticon, not a phrase
        "cover-up\t-1.2\t1.1\t[-1, -1, -4, -1, 0, 0, -2, 0, -1, -2]\n"
        "can't stand\t-2.0\t0.6\t[-2, -2, -2, -1, -1, -2, -3, -2, -2, -3]\n"
        "\n"
        "lol\t2.9\t0.8\t[4, 2, 2, 2, 4, 2, 3, 3, 4, 3]\n"
        "lol\t1.8\t1.4\t[1, 3, 4, 1, 2, 4, 1, 2, -1, 1]\n",
        "vader_lexicon.txt",
    )
    lex = Lexicon.from_vader(path, emotions=("joy",))
    assert lex.emotions == ("joy",) and lex.name == "vader_lexicon"
    assert [(e.term, e.valence) for e in lex] == [
        ("good", 1.9), ("cover up", -1.2), ("can't stand", -2.0), ("lol", 1.8)
    ]
    assert all(not e.emotions and e.role is None for e in lex)
    assert lex.compile().n_terms == 8  # good, lol, cover, up, can't, stand and the two expressions
    bad = write(tmp_path, "good\t1.9\nbad\tawful\n", "bad.txt")
    with pytest.raises(LexiconError, match=rf"^{re.escape(str(bad))}:2: valence is not a number.*'awful'"):
        Lexicon.from_vader(bad)
    with pytest.raises(LexiconError, match=":1: expected token<TAB>valence"):
        Lexicon.from_vader(write(tmp_path, "lonely\n", "one.txt"))


def test_from_nrc(tmp_path):
    rows = []
    for word, assoc in [
        ("abandon", {"fear", "negative", "sadness"}),
        ("Cheerful", {"joy", "positive", "trust"}),
        ("aardvark", set()),
        ("mixed", {"positive", "negative"}),
        ("well-known", {"positive"}),
    ]:
        for emotion in ("anger", "anticipation", "disgust", "fear", "joy", "negative", "positive",
                        "sadness", "surprise", "trust"):
            rows.append(f"{word}\t{emotion}\t{int(emotion in assoc)}")
    path = write(tmp_path, "\n".join(rows) + "\n", "NRC-Emotion-Lexicon-Wordlevel-v0.92.txt")
    lex = Lexicon.from_nrc(path)
    assert lex.emotions == ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")
    assert lex.get("abandon") == Entry("abandon", -2.0, (("fear", 1.0), ("sadness", 1.0)))
    assert lex.get("cheerful") == Entry("Cheerful", 2.0, (("joy", 1.0), ("trust", 1.0)))
    assert lex.get("well known").valence == 2.0
    assert "aardvark" not in lex and "mixed" not in lex  # nothing to say: left out
    compiled = lex.compile()
    assert compiled.weights[probe(compiled, fnv1a64(b"abandon"))].tolist() == [0, 0, 0, 1, 0, 1, 0, 0]
    bad = write(tmp_path, "abandon\tfear\t1\nabandon\tsadness\tyes\n", "bad.txt")
    with pytest.raises(LexiconError, match=rf"^{re.escape(str(bad))}:2: the association is 0 or 1.*'yes'"):
        Lexicon.from_nrc(bad)
    with pytest.raises(LexiconError, match=":1: expected word<TAB>emotion<TAB>0\\|1"):
        Lexicon.from_nrc(write(tmp_path, "abandon fear 1\n", "spaces.txt"))


LIWC = (
    "%\n"
    "1\tposemo\n"
    "2\tnegemo\n"
    "3\tanger\n"
    "4\tsad\n"
    "5\tfunct\n"
    "%\n"
    "abandon*\t2\t4\n"
    "Happy\t1\n"
    "hate\t2\t3\n"
    "the\t5\n"
    "kind of\t5\n"
    "hate\t3\n"
)


def test_from_liwc(tmp_path):
    path = write(tmp_path, LIWC, "tiny.dic")
    lex = Lexicon.from_liwc(path)
    assert lex.emotions == ("anger", "sad", "funct") and lex.name == "tiny"
    assert lex.get("abandon*") == Entry("abandon*", -2.0, (("sad", 1.0),))
    assert lex.get("happy") == Entry("Happy", 2.0)
    assert lex.get("hate") == Entry("hate", -2.0, (("anger", 1.0),))  # listed twice: union
    assert lex.get("kind of").kind == "mwe"
    compiled = lex.compile()
    stem_id = probe(compiled, stem_key(b"abandon"))
    assert compiled.terms[stem_id] == "abandon*" and compiled.stem_mask == 1 << 7
    only = Lexicon.from_liwc(path, categories=["anger"])
    assert only.emotions == ("anger",)
    assert "the" not in only and only.get("abandon*").emotions == ()
    with pytest.raises(LexiconError, match="categories not in the dictionary.*nope"):
        Lexicon.from_liwc(path, categories=["nope"])


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("1\tposemo\n%\ngood\t1\n", 1, "starts with a '%' line"),
        ("%\n1\tposemo\ngood\t1\n", 3, "no '%' line closes"),
        ("%\n1\tposemo\n1\tnegemo\n%\n", 3, "category id given twice"),
        ("%\n1\tposemo\n2\tposemo\n%\n", 3, "category name given twice"),
        ("%\nposemo\n%\n", 2, "expected id<TAB>category"),
        ("%\n1\tposemo\n%\ngood\t1\t7\n", 4, "unknown category id.*'7'"),
        ("%\n1\tposemo\n%\nlike\t(02 134)1/464\n", 4, "conditional LIWC entries are not supported"),
        ("%\n1\tposemo\n%\ngood\n", 4, "expected word<TAB>category ids"),
        ("%\n1\tposemo\n%\n" + "a" * 70 + "*\t1\n", 4, "1 to 63 bytes long"),
    ],
)
def test_liwc_errors_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text, "bad.dic")
    with pytest.raises(LexiconError) as info:
        Lexicon.from_liwc(path)
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert re.search(message, str(info.value)), str(info.value)


# --- combining --------------------------------------------------------------------------------------


def test_merge_layers_later_entries_and_unions_taxonomies():
    base = Lexicon(
        [Entry("not", role="negator"), Entry("good", 1.9, {"joy": 0.4}), Entry("slow", -1)],
        emotions=("joy", "frustration"),
        params={"decay_2": 0.8},
        name="base",
        sources=("base source",),
    )
    top = Lexicon(
        [Entry("GOOD", 2.0, {"trust": 1.0}), Entry("abandon", -2, {"fear": 1})],
        emotions=("fear", "trust", "joy"),
        params={"decay_3": 0.7},
        sources=("top source",),
    )
    merged = base.merge(top)
    assert merged.emotions == ("joy", "frustration", "fear", "trust")
    assert [e.term for e in merged] == ["not", "GOOD", "slow", "abandon"]  # replaced in place
    assert merged.get("good") == Entry("GOOD", 2.0, {"trust": 1.0})
    assert dict(merged.params) == {"decay_2": 0.8, "decay_3": 0.7}
    assert merged.name == "base" and merged.sources == ("base source", "top source")
    compiled = merged.compile()
    good = probe(compiled, fnv1a64(b"good"))
    assert compiled.weights[good].tolist() == [0, 0, 0, 1]
    # base and top are unchanged
    assert base.get("good").valence == 1.9 and len(top) == 2
    with pytest.raises(TypeError):
        base.merge("not a lexicon")


def test_with_entries_and_with_params():
    lex = Lexicon([Entry("good", 1.9)], emotions=("joy",))
    more = lex.with_entries([Entry("Good", 2.5, {"joy": 1}), Entry("bad", -2.5), Entry("BAD", -3)])
    assert [(e.term, e.valence) for e in more] == [("Good", 2.5), ("BAD", -3.0)]
    with pytest.raises(LexiconError, match="unknown emotion"):
        lex.with_entries([Entry("sad", -2, {"sadness": 1})])
    tuned = lex.with_params(decay_2=0.5, negated_positive_emotion=None)
    assert tuned.params == {"decay_2": 0.5, "negated_positive_emotion": None}
    assert tuned.resolved_params()["negated_positive_emotion"] == -1
    with pytest.raises(LexiconError, match="taxonomy or 'none'"):
        lex.with_params(negated_negative_emotion="satisfaction")
    assert len(lex) == 1 and lex.params == {}


def test_default_layered_under_a_foreign_lexicon(tmp_path):
    nrc = Lexicon.from_nrc(write(tmp_path, "abandon\tfear\t1\nabandon\tnegative\t1\nzest\tjoy\t1\n", "nrc.txt"))
    merged = Lexicon.default().merge(nrc)
    assert merged.emotions == TAXONOMY  # NRC's emotion names are a subset of the default's
    assert merged.get("not").role == "negator" and merged.get("zest").weight("joy") == 1.0
    merged.compile()


# --- compilation ------------------------------------------------------------------------------------


def test_compile_every_entry_is_findable_by_its_folded_hash():
    lex = Lexicon.from_text(TINY)
    compiled = lex.compile()
    n = compiled.n_terms
    for entry in lex:
        if entry.kind == "word":
            term_id = probe(compiled, fnv1a64(folded(entry.term)))
        elif entry.kind == "stem":
            key = fnv1a64(folded(entry.term[:-1])) ^ STEM_TAG or 1
            assert key == stem_key(folded(entry.term[:-1]))
            term_id = probe(compiled, key)
        else:
            continue
        assert 0 <= term_id < n
        assert compiled.terms[term_id] == entry.term
        assert compiled.valence[term_id] == np.float32(entry.valence or 0.0)
        for name, weight in entry.emotions:
            assert compiled.weights[term_id, lex.emotions.index(name)] == np.float32(weight)
        assert compiled.modifier[term_id] == np.float32(entry.modifier)
    words = ("not", "very", "slightly", "but", "yay")
    role_of = {t: compiled.role[probe(compiled, fnv1a64(t.encode()))] for t in words}
    assert role_of == {"not": rules.ROLE_NEGATOR, "very": rules.ROLE_MODIFIER, "slightly": rules.ROLE_MODIFIER,
                       "but": rules.ROLE_CONTRAST, "yay": rules.ROLE_NONE}
    # the table holds exactly the single-token terms; an unknown word is not found
    assert int((compiled.table_ids >= 0).sum()) == n - len(compiled.mwe_term)
    assert probe(compiled, fnv1a64(b"unknown")) == -1


def test_compile_stems_and_stem_mask():
    lex = Lexicon.from_text(HEADER + "frustrat*\t-2\tgrumpy=1\t-\nab*\t-1\t-\t-\nж*\t1\t-\t-\n")
    compiled = lex.compile()
    assert compiled.stem_mask == (1 << 8) | (1 << 2)  # "ab" and "ж" are both 2 bytes
    assert compiled.stem_mask == sum({1 << len(folded(e.term[:-1])) for e in lex})
    for entry in lex:
        assert compiled.terms[probe(compiled, stem_key(folded(entry.term[:-1])))] == entry.term
        assert probe(compiled, fnv1a64(folded(entry.term[:-1]))) == -1  # not keyed as a word


def test_compile_multiword_expressions_csr_longest_first():
    lex = Lexicon.from_text(TINY + "can't\t-\t-\tnegator\nstand by\t1\thappy=0.5\t-\nnot bad\t1.5\t-\t-\n")
    compiled = lex.compile()
    terms = compiled.terms
    assert compiled.mwe_first.shape == (compiled.n_terms + 1,)
    assert compiled.mwe_parts[0] == 0 and compiled.mwe_parts[-1] == len(compiled.mwe_words)
    assert np.all(np.diff(compiled.mwe_first) >= 0) and compiled.mwe_first[-1] == len(compiled.mwe_term)
    found = {}
    for t in range(compiled.n_terms):
        lengths = []
        for m in range(compiled.mwe_first[t], compiled.mwe_first[t + 1]):
            words = compiled.mwe_words[compiled.mwe_parts[m]:compiled.mwe_parts[m + 1]]
            assert words[0] == t
            lengths.append(len(words))
            found[terms[compiled.mwe_term[m]]] = " ".join(terms[w] for w in words)
        assert lengths == sorted(lengths, reverse=True)
    assert found == {"can't stand": "can't stand", "can't stand it": "can't stand it",
                     "stand by": "stand by", "not bad": "not bad"}
    cant = probe(compiled, fnv1a64(b"can't"))
    assert [len(compiled.mwe_words[compiled.mwe_parts[m]:compiled.mwe_parts[m + 1]])
            for m in range(compiled.mwe_first[cant], compiled.mwe_first[cant + 1])] == [3, 2]
    # an expression scores as its own term; its words that are no entries carry nothing
    m = list(compiled.mwe_term).index(terms.index("can't stand it"))
    assert compiled.valence[compiled.mwe_term[m]] == np.float32(-2.5)
    it = probe(compiled, fnv1a64(b"it"))
    assert it >= 0 and compiled.valence[it] == 0 and not compiled.weights[it].any() and compiled.role[it] == 0
    assert compiled.role[cant] == rules.ROLE_NEGATOR


def test_words_added_for_an_expression_keep_their_stem_match():
    lex = Lexicon.from_text(HEADER + "frustrat*\t-2\tgrumpy=1\t-\nso frustrated\t-3\tgrumpy=1\t-\n")
    compiled = lex.compile()
    word = probe(compiled, fnv1a64(b"frustrated"))
    assert compiled.valence[word] == np.float32(-2.0) and compiled.weights[word].tolist() == [0, 1]


def test_compiled_arrays_are_read_only_contiguous_and_typed():
    compiled = Lexicon.from_text(TINY).compile()
    dtypes = {
        "table_keys": np.uint64, "table_ids": np.int32, "valence": np.float32, "weights": np.float32,
        "role": np.uint8, "modifier": np.float32, "mwe_first": np.int32, "mwe_term": np.int32,
        "mwe_parts": np.int32, "mwe_words": np.int32, "params": np.float32,
    }
    for name, dtype in dtypes.items():
        array = getattr(compiled, name)
        assert array.dtype == dtype, name
        assert array.flags.c_contiguous and not array.flags.writeable, name
        with pytest.raises(ValueError):
            array[...] = 0
    n, e = compiled.n_terms, compiled.n_emotions
    assert compiled.weights.shape == (n, e) and compiled.valence.shape == (n,)
    capacity = len(compiled.table_keys)
    assert capacity & (capacity - 1) == 0 and capacity >= 2 * (n - len(compiled.mwe_term))
    assert compiled.table_ids.shape == (capacity,)
    assert isinstance(compiled.stem_mask, int)
    with pytest.raises(AttributeError):
        compiled.fingerprint = "x"
    copy = pickle.loads(pickle.dumps(compiled))
    assert copy.fingerprint == compiled.fingerprint and not copy.valence.flags.writeable
    assert np.array_equal(copy.table_keys, compiled.table_keys)


def test_params_defaults_and_header_overrides():
    compiled = Lexicon.from_text(TINY).compile()
    assert compiled.params.shape == (rule_params.N_PARAMS,)
    for i, name in enumerate(rule_params.PARAM_NAMES):
        if name == "negation_scale":
            expected = -0.5
        elif name == "negated_positive_emotion":
            expected = 1  # grumpy
        elif name == "negated_negative_emotion":
            expected = -1  # none
        else:
            expected = rule_params.DEFAULT_PARAMS[name]
        assert compiled.params[i] == np.float32(expected), name
    # default emotion-valued params resolve by name, -1 when the taxonomy lacks the emotion
    plain = Lexicon(emotions=("frustration", "joy", "satisfaction")).compile().params
    assert plain[rule_params.PARAM_NAMES.index("negated_positive_emotion")] == 0
    assert plain[rule_params.PARAM_NAMES.index("negated_negative_emotion")] == 2
    assert Lexicon(emotions=("joy",)).compile().params[rule_params.PARAM_NAMES.index("negated_negative_emotion")] == -1


def test_fingerprint_is_stable_and_tracks_content():
    lex = Lexicon.from_text(TINY)
    fp = lex.compile().fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", fp) and lex.fingerprint == fp
    assert Lexicon.from_text(TINY).compile().fingerprint == fp  # a fresh parse
    assert lex.compile() is lex.compile()  # compiled once
    shuffled = list(lex)
    random.Random(1).shuffle(shuffled)
    same = Lexicon(shuffled, emotions=lex.emotions, params=lex.params, name="other name")
    assert same.compile().fingerprint == fp  # order and metadata do not change scoring
    changed = [
        lex.with_entries([Entry("yay", 2.1, {"happy": 1})]),
        lex.with_entries([Entry("yay", 2.0, {"happy": 0.9})]),
        lex.with_entries([Entry("new", 1.0)]),
        lex.with_entries([Entry("very", role="booster", strength=0.31)]),
        lex.with_entries([Entry("very", role="dampener", strength=0.3)]),
        lex.with_entries([Entry("can't stand", -2, {"happy": 0.8})]),
        lex.with_params(decay_2=0.9),
        Lexicon(lex.entries, emotions=("happy", "grumpy", "calm"), params=lex.params),
    ]
    prints = {c.compile().fingerprint for c in changed}
    assert fp not in prints and len(prints) == len(changed)


def test_compile_against_the_tokenizer():
    compiled = Lexicon.from_text(TINY).compile()
    texts = pa.array(["YAY! Frustrating, frustrat. can’t stand it 😡", "isn't meh"])
    offsets, ids, _ = tokenize(texts, compiled.table_keys, compiled.table_ids, compiled.stem_mask)
    names = [compiled.terms[i] if i >= 0 else None for i in ids.tolist()]
    assert offsets.tolist() == [0, 7, 9]
    assert names == ["Yay", "frustrat*", "frustrat*", "can't", "stand", "it", "😡", "isn’t", "meh"]


def test_accented_and_unaccented_spellings_match_both_ways():
    """A term is hashed through the tokenizer's folding, accents included: "délai" in the lexicon
    matches "delai" in text and the other way round; ß, æ, œ write two letters; an elided article
    ("n'", "l'") is a term of its own, and a word written with one is two tokens."""
    lex = Lexicon.from_text(HEADER + "délai\t-1\t-\t-\ngeneral\t1\t-\t-\nstraße\t1\t-\t-\n"
                                     "cœur\t1\t-\t-\nn'\t-\t-\tnegator\nl' accueil\t2\t-\t-\n")
    compiled = lex.compile()
    texts = pa.array(["Delai DÉLAI délai Général GENERAL strasse Straße coeur CŒUR",
                      "L’accueil n'est pas là, l'accueil"])
    offsets, ids, _ = tokenize(texts, compiled.table_keys, compiled.table_ids, compiled.stem_mask)
    names = [compiled.terms[i] if i >= 0 else None for i in ids.tolist()]
    assert offsets.tolist() == [0, 9, 17]
    assert names == ["délai"] * 3 + ["general"] * 2 + ["straße"] * 2 + ["cœur"] * 2 + [
        "l'", "accueil", "n'", None, None, None, "l'", "accueil"]
    assert compiled.mwe_first.size > 0
    with pytest.raises(LexiconError, match="splits this term into 2 tokens"):
        Lexicon.from_text(HEADER + "l'accueil\t1\t-\t-\n")


def test_the_default_lexicon_has_no_accented_spellings_left():
    """Accent folding merges spellings that differ by accents only, so the default lexicon keeps one
    of each (cliché and clichéd went, their unaccented twins with the same valences stay); every
    term reads as the same token as its accent-free spelling."""
    lex = Lexicon.default()
    accented = [e.term for e in lex if re.search("[\u00c0-\u017f]", e.term)]
    assert accented == []
    assert lex.get("cliché") is lex.get("cliche") and lex.get("cliche").valence == -1.3
    assert lex.get("clichéd").valence == -1.6


def test_compiles_ten_thousand_entries_quickly():
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 12))) for _ in range(12000)})
    entries = [Entry(w, round(rng.uniform(-4, 4), 1), {"joy": 0.5}) for w in words[:9000]]
    entries += [Entry(w + "*", -1.0) for w in words[9000:9500]]
    entries += [Entry(f"{a} {b}", 1.0) for a, b in zip(words[9500:10000], words[:500], strict=True)]
    lex = Lexicon(entries, emotions=("joy",))
    start = time.perf_counter()
    compiled = lex.compile()
    assert time.perf_counter() - start < 1.0
    assert compiled.n_terms >= 10000


# --- the default lexicon ----------------------------------------------------------------------------

NEGATORS = (
    "not no never don't isn't wasn't can't couldn't won't wouldn't shouldn't doesn't didn't aren't weren't "
    "haven't hasn't hadn't ain't cannot nothing nobody none neither nor without dont cant wont isnt didnt doesnt"
).split()


def test_default_lexicon_loads_and_compiles():
    lex = Lexicon.default()
    assert lex is Lexicon.default()
    assert lex.emotions == TAXONOMY
    assert lex.name == "emoscore-default"
    assert any("VADER" in s for s in lex.sources) and any("MIT" in s for s in lex.licences)
    for word in NEGATORS:
        assert lex.get(word).role == "negator", word
    for word in ("very", "really", "extremely", "absolutely", "incredibly", "totally", "so", "super"):
        assert lex.get(word).role == "booster" and 0.2 <= lex.get(word).strength <= 0.5, word
    for word in ("slightly", "somewhat", "kind of", "sort of", "a bit", "barely", "hardly"):
        assert lex.get(word).role == "dampener", word
    for word in ("but", "however", "although", "though", "yet", "nevertheless"):
        assert lex.get(word).role == "contrast", word
    for entry in lex:
        if entry.role:
            assert not entry.valence and not entry.emotions, entry
    for emotion in TAXONOMY:  # every emotion is carried by many entries
        assert sum(entry.weight(emotion) > 0 for entry in lex) >= 20, emotion
    kinds = {kind: sum(entry.kind == kind for entry in lex) for kind in ("word", "stem", "mwe")}
    assert kinds["word"] > 7000 and kinds["stem"] >= 20 and kinds["mwe"] >= 150
    for term, emotion in [("furious", "anger"), ("can't wait", "anticipation"), ("disgusting", "disgust"),
                          ("worried", "fear"), ("love", "joy"), ("disappointed", "sadness"),
                          ("surprised", "surprise"), ("reliable", "trust"), ("on hold", "frustration"),
                          ("highly recommend", "satisfaction"), ("confusing", "confusion")]:
        entry = lex.get(term)
        assert max(entry.emotions, key=lambda pair: pair[1])[0] == emotion, term
    assert lex.get("good").valence == 1.9  # VADER's valence
    assert lex.get("😡").valence < 0 < lex.get("😍").valence
    compiled = lex.compile()
    assert compiled.emotions == TAXONOMY
    assert compiled.terms[probe(compiled, stem_key(b"frustrat"))] == "frustrat*"


def _builder():
    """lexicons/build_default.py, a repository script (not shipped in the wheel)."""
    return load_script("lexicons/build_default.py")


def test_identity_words_and_greetings_carry_no_sentiment_in_the_default_lexicon():
    from emoscore import Scorer

    words = sorted(_builder().NO_SENTIMENT_WORDS)
    scored = Scorer(aspects=False).score(pa.array([f"the {word} pilot" for word in words]))
    assert scored.column("hits").to_pylist() == [0] * len(words), words
    assert set(scored.column("emotion").to_pylist()) == {"neutral"}
    straight = Scorer(aspects=False).score(pa.array(["a straight answer", "a straight pilot"]))
    assert straight.column("valence").to_pylist()[0] > 0 == straight.column("valence").to_pylist()[1]


@pytest.mark.slow
def test_default_lexicon_file_is_what_the_builder_makes(tmp_path):
    data = require("vader/vader_lexicon.txt", "vader/emoji_utf8_lexicon.txt", "goemotions/train.tsv")
    build_default = _builder()
    out = tmp_path / "default.tsv"
    assert build_default.main(["--vader-dir", str(data / "vader"), "--out", str(out)]) == 0
    assert out.read_bytes() == (REPO / "lexicons" / "default.tsv").read_bytes()
