"""Seeded generator of realistic customer feedback, and the bundled 2,000-row sample.

    python -m emoscore.sample --n 2000 --seed 7 > src/emoscore/data/sample.jsonl

Every row has a hidden *latent* emotion (frustration, satisfaction, confusion, anger, joy, fear,
sadness, surprise, trust, anticipation, disgust or neutral) that is drawn per touchpoint and drives
both the text and the structured scores: the text is composed from hand-written phrase templates for
that emotion and touchpoint, and ``nps``, ``rating``, ``effort`` and ``event`` are drawn around the
latent valence, so promoters mostly write positive comments and detractors negative ones — except for
a few percent of deliberate mismatches (a 9/10 with a furious comment). A small set of customers is
planted who write frustrated or angry messages several times within 30 days.

Generation is vectorised: rows are produced in fixed internal blocks of ``_BLOCK`` rows, each with
its own random stream derived from ``(seed, block number)``, and texts are assembled with
``pyarrow.compute`` from template segments — no Python work per row. The rows therefore depend on
``n`` and ``seed`` only, never on ``batch_size``.

Columns (see :data:`SCHEMA`)
----------------------------
``id`` int64 (1-based row number), ``ts`` timestamp[s, UTC] (non-decreasing, 90 days from
2026-08-01), ``customer_id`` string (a skewed pool, so customers repeat), ``touchpoint``, ``channel``,
``source`` (review, survey, support), ``text`` (null for a few survey answers without a comment),
``nps`` int8 0–10 (surveys, some support contacts), ``rating`` int8 1–5 (reviews, some surveys and
support contacts), ``effort`` int8 1–7 (customer effort, 1 = very easy, 7 = very hard; support
contacts and some surveys), ``first_response_s`` float64 (support only: seconds to the first reply),
``event`` string (null, or churn / renewal / upsell / cross_sell), ``revenue`` float64 (order value,
the refund as a negative amount for returns, the contract value for events, else 0.0; never null).
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

__all__ = [
    "SAMPLE_N",
    "SAMPLE_SEED",
    "SCHEMA",
    "bundled_sample_path",
    "generate",
    "iter_batches",
    "main",
    "write_jsonl",
]

#: Rows and seed of the bundled sample ``data/sample.jsonl``.
SAMPLE_N = 2000
SAMPLE_SEED = 7

TOUCHPOINTS = ("onboarding", "checkout", "delivery", "billing", "support", "returns", "app")
CHANNELS = ("web", "app", "email", "phone", "chat")
SOURCES = ("review", "survey", "support")
EVENTS = ("churn", "renewal", "upsell", "cross_sell")
LATENTS = (
    "frustration", "satisfaction", "confusion", "anger", "joy", "fear",
    "sadness", "surprise", "trust", "anticipation", "disgust", "neutral",
)  # fmt: skip

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("ts", pa.timestamp("s", tz="UTC")),
        ("customer_id", pa.string()),
        ("touchpoint", pa.string()),
        ("channel", pa.string()),
        ("source", pa.string()),
        ("text", pa.string()),
        ("nps", pa.int8()),
        ("rating", pa.int8()),
        ("effort", pa.int8()),
        ("first_response_s", pa.float64()),
        ("event", pa.string()),
        ("revenue", pa.float64()),
    ]
)
#: The extra column of ``generate(..., labels=True)``: the latent emotion that drove the row.
LABEL_FIELD = pa.field("latent_emotion", pa.string())

_START = int(datetime(2026, 8, 1, tzinfo=UTC).timestamp())
_SPAN_S = 90 * 86400
_EPISODE_DAYS = 25  # a frustrated customer's messages all fall within this many days (< 30)
_BLOCK = 65_536  # rows per internal block: the unit of randomness, so batching never changes rows

# -------------------------------------------------------------------------------------------------
# Phrase banks. A template is a clause without final punctuation; ``{slot}`` is filled per row from
# _SLOTS (a value listed twice is twice as likely). ``{thing}`` in a generic template becomes a noun
# phrase of the row's touchpoint.
# -------------------------------------------------------------------------------------------------
_SLOTS: dict[str, tuple[str, ...]] = {
    "b": ("", "", "", "", "really ", "very ", "so ", "super ", "extremely ", "incredibly "),
    "min": ("20", "35", "40", "45", "55", "90", "twenty", "forty"),
    "days": ("3", "4", "5", "10", "12", "two", "four", "six"),
    "weeks": ("two", "three", "four", "3", "6"),
    "times": ("three", "four", "five", "3", "6", "several"),
    "agent": (
        "José", "Zoë", "Renée", "François", "Søren", "Inés", "Chloé", "Björn", "Priya",
        "Mike", "Łukasz", "Ngozi", "Anaïs", "Sam",
    ),
    "item": (
        "café table", "espresso machine", "crème brûlée torch", "naïve art print", "jacket",
        "pair of headphones", "sofa", "phone case", "set of garden chairs", "piñata", "Lego set",
        "rain jacket", "kettle", "pair of sneakers",
    ),
    "amount": ("€12.99", "$40", "£7.50", "€120", "$3.99", "$89", "€59.90"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}  # fmt: skip

_THINGS: dict[str, tuple[str, ...]] = {
    "onboarding": ("the onboarding", "the setup", "the welcome call", "account setup", "the sign-up"),
    "checkout": ("the checkout", "checkout", "the payment page", "paying online"),
    "delivery": ("the delivery", "delivery", "the courier", "shipping"),
    "billing": ("billing", "the invoice", "my bill", "the billing team"),
    "support": ("support", "customer service", "the support team", "the helpdesk"),
    "returns": ("the return", "the refund", "returns", "the exchange"),
    "app": ("the app", "the new app", "the mobile app", "the latest app update"),
}

_GENERIC: dict[str, tuple[str, ...]] = {
    "frustration": (
        "{thing} was {b}frustrating",
        "I've had to chase {thing} {times} times now",
        "still waiting on {thing}, {days} days and counting",
        "why is {thing} always this {b}slow",
        "I'm {b}tired of {thing} not working",
        "{thing} is a constant headache",
        "this is the third time I've had issues with {thing}",
        "nothing about {thing} was easy",
        "honestly fed up with {thing}",
        "I can't believe {thing} is still broken",
        "not happy with {thing} at all",
        "{thing} wasn't great, took way too long",
        "don't get me started on {thing}",
    ),
    "satisfaction": (
        "{thing} was {b}smooth",
        "no problems at all with {thing}",
        "{thing} was not bad at all",
        "{thing} worked exactly as expected",
        "{b}happy with {thing}",
        "{thing} was quick and easy",
        "can't complain about {thing}",
        "everything with {thing} went fine, no complaints",
        "{thing} was {b}good, thanks",
        "never had an issue with {thing}",
        "{b}pleased with how {thing} went",
    ),
    "confusion": (
        "I don't understand how {thing} is supposed to work",
        "{thing} is {b}confusing",
        "not sure what happened with {thing}",
        "can someone explain {thing} to me?",
        "the instructions for {thing} make no sense",
        "I'm lost, {thing} says one thing and the email says another",
        "is {thing} supposed to take this long?",
        "which button do I press for {thing}?",
        "{thing} is unclear, I had to guess",
    ),
    "anger": (
        "{thing} is {b}unacceptable",
        "absolutely furious about {thing}",
        "{thing} is a total joke",
        "the worst experience I've had with {thing}",
        "I am livid, {thing} is a disgrace",
        "{thing} is {b}outrageous",
        "fix {thing} NOW",
        "I'm so angry about {thing}",
        "{thing} is a scam and you know it",
        "never again, {thing} was a nightmare",
    ),
    "joy": (
        "I {b}love {thing}",
        "{thing} was {b}amazing",
        "{thing} made my day",
        "absolutely delighted with {thing}",
        "wow, {thing} was fantastic",
        "{thing} was a joy, honestly",
        "{thing} was {b}awesome 🎉",
        "so so happy with {thing}",
        "{thing} was brilliant from start to finish",
    ),
    "fear": (
        "I'm worried about {thing}",
        "a bit nervous that {thing} will go wrong again",
        "scared I'll be charged twice because of {thing}",
        "I'm anxious, {thing} didn't confirm anything",
        "not sure my data is safe after {thing}",
        "afraid {thing} lost my details",
    ),
    "sadness": (
        "{b}disappointed with {thing}",
        "sad to say {thing} let me down",
        "I used to love {thing}, not anymore",
        "{thing} ruined what should have been a nice day",
        "feeling let down by {thing}",
        "{thing} is not what it used to be, unfortunately",
    ),
    "surprise": (
        "didn't expect {thing} to be that quick",
        "wow, {thing} surprised me",
        "{thing} was a pleasant surprise",
        "I was shocked how easy {thing} was",
        "unexpectedly {b}good experience with {thing}",
        "never thought {thing} would be this simple",
    ),
    "trust": (
        "I trust you with {thing}, always reliable",
        "{thing} has been reliable for years",
        "you can count on {thing}",
        "{thing} was honest and transparent",
        "I feel safe with {thing}",
        "{agent} was {b}helpful and I trust the team",
        "{thing} always keeps its promises",
    ),
    "anticipation": (
        "looking forward to trying {thing} again",
        "can't wait for the next update to {thing}",
        "hoping {thing} keeps improving",
        "excited to see where {thing} goes",
        "eagerly waiting for {thing}",
        "fingers crossed {thing} is as good next time",
    ),
    "disgust": (
        "{thing} is {b}disgusting",
        "{thing} left a bad taste in my mouth",
        "the way {thing} treated me is revolting",
        "{thing} was sleazy",
        "frankly appalled by {thing}",
        "{thing} felt shady and gross",
    ),
    "neutral": (
        "used {thing} today",
        "{thing} was ok",
        "nothing special about {thing}",
        "{thing} did what it says",
        "went through {thing} this week",
        "first time using {thing}",
        "{thing} was average",
        "had to deal with {thing} on {weekday}",
    ),
}

_SPECIFIC: dict[str, dict[str, tuple[str, ...]]] = {
    "onboarding": {
        "frustration": (
            "the setup took {b}forever and kept asking for the same documents",
            "I had to re-enter my details {times} times during sign-up",
            "the verification email never arrived, tried {times} times",
        ),
        "satisfaction": (
            "setup took less than {min} minutes, no problems at all",
            "onboarding was smooth and the welcome email was clear",
            "account setup was not bad at all",
        ),
        "confusion": (
            "the setup wizard is {b}confusing, which plan am I on?",
            "I don't get what the verification step wants from me",
            "not sure if my account is active yet",
        ),
        "anger": (
            "locked out of my new account on day one, unacceptable",
            "your sign-up process is a disgrace",
        ),
        "joy": ("the welcome call with {agent} was {b}lovely", "onboarding was a delight 😍"),
        "fear": ("worried I gave my ID to the wrong site during sign-up",),
        "anticipation": (
            "can't wait to get started once setup is done",
            "excited to start using my new account",
        ),
        "trust": ("{agent} walked me through setup, felt in good hands",),
        "surprise": ("setup was done before I finished my café au lait",),
        "neutral": ("signed up on {weekday}", "created my account, waiting for the confirmation email"),
    },
    "checkout": {
        "frustration": (
            "the checkout kept failing",
            "the payment page froze {times} times",
            "couldn't apply my discount code at checkout",
            "checkout logged me out and emptied my cart",
        ),
        "satisfaction": (
            "checkout was quick and easy",
            "paid in seconds with no problems",
            "the new one-click checkout is not bad",
        ),
        "confusion": (
            "the total at checkout didn't match the cart, why?",
            "not sure if my payment went through",
        ),
        "anger": ("charged me twice at checkout!", "checkout crashed and still took my money"),
        "joy": ("checkout was {b}fast, love it",),
        "fear": ("the payment page looked sketchy, I'm worried about my card details",),
        "disgust": ("hidden fees at checkout, shady",),
        "surprise": ("didn't expect free shipping at checkout",),
        "neutral": ("ordered a {item}", "paid by card", "used PayPal at checkout"),
    },
    "delivery": {
        "frustration": (
            "the parcel was {days} days late",
            "the courier said delivered but nothing arrived",
            "the delivery window was 8am-6pm and nobody came",
            "tracking hasn't updated in {days} days",
        ),
        "satisfaction": (
            "fast delivery",
            "delivered a day early and well packed",
            "the driver was polite and on time",
        ),
        "anger": ("the driver threw my {item} over the fence", "{days} days late and no apology"),
        "joy": ("my {item} arrived early and looks {b}gorgeous", "fast delivery, so happy"),
        "sadness": ("the {item} arrived broken, it was a gift",),
        "disgust": ("the box arrived soaked and smelled awful",),
        "surprise": ("arrived the next morning, wow",),
        "fear": ("worried the parcel was stolen from the doorstep",),
        "neutral": ("parcel arrived on {weekday}", "delivered to the neighbour"),
    },
    "billing": {
        "frustration": (
            "I've been billed for a plan I cancelled",
            "the invoice is wrong again",
            "still waiting for the credit note after {weeks} weeks",
        ),
        "satisfaction": (
            "billing is clear and simple",
            "the invoice was correct, no surprises",
        ),
        "confusion": (
            "I don't understand the charges on my bill",
            "what is the {amount} fee on my invoice?",
        ),
        "anger": ("you took {amount} without asking", "stop charging my card!!", "double charged AGAIN"),
        "fear": (
            "scared to check my bank statement after last month",
            "worried about an unexpected {amount} charge",
        ),
        "trust": ("transparent pricing, I know exactly what I pay",),
        "surprise": ("unexpected {amount} refund on my bill",),
        "neutral": ("invoice received", "paid my bill", "updated my billing address"),
    },
    "support": {
        "frustration": (
            "waited {min} minutes on hold",
            "I explained my issue {times} times to different agents",
            "the chat bot kept sending me in circles",
            "nobody replied to my email for {days} days",
        ),
        "satisfaction": (
            "{agent} sorted it out in one call",
            "support was quick and friendly",
            "problem solved, no issues",
        ),
        "anger": ("hung up on after {min} minutes on hold", "your agent was rude and useless"),
        "joy": ("{agent} was {b}amazing, thank you",),
        "trust": (
            "{agent} followed up exactly as promised",
            "I know support will sort it out, they always do",
        ),
        "confusion": ("the agent told me one thing and the email said another",),
        "sadness": ("nobody seems to care anymore",),
        "neutral": ("called support about my account", "opened a ticket", "chatted with {agent}"),
    },
    "returns": {
        "frustration": (
            "the refund took {weeks} weeks",
            "the return label didn't work",
            "still no refund after {days} days",
        ),
        "satisfaction": (
            "refund arrived within {days} days",
            "returns were easy, printed the label at home",
        ),
        "anger": ("refused my return for no reason", "you lost my return and won't refund me"),
        "disgust": ("they sent me a used {item}, gross",),
        "sadness": ("had to return the {item}, sad because I really wanted it",),
        "confusion": ("how do I return just one item?",),
        "neutral": ("returned the {item}", "sent the parcel back"),
    },
    "app": {
        "frustration": (
            "the app keeps crashing",
            "can't log in since the update",
            "the app is {b}slow and freezes at login",
        ),
        "satisfaction": ("the app works fine, no complaints", "the new app update is not bad"),
        "confusion": (
            "where did the orders tab go in the new app?",
            "the app says my order is cancelled but the email confirms it",
        ),
        "anger": ("the update broke everything, UNINSTALLING", "this app is garbage"),
        "joy": ("the new app is {b}beautiful", "love the dark mode"),
        "anticipation": ("can't wait for the Android widget",),
        "surprise": ("didn't know the app could track my parcel live",),
        "neutral": ("updated the app", "using the app on my iPhone"),
    },
}

_OPENERS = (
    "", "", "", "", "", "", "", "", "", "", "Hi, ", "Hello, ", "Honestly, ", "Ok so ", "Update: ",
    "Well, ", "FYI: ", "Quick feedback: ", "Re: my order - ", "Hey team, ",
)  # fmt: skip
# Sentence ends per latent emotion; "" leaves the text unpunctuated.
_ENDS: dict[str, tuple[str, ...]] = {
    "frustration": (".", ".", "", "!", "...", "!!"),
    "satisfaction": (".", ".", "", "!", " :)"),
    "confusion": ("?", "", ".", "??", "..."),
    "anger": ("!!!", "!", "!", ".", "!!", "!!!!"),
    "joy": ("!", "!!", ".", "!!!", "", " :D"),
    "fear": (".", "", "...", "."),
    "sadness": (".", "", "...", " :("),
    "surprise": ("!", ".", "", "!?"),
    "trust": (".", ".", "", "!"),
    "anticipation": ("!", ".", ""),
    "disgust": (".", "!", "", "!!"),
    "neutral": (".", "", ".", ""),
}
_EMOJI: dict[str, tuple[str, ...]] = {
    "frustration": (" 😤", " 🙄", " 😩", " 😤😤"),
    "satisfaction": (" 🙂", " 👍", " 👌", " 😊"),
    "confusion": (" 🤔", " 😕", " 🤷"),
    "anger": (" 😡", " 🤬", " 😡😡😡", " 👎"),
    "joy": (" 😍", " 🥳", " ❤️", " 😀", " 👍👍"),
    "fear": (" 😬", " 😟", " 😰"),
    "sadness": (" 😢", " 😞", " 💔"),
    "surprise": (" 😮", " 😲", " 🤯"),
    "trust": (" 👍", " 🤝", " 🙏"),
    "anticipation": (" 🤞", " 👀", " 🙌"),
    "disgust": (" 🤢", " 🤮", " 👎"),
    "neutral": (" 👌", " 📦", " 🙂"),
}
_SHORT: dict[int, tuple[str, ...]] = {  # by sign of the latent valence
    1: ("👍", "great", "Good", "10/10", "love it", "thx!", "perfect", "😍"),
    -1: ("bad", "meh", "😡", "terrible", "no", "ugh", "awful", "👎"),
    0: ("", "ok", "n/a", ".", "-", "fine", "k", "none"),
}

# Valence of each latent emotion: drives nps / rating / effort / events and the text's polarity.
_VALENCE = np.array(
    [-0.75, 0.75, -0.3, -0.95, 0.95, -0.45, -0.6, 0.3, 0.65, 0.35, -0.85, 0.0]
)  # in LATENTS order
_BASE_MIX = np.array([0.13, 0.17, 0.06, 0.05, 0.10, 0.03, 0.03, 0.04, 0.07, 0.05, 0.02, 0.25])
_TOUCHPOINT_TILT: dict[str, dict[str, float]] = {
    "onboarding": {"confusion": 2.5, "anticipation": 1.8},
    "checkout": {"frustration": 1.3},
    "delivery": {"frustration": 1.5, "anger": 1.3, "joy": 1.1},
    "billing": {"anger": 1.6, "confusion": 1.8, "fear": 1.5, "satisfaction": 0.7},
    "support": {"frustration": 1.6, "trust": 1.3},
    "returns": {"frustration": 1.4, "disgust": 1.5, "sadness": 1.3},
    "app": {"confusion": 1.5, "frustration": 1.3, "joy": 1.2},
}
_TOUCHPOINT_MIX = np.array([0.10, 0.18, 0.22, 0.12, 0.16, 0.10, 0.12])
# source given "touchpoint is support" (row 1) or not (row 0): review, survey, support
_SOURCE_MIX = np.array([[0.45, 0.40, 0.15], [0.05, 0.25, 0.70]])
# channel given source: web, app, email, phone, chat
_CHANNEL_MIX = np.array(
    [[0.55, 0.45, 0.0, 0.0, 0.0], [0.25, 0.15, 0.60, 0.0, 0.0], [0.0, 0.05, 0.25, 0.30, 0.40]]
)
# median seconds to the first reply per channel (support only)
_FIRST_RESPONSE_MEDIAN = np.array([3600.0, 1800.0, 4 * 3600.0, 240.0, 90.0])
# share of rows of each source that carry nps / rating / effort
_HAS_NPS = np.array([0.0, 0.95, 0.30])
_HAS_RATING = np.array([1.0, 0.60, 0.70])
_HAS_EFFORT = np.array([0.0, 0.50, 0.80])
_MISMATCH = 0.04  # share of rows whose structured scores contradict the text
_SHORT_TEXT = 0.02
_NULL_TEXT_SURVEY = 0.03

_SLOT_RE = re.compile(r"\{(\w+)\}")
_N_UNIFORM = 30
_N_NORMAL = 5


@functools.cache
def _bank() -> dict:
    """Compile the phrase banks into flat Arrow arrays and NumPy index tables (once per process)."""
    slot_names = ["", *_SLOTS, *(f"thing_{tp}" for tp in TOUCHPOINTS)]
    slot_values = [("",), *_SLOTS.values(), *(_THINGS[tp] for tp in TOUCHPOINTS)]
    slot_id = {name: i for i, name in enumerate(slot_names)}
    slot_count = np.array([len(v) for v in slot_values])
    slot_start = np.concatenate([[0], np.cumsum(slot_count)[:-1]])

    templates: list[str] = []
    cells: list[list[int]] = []  # per (latent, touchpoint) cell: template ids
    for latent in LATENTS:
        for tp in TOUCHPOINTS:
            ids = []
            for text in _SPECIFIC[tp].get(latent, ()) + _GENERIC[latent]:
                ids.append(len(templates))
                templates.append(text.replace("{thing}", "{thing_" + tp + "}"))
            cells.append(ids)
    n_slots = max(len(_SLOT_RE.findall(t)) for t in templates)
    segments: list[list[str]] = [[] for _ in range(n_slots + 1)]
    slot_types = np.zeros((len(templates), n_slots), np.int64)
    for t, text in enumerate(templates):
        parts = _SLOT_RE.split(text)  # literal, slot, literal, slot, ..., literal
        literals, slots = parts[0::2], parts[1::2]
        for k in range(n_slots + 1):
            segments[k].append(literals[k] if k < len(literals) else "")
        for k, name in enumerate(slots):
            slot_types[t, k] = slot_id[name]

    def table(groups):  # flat values (plus a final "") + start/count per group
        counts = np.array([len(g) for g in groups])
        return (
            pa.array([v for g in groups for v in g] + [""], pa.string()),
            np.concatenate([[0], np.cumsum(counts)[:-1]]),
            counts,
        )

    mix = np.empty((len(TOUCHPOINTS), len(LATENTS)))
    for i, tp in enumerate(TOUCHPOINTS):
        tilt = np.array([_TOUCHPOINT_TILT[tp].get(name, 1.0) for name in LATENTS])
        mix[i] = _BASE_MIX * tilt / (_BASE_MIX * tilt).sum()
    polarity = np.sign(_VALENCE).astype(np.int64)
    return {
        "segments": [pa.array(s, pa.string()) for s in segments],
        "slot_types": slot_types,
        "slot_values": pa.array([v for vals in slot_values for v in vals], pa.string()),
        "slot_start": slot_start,
        "slot_count": slot_count,
        "closed": np.array([t.rstrip().endswith(("?", "!")) for t in templates]),
        "cell_ids": np.array([t for ids in cells for t in ids], np.int64),
        "cell_start": np.concatenate([[0], np.cumsum([len(c) for c in cells])[:-1]]),
        "cell_count": np.array([len(c) for c in cells]),
        "ends": table([_ENDS[name] for name in LATENTS]),
        "emoji": table([_EMOJI[name] for name in LATENTS]),
        "short": table([_SHORT[-1], _SHORT[0], _SHORT[1]]),
        "openers": pa.array(_OPENERS, pa.string()),
        "latent_cum": np.cumsum(mix, axis=1),
        "polarity": polarity,
        "positive": np.flatnonzero(polarity > 0),
        "negative": np.flatnonzero(polarity < 0),
    }


def _pick(u: np.ndarray, start: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """Index ``start + floor(u * count)`` elementwise (u in [0, 1))."""
    return start + np.minimum((u * count).astype(np.int64), count - 1)


def _choice(u: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Categorical draw: the first category whose cumulative probability exceeds ``u``."""
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[-1] - 1)


def _fill(bank: dict, tids: np.ndarray, u: np.ndarray) -> pa.Array:
    """Fill template ``tids[i]``'s slots with values drawn by ``u[k, i]``: one string per row."""
    idx = pa.array(tids)
    pieces = [bank["segments"][0].take(idx)]
    for k in range(bank["slot_types"].shape[1]):
        kind = bank["slot_types"][tids, k]
        pick = _pick(u[k], bank["slot_start"][kind], bank["slot_count"][kind])
        pieces.append(bank["slot_values"].take(pa.array(pick)))
        pieces.append(bank["segments"][k + 1].take(idx))
    return pc.binary_join_element_wise(*pieces, "")


def _capitalize(text: pa.Array, mask: np.ndarray) -> pa.Array:
    """Upper-case the first byte of the rows in ``mask`` when it is an ASCII letter a-z.

    Works on the UTF-8 buffer directly (a copy of it): every template and opener starts with an
    ASCII character, so no multi-byte letter ever needs it.
    """
    text = pc.binary_join_element_wise(text, "", "") if text.offset else text  # offset 0 buffers
    validity, offsets_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, len(text) + 1)
    data = np.frombuffer(data_buf, np.uint8, offsets[-1]).copy()
    at = offsets[:-1][mask & (offsets[1:] > offsets[:-1])]
    lower = (data[at] >= 0x61) & (data[at] <= 0x7A)
    data[at[lower]] -= 0x20
    return pa.StringArray.from_buffers(
        len(text), pa.py_buffer(offsets.copy()), pa.py_buffer(data), validity
    )


def _upper(text: pa.Array, mask: np.ndarray) -> pa.Array:
    """Upper-case the whole text of the rows in ``mask`` (only those rows are converted)."""
    if not mask.any():
        return text
    return pc.replace_with_mask(text, pa.array(mask), pc.utf8_upper(text.filter(pa.array(mask))))


def _strings(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(codes))


def _nullable(values: np.ndarray, present: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.array(values, kind, mask=~present)


class _Plan:
    """Rows of the planted repeatedly-frustrated customers (global, sorted by row; small)."""

    def __init__(self, n: int, seed: int, pool: int) -> None:
        rng = _rng(seed, 0)
        customers = n // 300 if n >= 100 else 0
        window = max(1, int(n * _EPISODE_DAYS / 90))
        per = rng.integers(3, 7, size=customers)
        # occasional customers (the light half of the skewed pool), so the episode stands out
        half = pool // 2
        who = half + rng.choice(pool - half, size=customers, replace=False) if customers else np.zeros(0, np.int64)
        issue = rng.choice([1, 2, 3, 4, 5, 6], size=customers)  # touchpoints other than onboarding
        base = rng.integers(0, max(1, n - window), size=customers)
        row_parts, cust, tps = [], [], []
        for k in range(customers):  # n / 300 customers: ~0.3 s for 10M rows
            offsets = np.sort(rng.choice(window, size=min(per[k], window), replace=False))
            row_parts.append(base[k] + offsets)
            cust.append(np.full(len(offsets), who[k]))
            tps.append(np.full(len(offsets), issue[k]))
        rows = np.concatenate(row_parts) if row_parts else np.zeros(0, np.int64)
        order = np.argsort(rows, kind="stable")
        rows, first = np.unique(rows[order], return_index=True)
        self.rows = rows
        self.customer = np.concatenate(cust)[order][first] if customers else rows
        self.touchpoint = np.concatenate(tps)[order][first] if customers else rows
        u = rng.random((2, len(rows)))
        frustration, anger = LATENTS.index("frustration"), LATENTS.index("anger")
        self.latent = np.where(u[0] < 0.7, frustration, anger)
        self.source = np.where(u[1] < 0.55, 2, np.where(u[1] < 0.8, 0, 1))


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _pool_size(n: int) -> int:
    return max(20, n // 5)


def _block(n: int, seed: int, block: int, plan: _Plan, labels: bool) -> pa.RecordBatch:
    bank = _bank()
    lo, hi = block * _BLOCK, min(n, (block + 1) * _BLOCK)
    m = hi - lo
    rng = _rng(seed, 1, block)
    u = rng.random((_N_UNIFORM, m), dtype=np.float32)
    z = rng.standard_normal((_N_NORMAL, m))
    row = np.arange(lo, hi, dtype=np.int64)

    ts = _START + np.floor((row + u[0]) * (_SPAN_S / n)).astype(np.int64)
    touchpoint = _choice(u[1], np.cumsum(_TOUCHPOINT_MIX))
    latent = _choice(u[2], bank["latent_cum"][touchpoint])
    pool = _pool_size(n)
    customer = np.minimum((pool * u[3] ** 1.6).astype(np.int64), pool - 1)
    source = _choice(u[4], np.cumsum(_SOURCE_MIX, axis=1)[(touchpoint == 4).astype(np.int64)])

    a, b = np.searchsorted(plan.rows, [lo, hi])
    at = plan.rows[a:b] - lo
    customer[at] = plan.customer[a:b]
    touchpoint[at] = plan.touchpoint[a:b]
    latent[at] = plan.latent[a:b]
    source[at] = plan.source[a:b]
    channel = _choice(u[5], np.cumsum(_CHANNEL_MIX, axis=1)[source])

    # Structured scores around the latent valence; a few rows deliberately contradict their text.
    valence = _VALENCE[latent]
    mismatch = (u[6] < _MISMATCH) & (valence != 0)
    felt = np.where(mismatch, -0.9 * valence, valence)
    nps = np.clip(np.rint(6.5 + 3.8 * felt + 1.3 * z[0]), 0, 10).astype(np.int8)
    rating = np.clip(np.rint(3.1 + 2.0 * felt + 0.7 * z[1]), 1, 5).astype(np.int8)
    effort = np.clip(np.rint(3.6 - 2.4 * felt + 1.0 * z[2]), 1, 7).astype(np.int8)
    is_support = source == 2
    slow = np.where(valence < 0, 2.5, 0.8)
    first_response = np.round(_FIRST_RESPONSE_MEDIAN[channel] * slow * np.exp(1.0 * z[3]), 1)

    # Events: churn follows negative latents, renewals and expansions positive ones.
    neg, pos = valence < 0, valence > 0
    p_churn = np.where(neg, 0.02 + 0.09 * -valence, np.where(pos, 0.003, 0.01))
    p_renew = np.where(pos, 0.05, np.where(neg, 0.01, 0.03))
    p_upsell = np.where(pos, 0.035, 0.005)
    p_cross = np.where(pos, 0.02, 0.003)
    cum = np.cumsum(np.stack([p_churn, p_renew, p_upsell, p_cross]), axis=0)
    event = (u[7][None, :] >= cum).sum(axis=0)  # 4 = no event
    has_event = event < 4
    contract = np.array([420.0, 480.0, 150.0, 70.0])[np.minimum(event, 3)]
    order_value = 55.0 * np.exp(0.8 * z[4])
    revenue = np.where(has_event, contract * np.exp(0.6 * z[4]), 0.0)
    orders = np.isin(touchpoint, [1, 2, 3]) & ~has_event
    revenue = np.where(orders, order_value, revenue)
    revenue = np.where((touchpoint == 5) & ~has_event, -order_value, revenue)
    revenue = np.round(revenue, 2) + 0.0

    text = _compose(bank, latent, touchpoint, source, u[12:])

    customer_id = (customer * _coprime(pool) + 7) % pool
    width = max(6, len(str(pool - 1)))
    customer_str = pc.binary_join_element_wise(
        "C", pc.utf8_lpad(pc.cast(pa.array(customer_id), pa.string()), width, "0"), ""
    )
    columns = [
        pa.array(row + 1),
        pa.array(ts, pa.timestamp("s", tz="UTC")),
        customer_str,
        _strings(TOUCHPOINTS, touchpoint),
        _strings(CHANNELS, channel),
        _strings(SOURCES, source),
        text,
        _nullable(nps, u[9] < _HAS_NPS[source], pa.int8()),
        _nullable(rating, u[10] < _HAS_RATING[source], pa.int8()),
        _nullable(effort, u[11] < _HAS_EFFORT[source], pa.int8()),
        _nullable(first_response, is_support, pa.float64()),
        _nullable(np.minimum(event, 3), has_event, pa.int64()),
        pa.array(revenue),
    ]
    columns[11] = pa.array(EVENTS, pa.string()).take(columns[11])
    schema = SCHEMA
    if labels:
        columns.append(_strings(LATENTS, latent))
        schema = schema.append(LABEL_FIELD)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _coprime(pool: int) -> int:
    mult = 2654435761 % pool
    while math.gcd(mult, pool) != 1 or mult < 2:
        mult = (mult + 1) % pool
        if pool <= 2:
            return 1
    return mult


def _compose(bank: dict, latent, touchpoint, source, u: np.ndarray) -> pa.Array:
    """Assemble one text per row from the phrase banks (``u``: 18 rows of uniforms)."""
    m = len(latent)
    cell = latent * len(TOUCHPOINTS) + touchpoint
    start, count = bank["cell_start"][cell], bank["cell_count"][cell]
    offset = np.minimum((u[0] * count).astype(np.int64), count - 1)
    main = bank["cell_ids"][start + offset]
    # a second clause of the same cell, different from the first where the cell has two or more
    step = 1 + np.minimum((u[4] * (count - 1)).astype(np.int64), np.maximum(count - 2, 0))
    again = bank["cell_ids"][start + (offset + step) % count]

    # Contrast: a clause of the opposite polarity, about this touchpoint or another one, then "but".
    polarity = bank["polarity"][latent]
    opposite_pool = np.where(polarity < 0, 0, 1)
    pos, negs = bank["positive"], bank["negative"]
    opposite = np.where(
        opposite_pool == 0,
        pos[np.minimum((u[5] * len(pos)).astype(np.int64), len(pos) - 1)],
        negs[np.minimum((u[5] * len(negs)).astype(np.int64), len(negs) - 1)],
    )
    other_tp = np.where(u[6] < 0.5, touchpoint, np.minimum((u[6] * 2 - 1) * 7, 6).astype(np.int64))
    ocell = opposite * len(TOUCHPOINTS) + other_tp
    contra = bank["cell_ids"][_pick(u[7], bank["cell_start"][ocell], bank["cell_count"][ocell])]

    shape = np.select(  # 0 one clause, 1 two sentences, 2 "and", 3 contrast
        [u[8] < 0.50, u[8] < 0.68, u[8] < 0.78], [0, 1, 2], default=np.where(polarity != 0, 3, 1)
    )
    contrast = shape == 3
    first_tid = np.where(contrast, contra, main)
    second_tid = np.where(contrast, main, again)
    slot_u = u[9:12]
    first = _fill(bank, first_tid, slot_u)
    second = _fill(bank, second_tid, 1.0 - slot_u[::-1])

    # ALL CAPS on the main clause for some angry, frustrated or delighted writers.
    caps_p = np.select([latent == 3, latent == 0, latent == 4, latent == 10], [0.25, 0.08, 0.05, 0.08], 0.01)
    caps = u[12] < caps_p
    first = _upper(first, caps & ~contrast)
    second = _upper(second, caps & contrast)

    # A clause that ends in "?" or "!" already ends its sentence: the next one starts a new sentence,
    # and a text that ends with it gets no extra punctuation.
    closed = bank["closed"]
    shape = np.where(closed[first_tid] & (shape > 0), 1, shape)
    joiner_id = np.where(closed[first_tid] & (shape == 1), 4, shape)
    joiner_id = np.where(contrast & (u[15] < 0.3), 5, joiner_id)
    joiners = pa.array(["", ". ", " and ", " but ", " ", ", but "], pa.string())
    opener = bank["openers"].take(pa.array(_pick(u[13], np.zeros(m, np.int64), len(_OPENERS))))
    second = _capitalize(second, shape == 1)
    second = pc.if_else(pa.array(shape == 0), "", second)
    last_tid = np.where(shape == 0, first_tid, second_tid)
    ends, e_start, e_count = bank["ends"]
    end_pick = _pick(u[16], e_start[latent], e_count[latent])
    end = ends.take(pa.array(np.where(closed[last_tid], len(ends) - 1, end_pick)))  # the final "" entry
    emoji, m_start, m_count = bank["emoji"]
    emo = emoji.take(pa.array(np.where(u[1] < 0.15, _pick(u[17], m_start[latent], m_count[latent]), len(emoji) - 1)))
    text = pc.binary_join_element_wise(opener, first, joiners.take(pa.array(joiner_id)), second, end, emo, "")
    text = _capitalize(text, u[14] > 0.12)  # 12% type in lower case

    # Occasional very short or empty answers, and survey answers without a comment.
    short, s_start, s_count = bank["short"]
    tiny = short.take(pa.array(_pick(u[2], s_start[polarity + 1], s_count[polarity + 1])))
    text = pc.if_else(pa.array(u[3] < _SHORT_TEXT), tiny, text)
    no_comment = (source == 1) & (u[3] > 1.0 - _NULL_TEXT_SURVEY)
    return pc.if_else(pa.array(no_comment), pa.scalar(None, pa.string()), text)


def iter_batches(
    n: int, *, seed: int = 0, batch_size: int = 100_000, labels: bool = False
) -> Iterator[pa.RecordBatch]:
    """Stream the rows of :func:`generate` as record batches in bounded memory.

    Parameters
    ----------
    n : int
        Number of rows (>= 0).
    seed : int
        Random seed (>= 0); the same ``n`` and ``seed`` give the same rows on every machine.
    batch_size : int
        Rows per batch (the last one may be shorter); it never changes the rows themselves.
    labels : bool
        Append a ``latent_emotion`` column holding the emotion that drove each row (for
        evaluations; it is not part of :data:`SCHEMA`).

    Yields
    ------
    pyarrow.RecordBatch
        Batches with schema :data:`SCHEMA` (plus ``latent_emotion`` when ``labels``).
    """
    n, seed, batch_size = int(n), int(seed), int(batch_size)
    if n < 0 or seed < 0 or batch_size < 1:
        raise ValueError(f"need n >= 0, seed >= 0 and batch_size >= 1; got {n=}, {seed=}, {batch_size=}")
    plan = _Plan(n, seed, _pool_size(n))
    pending: list[pa.RecordBatch] = []
    held = 0
    for block in range(-(-n // _BLOCK)):
        pending.append(_block(n, seed, block, plan, labels))
        held += pending[-1].num_rows
        last = block == -(-n // _BLOCK) - 1
        while held >= batch_size or (last and held):
            merged = pa.Table.from_batches(pending).combine_chunks()
            take = min(batch_size, held)
            yield from merged.slice(0, take).to_batches()
            rest = merged.slice(take)
            pending = rest.to_batches() if rest.num_rows else []
            held = rest.num_rows


def generate(n: int, *, seed: int = 0, labels: bool = False) -> pa.Table:
    """Generate ``n`` rows of customer feedback; see the module docstring for the columns.

    Parameters
    ----------
    n : int
        Number of rows (>= 0).
    seed : int
        Random seed (>= 0).
    labels : bool
        Append the ``latent_emotion`` column (see :func:`iter_batches`).

    Returns
    -------
    pyarrow.Table
        Schema :data:`SCHEMA`; identical to the concatenation of :func:`iter_batches` for the same
        ``n`` and ``seed`` at any ``batch_size``.
    """
    schema = SCHEMA.append(LABEL_FIELD) if labels else SCHEMA
    batches = list(iter_batches(n, seed=seed, batch_size=_BLOCK, labels=labels))
    return pa.Table.from_batches(batches, schema=schema)


# -------------------------------------------------------------------------------------------------
# JSONL: one object per line with every column as a key; nulls written as null; ts as
# "YYYY-MM-DDTHH:MM:SSZ".
# -------------------------------------------------------------------------------------------------
def _jsonl_lines(batch: pa.RecordBatch) -> bytes:
    names = batch.schema.names
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.strftime(column, "%Y-%m-%dT%H:%M:%SZ")
        columns.append(column.to_pylist())
    dumps = orjson.dumps
    return b"".join(dumps(dict(zip(names, values, strict=True))) + b"\n" for values in zip(*columns, strict=True))


def write_jsonl(batches, out: SupportsWrite[bytes]) -> int:
    """Write record batches (or a Table) to the binary stream ``out`` as JSONL; return the row count."""
    if isinstance(batches, pa.Table):
        batches = batches.to_batches(max_chunksize=_BLOCK)
    rows = 0
    for batch in batches:
        out.write(_jsonl_lines(batch))
        rows += batch.num_rows
    return rows


def bundled_sample_path():
    """Path of the bundled sample (``generate(SAMPLE_N, seed=SAMPLE_SEED)`` as JSONL).

    Returns
    -------
    importlib.resources.abc.Traversable
        A path-like resource; inside an installed package it is a real ``pathlib.Path``.
    """
    return resources.files("emoscore").joinpath("data", "sample.jsonl")


def main(argv: list[str] | None = None) -> int:
    """``python -m emoscore.sample [--n N] [--seed S]``: generated feedback as JSONL on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m emoscore.sample",
        description="Write seeded, generated customer feedback to stdout as JSONL.",
    )
    parser.add_argument("--n", type=int, default=SAMPLE_N, help=f"rows (default {SAMPLE_N})")
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED, help=f"seed (default {SAMPLE_SEED})")
    args = parser.parse_args(argv)
    if args.n < 0 or args.seed < 0:
        parser.error("--n and --seed must be >= 0")
    try:
        write_jsonl(iter_batches(args.n, seed=args.seed, batch_size=_BLOCK), sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
