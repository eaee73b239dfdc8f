"""One entry of an emotion lexicon: a term, its valence, emotion weights and rule role.

:class:`Entry` is the value that the text format (:mod:`.model`) and the loaders of other formats
(:mod:`.loaders`) make; it checks its own fields when made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ..errors import LexiconError
from ._terms import BadValue, check_emotion_name, finite, format_number

__all__ = ["Entry", "EntryError"]

ROLES = ("negator", "booster", "dampener", "contrast", "expectation")
MAX_VALENCE = 4.0
MAX_BOOSTER = 4.0
MAX_DAMPENER = 1.0


class EntryError(LexiconError):
    """An invalid :class:`Entry`; ``detail`` is the message without the entry's name."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Entry:
    """One lexicon entry.

    Parameters
    ----------
    term : str
        A word, an emoji, a multi-word expression (words separated by single spaces) or a wildcard
        stem ending in ``*``.
    valence : float or None
        Valence on VADER's -4..4 scale; ``None`` (written ``-``) means "not given" and compiles to 0.
    emotions : mapping or iterable of (name, weight) pairs
        Emotion weights in [0, 1]; stored as a tuple of pairs in the given order.
    role : {None, "negator", "booster", "dampener", "contrast", "expectation"}
        The rule role; a term with a role does not score itself (valence 0 or None, no weights).
    strength : float or None
        The relative change of a ``booster`` (0 < X <= 4) or ``dampener`` (0 < X <= 1).
    """

    term: str
    valence: float | None = None
    emotions: tuple[tuple[str, float], ...] = ()
    role: str | None = None
    strength: float | None = None

    if TYPE_CHECKING:
        # What the generated __init__ accepts: ``emotions`` as a mapping or any iterable of pairs
        # (__post_init__ stores them as a tuple of pairs).
        def __init__(
            self,
            term: str,
            valence: float | None = None,
            emotions: Mapping[str, float] | Iterable[tuple[str, float]] = (),
            role: str | None = None,
            strength: float | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        try:
            self._validate()
        except BadValue as exc:
            raise EntryError(f"entry {self.term!r}: {exc}", str(exc)) from None

    def _validate(self) -> None:
        if not isinstance(self.term, str):
            raise BadValue(f"the term is not a string ({self.term!r})")
        if self.valence is not None:
            valence = finite(self.valence, "valence")
            if not -MAX_VALENCE <= valence <= MAX_VALENCE:
                raise BadValue(f"valence is outside -4..4 ({self.valence!r})")
            object.__setattr__(self, "valence", valence)
        pairs = self.emotions.items() if isinstance(self.emotions, Mapping) else self.emotions
        weights = []
        seen = set()
        for pair in pairs:
            if isinstance(pair, str) or len(pair) != 2:
                raise BadValue(f"an emotion weight is a (name, weight) pair ({pair!r})")
            name, weight = pair
            check_emotion_name(name)
            if name in seen:
                raise BadValue(f"emotion given twice ({name!r})")
            seen.add(name)
            weight = finite(weight, f"the weight of {name!r}")
            if not 0.0 <= weight <= 1.0:
                raise BadValue(f"emotion weight is outside [0, 1] ({name}={pair[1]!r})")
            weights.append((name, weight))
        object.__setattr__(self, "emotions", tuple(weights))
        if self.role is None:
            if self.strength is not None:
                raise BadValue(f"a strength needs the role booster or dampener ({self.strength!r})")
            return
        if self.role not in ROLES:
            raise BadValue(f"unknown role, expected one of {', '.join(ROLES)} ({self.role!r})")
        if self.role in ("booster", "dampener"):
            limit = MAX_BOOSTER if self.role == "booster" else MAX_DAMPENER
            strength = finite(self.strength, f"{self.role} strength")
            if not 0.0 < strength <= limit:
                raise BadValue(f"{self.role} strength is outside (0, {format_number(limit)}] ({self.strength!r})")
            object.__setattr__(self, "strength", strength)
        elif self.strength is not None:
            raise BadValue(f"the role {self.role} takes no strength ({self.strength!r})")
        if self.valence or any(weight for _, weight in weights):
            raise BadValue(
                f"a {self.role} does not score itself: valence and emotions must be '-' ({self.term!r})"
            )

    @property
    def kind(self) -> str:
        """``"word"`` (emoji included), ``"stem"`` or ``"mwe"``."""
        if " " in self.term:
            return "mwe"
        return "stem" if self.term.endswith("*") else "word"

    @property
    def modifier(self) -> float:
        """The compiled modifier: +strength for a booster, -strength for a dampener, else 0."""
        strength = cast(float, self.strength)  # validated: a booster or a dampener has one
        if self.role == "booster":
            return float(strength)
        if self.role == "dampener":
            return -float(strength)
        return 0.0

    def weight(self, emotion: str) -> float:
        """The weight of ``emotion`` (0 when not given)."""
        for name, weight in self.emotions:
            if name == emotion:
                return weight
        return 0.0

    def to_line(self) -> str:
        """The entry as one line of the text format (without the line break)."""
        valence = "-" if self.valence is None else format_number(self.valence)
        emotions = ",".join(f"{name}={format_number(w)}" for name, w in self.emotions) or "-"
        if self.role is None:
            role = "-"
        elif self.role in ("booster", "dampener"):
            role = f"{self.role}={format_number(cast(float, self.strength))}"
        else:
            role = self.role
        return f"{self.term}\t{valence}\t{emotions}\t{role}"
