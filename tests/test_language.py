"""The language detector (emoscore.language, kernels/language_cpu.py): detection on sentences written
here (not the bench set's), ``und`` where nothing can be said, the kernels against a plain-Python
restatement, the token-stream entry the scorer will use, the table format, and accuracy on the bench
set and on the shared French development set."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from emoscore._tokenize import build_table, fnv1a64, tokenize
from emoscore.errors import InputError, LexiconError
from emoscore.language import CODES, LANGUAGES, UND, LanguageTable, TermWeights, codes_array, detect
from shared_data import require

BENCH_SET = Path(__file__).resolve().parents[1] / "bench" / "data" / "language_sentences.tsv"

CLEAR = {
    "en": ["The courier left my parcel with a neighbour and nobody told me about it.",
           "Thank you for the refund, the whole process was quick and easy."],
    "fr": ["Je n'ai toujours pas reçu mon remboursement, c'est inadmissible.",
           "La livraison était rapide, merci !"],
    "de": ["Ich habe meine Bestellung nach zwei Wochen immer noch nicht bekommen.",
           "Die Lieferung war super schnell!"],
    "es": ["El pedido llegó a tiempo y el embalaje estaba perfecto, gracias.",
           "Llevo una semana esperando y nadie me responde."],
    "it": ["Il servizio clienti non mi ha mai richiamato, sono molto deluso.",
           "Consegna rapidissima, grazie di tutto!"],
    "pt": ["Não recebi o meu pedido e o atendimento não resolve nada.",
           "Muito obrigada pela ajuda, vocês foram ótimos."],
    "nl": ["Ik heb mijn pakket nog steeds niet ontvangen en de klantenservice reageert niet.",
           "Heel erg bedankt voor de snelle hulp!"],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_on_clear_sentences(language):
    assert detect(CLEAR[language]).to_pylist() == [language] * len(CLEAR[language])


def test_the_issue_examples():
    assert detect(["Die Lieferung war super schnell!", "Le service client est nul"]).to_pylist() == ["de", "fr"]


def test_und_where_nothing_can_be_said():
    texts = [None, "", "   ", "😀😀👍", "12345", "42 / 7.5", "ok", "top", "super", "no", "OK!!", "!!!", "?"]
    assert detect(texts).to_pylist() == [UND] * len(texts)


def test_und_for_languages_outside_the_table():
    texts = ["Dostawa była bardzo szybka, polecam ten sklep wszystkim",
             "Leveransen kom snabbt och personalen var trevlig hela tiden",
             "Доставка была очень быстрой, спасибо большое",
             "Kargo çok hızlı geldi, teşekkür ederim herkese"]
    assert detect(texts).to_pylist() == [UND] * len(texts)


def test_one_clear_word_is_enough():
    assert detect(["Merci !", "Danke!", "Gracias", "Grazie", "Obrigado", "Bedankt", "Thanks"]).to_pylist() == [
        "fr", "de", "es", "it", "pt", "nl", "en"]


def test_result_type_and_input_kinds():
    texts = ["Vielen Dank!", None, "Merci beaucoup pour tout", "Thanks a lot"]
    expected = ["de", UND, "fr", "en"]
    out = detect(texts)
    assert out.type == pa.dictionary(pa.int8(), pa.string())
    assert out.dictionary.to_pylist() == list(CODES)
    assert detect(pa.array(texts, pa.large_string())).to_pylist() == expected
    assert detect(pa.array(texts, pa.string_view())).to_pylist() == expected
    assert detect(pa.array(texts).dictionary_encode()).to_pylist() == expected
    assert detect(pa.chunked_array([texts[:1], texts[1:]])).to_pylist() == expected
    assert detect(pa.array(["x", *texts]).slice(1)).to_pylist() == expected
    assert detect(pa.nulls(3)).to_pylist() == [UND] * 3
    assert detect([]).to_pylist() == []
    with pytest.raises(InputError):
        detect("one string")
    with pytest.raises(InputError):
        detect(pa.array([1, 2]))


def test_codes_array_marks_invalid_rows_und():
    out = codes_array(np.array([0, -1, 2], np.int8), valid=np.array([True, True, False]))
    assert out.to_pylist() == ["en", UND, UND]


# --- the kernels against a plain-Python restatement ----------------------------------------------


def reference_detect(table, doc_offsets, term_ids, flags, term_weights, cues):
    """term_weights: float32[N, L]; the token sums first, then the cues."""
    p = table.params
    out = []
    for d in range(len(doc_offsets) - 1):
        score = np.zeros(len(LANGUAGES), np.float32)
        words = hits = 0
        for t in range(doc_offsets[d], doc_offsets[d + 1]):
            words += not flags[t] & 8
            tid = term_ids[t]
            if tid >= 0 and term_weights[tid].any():
                hits += 1
                score += term_weights[tid]
        score += cues[d]
        best = int(np.argmax(score))
        second = max([np.float32(0)] + [score[i] for i in range(len(score)) if i != best])
        if score[best] < np.float32(p.min_evidence) or score[best] - second < np.float32(p.margin):
            out.append(-1)
        elif words >= 6 and hits < np.float32(p.min_coverage) * words:
            out.append(-1)
        else:
            out.append(best)
    return np.array(out, np.int8)


def reference_cues(table, texts):
    out = np.zeros((len(texts), len(LANGUAGES)), np.float32)
    for d, text in enumerate(texts):
        raw = (text or "").encode("utf-8")
        for i in range(len(raw) - 1):
            k = table.pair_index[(raw[i] << 8) | raw[i + 1]]
            if k >= 0:
                out[d] += table.cue_weights[k]
    return out


def test_kernels_equal_the_reference_on_random_token_mixes():
    table = LanguageTable.default()
    rng = np.random.default_rng(16)
    n_terms = len(table.words)
    for _ in range(20):
        n_docs = int(rng.integers(1, 60))
        lengths = rng.integers(0, 15, n_docs)
        doc_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        n_tokens = int(doc_offsets[-1])
        # mostly listed words, some unlisted (-1), some emoji flags
        term_ids = rng.integers(-n_terms // 3, n_terms, n_tokens).clip(-1).astype(np.int32)
        flags = np.where(rng.random(n_tokens) < 0.1, 8, 0).astype(np.uint8)
        cues = (rng.integers(0, 3, (n_docs, len(LANGUAGES))) * 0.5).astype(np.float32)
        got = table.detect_tokens(doc_offsets, term_ids, flags, table.own_weights, cues)
        want = reference_detect(table, doc_offsets, term_ids, flags, table.word_weights, cues)
        np.testing.assert_array_equal(got, want)


def test_long_documents_do_not_overflow_the_packed_sums():
    """More than BLOCK tokens of weight 2 (8 quarters each) would carry out of a 16-bit lane."""
    table = LanguageTable.default()
    danke = table.words.index(b"danke")
    merci = table.words.index(b"merci")
    rng = np.random.default_rng(7)
    term_ids = np.concatenate([np.full(12_000, danke), np.full(11_990, merci), rng.integers(-1, 50, 3000)])
    term_ids = term_ids.astype(np.int32)
    doc_offsets = np.array([0, 12_000, 23_990, term_ids.size], np.int64)
    flags = np.zeros(term_ids.size, np.uint8)
    cues = np.zeros((3, len(LANGUAGES)), np.float32)
    got = table.detect_tokens(doc_offsets, term_ids, flags, table.own_weights, cues)
    np.testing.assert_array_equal(got, reference_detect(table, doc_offsets, term_ids, flags, table.word_weights, cues))
    one = np.array([0, term_ids.size], np.int64)
    got = table.detect_tokens(one, term_ids, flags, table.own_weights)
    assert got.tolist() == [LANGUAGES.index("de")]  # 24000 vs 23980 quarters: counted exactly


def test_cue_kernel_on_random_texts():
    table = LanguageTable.default()
    rng = np.random.default_rng(5)
    alphabet = list("abcdefgh ijklm.!") + ["ß", "ä", "ñ", "ç", "ã", "é", "€", "😀"]
    texts = ["".join(rng.choice(alphabet, int(rng.integers(0, 90)))) for _ in range(300)]
    arr = pa.array(texts)
    np.testing.assert_array_equal(table.cues(arr), reference_cues(table, texts))
    np.testing.assert_array_equal(table.cues(arr.slice(13, 200)), reference_cues(table, texts[13:213]))


def test_many_documents_across_kernel_chunks():
    """More documents than one parallel chunk (2048): chunk borders change nothing."""
    table = LanguageTable.default()
    rng = np.random.default_rng(11)
    alphabet = list("abcdefgh ijklm.!") + ["ß", "ä", "ñ", "ç", "ã", "é"]
    texts = ["".join(rng.choice(alphabet, int(rng.integers(0, 40)))) if rng.random() > 0.05 else None
             for _ in range(7000)]
    arr = pa.array(texts)
    np.testing.assert_array_equal(table.cues(arr), reference_cues(table, texts))
    np.testing.assert_array_equal(table.cues(arr.slice(1000, 5000)), reference_cues(table, texts[1000:6000]))
    lengths = rng.integers(0, 12, 7000)
    doc_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    term_ids = rng.integers(-1, len(table.words), int(doc_offsets[-1])).astype(np.int32)
    flags = np.zeros(term_ids.size, np.uint8)
    cues = table.cues(arr)
    got = table.detect_tokens(doc_offsets, term_ids, flags, table.own_weights, cues)
    np.testing.assert_array_equal(got, reference_detect(table, doc_offsets, term_ids, flags, table.word_weights, cues))


def test_cue_kernel_equals_the_reference():
    table = LanguageTable.default()
    texts = ["Größe und Qualität", "¿Dónde está mi señal?", "Não estão aqui", "Ça coûte très cher", "IJsland bij mij",
             None, "", "plain ascii text", "ÄÖÜ ẞ", "perché è così"]
    arr = pa.array(texts)
    np.testing.assert_array_equal(table.cues(arr), reference_cues(table, texts))
    np.testing.assert_array_equal(table.cues(arr.slice(3)), reference_cues(table, texts[3:]))
    np.testing.assert_array_equal(table.cues(pa.array(texts, pa.large_string())), reference_cues(table, texts))


def test_detect_tokens_on_another_table_gives_what_detect_gives():
    """The scorer's path: the language words join a bigger table under other ids; term_weights maps them."""
    table = LanguageTable.default()
    extra = [fnv1a64(word.encode()) for word in ("zzfoo", "zzbar", "zzbaz")]
    keys = np.concatenate([np.array(extra, np.uint64), table.keys])
    ids = np.random.default_rng(3).permutation(len(keys)).astype(np.int32)
    table_keys, table_ids = build_table(keys, ids)
    weights = table.term_weights(table_keys, table_ids, len(keys))
    texts = pa.array([*[s for group in CLEAR.values() for s in group], "zzfoo zzbar", None, "ok"])
    doc_offsets, term_ids, flags = tokenize(texts, table_keys, table_ids, 0)
    codes = table.detect_tokens(doc_offsets, term_ids, flags, weights, table.cues(texts))
    assert codes_array(codes, np.asarray(texts.is_valid())).to_pylist() == detect(texts).to_pylist()


def test_detect_tokens_checks_its_inputs():
    table = LanguageTable.default()
    offsets = np.array([0, 2], np.int64)
    ids = np.array([0, 1], np.int32)
    flags = np.zeros(2, np.uint8)
    with pytest.raises(InputError):
        table.detect_tokens(offsets, ids, flags, TermWeights(np.zeros((5, 3), np.uint64)))
    with pytest.raises(InputError):
        table.detect_tokens(offsets, ids, flags, TermWeights(np.ones((5, 2), np.uint64)))
    with pytest.raises(InputError):
        TermWeights.of(np.full((2, len(LANGUAGES)), 0.3, np.float32))
    small = TermWeights.of(np.ones((5, len(LANGUAGES)), np.float32))
    with pytest.raises(InputError):
        table.detect_tokens(offsets, np.array([0, 5], np.int32), flags, small)
    assert table.detect_tokens(offsets, np.array([0, 4], np.int32), flags, small).tolist() == [-1]  # a tie
    with pytest.raises(InputError):
        table.detect_tokens(offsets, ids, flags, table.own_weights, np.zeros((3, len(LANGUAGES)), np.float32))


# --- the table format ----------------------------------------------------------------------------


def test_the_table_ships_in_the_package_and_says_who_wrote_it():
    text = resources.files("emoscore.lexicons").joinpath("languages.tsv").read_text(encoding="utf-8")
    assert "Written by hand for emoscore" in text.splitlines()[1]
    table = LanguageTable.default()
    per_language = (table.word_weights > 0).sum(axis=0)
    assert all(60 <= n <= 250 for n in per_language), dict(zip(LANGUAGES, per_language.tolist(), strict=True))


@pytest.mark.parametrize("line, message", [
    ("word\txx\t1\tfoo", "kind"),
    ("verb\ten\t1\tfoo", "kind"),
    ("word\ten\tabc\tfoo", "weight"),
    ("word\ten\t-1\tfoo", "positive"),
    ("word\ten\t0.3\tfoo", "multiple"),
    ("word\ten\t17\tfoo", "multiple"),
    ("word\ten\t1\tFoo", "lower-case"),
    ("word\ten\t1\tfoo foo", "twice"),
    ("char\tde\t1\tab", "two-byte"),
    ("pair\tnl\t1\tijk", "two ASCII"),
    ("# param nope: 1", "param"),
])
def test_table_errors_name_the_line(line, message):
    with pytest.raises(LexiconError, match=message):
        LanguageTable.parse(f"# header\n{line}\n", origin="t.tsv")


def test_params_are_read_from_the_table():
    table = LanguageTable.parse("# param min_evidence: 3\n# param margin: 2\nword\ten\t1\tfoo\n")
    assert (table.params.min_evidence, table.params.margin) == (3.0, 2.0)
    assert detect(["foo foo", "foo foo foo"], table).to_pylist() == [UND, "en"]


# --- accuracy ------------------------------------------------------------------------------------


def bench_rows() -> list[tuple[str, str]]:
    rows = []
    for line in BENCH_SET.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and not line.startswith("language\t"):
            language, text = line.split("\t")
            rows.append((language, text))
    return rows


def test_accuracy_on_the_bench_set():
    """40 texts per language. About 12 of them ("ok", "top", "Super", "Prima", "Genial": words several of
    the languages use) must be und, which counts as a miss: 0.90 leaves room for those and a few more
    short ones (0.95 when the table was tuned). A wrong language is worse than und: at most 2 in 280."""
    rows = bench_rows()
    assert len(rows) == 280
    got = detect([text for _, text in rows]).to_pylist()
    correct = sum(g == x for (g, _), x in zip(rows, got, strict=True))
    wrong = [(g, x, t) for (g, t), x in zip(rows, got, strict=True) if x not in (g, UND)]
    assert correct / len(rows) >= 0.90
    assert len(wrong) <= 2, wrong
    for language in LANGUAGES:
        mine = [x == g for (g, _), x in zip(rows, got, strict=True) if g == language]
        assert sum(mine) / len(mine) >= 0.85, language


def test_french_on_the_allocine_dev_set():
    """The Allociné TV reviews' dev split (evaluation-only, read in place): at least 95% fr (99% when tuned)."""
    data = require("fr/allocine_tv/dev.tsv")
    lines = (data / "fr/allocine_tv/dev.tsv").read_text(encoding="utf-8").splitlines()
    texts = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    assert len(texts) > 300
    got = detect(texts).to_pylist()
    assert got.count("fr") / len(texts) >= 0.95


def test_french_on_the_deft_validation_tweets():
    """DEFT 2017 tweets (evaluation-only; many are headlines or hashtags and URLs): at least 85% fr and
    no more than 2% another language (91.7% and 1.2% when tuned)."""
    data = require("fr/deft2017_tweets/val_text.txt")
    texts = [t for t in (data / "fr/deft2017_tweets/val_text.txt").read_text(encoding="utf-8").splitlines() if t]
    got = detect(texts).to_pylist()
    assert got.count("fr") / len(texts) >= 0.85
    assert sum(x not in ("fr", UND) for x in got) / len(texts) <= 0.02
