"""The paste options, typed: the one list of the keys ``paste_args`` may hold, per paste mode.

``BankPasteArgs`` (the memory bank, :class:`lt_data.training.paste.MemoryBankPaste`) and ``CutmixPasteArgs``
(tail cutmix, :class:`lt_data.training.paste.TailCutmixPaste`) are frozen dataclasses. A field left ``None``
is unset: the dose keys (``DOSE_KEYS``) are then derived from the data (:mod:`lt_data.training.paste.dose`),
the others take the planner's default. Their fields drive the ``--set paste_args`` help, the one-line
error for a mistyped key, the resolved dose (``Dose.paste``, written to a run's config.json) and the
planner's keyword arguments; ``tail`` (the classes to paste; default: the tail bucket) is a field like
the others. Imports nothing heavy: the CLI's help and the config read it.

>>> args = BankPasteArgs.from_dict({"resize_ratio": [0.5, 1.0], "tail": [9, 10]})
>>> args.resize_ratio, args.tail
((0.5, 1.0), (9, 10))
>>> args.given()
{'resize_ratio': (0.5, 1.0)}
>>> CutmixPasteArgs.from_dict({"probability": 1})
Traceback (most recent call last):
...
lt_data.core.errors.LtDataError: cutmix paste options {'probability': 1}: unknown 'probability'; the cutmix planner takes prob, levels, per_image, tail
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ...core.errors import LtDataError

# a field with {"user": False} is for Python callers only (not JSON, not in the help): the bank's prior
_PYTHON_ONLY = {"user": False}


@dataclass(frozen=True)
class PasteArgs:
    """The options of one paste mode (a subclass per mode); ``None`` = unset."""

    mode: ClassVar[str]
    DOSE_KEYS: ClassVar[tuple[str, ...]]  # derived from the data when unset
    tail: tuple[int, ...] | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a user may give (``paste_args``), tail last."""
        names = [f.name for f in dataclasses.fields(cls) if f.metadata.get("user", True) and f.name != "tail"]
        return (*names, "tail")

    @classmethod
    def planner_keys(cls) -> tuple[str, ...]:
        """The planner's keyword arguments after its store and tail (the Python-only ones included)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "tail")

    @classmethod
    def help(cls) -> str:
        """``key, key (a | b), ...``: the keys, with a Literal field's values."""
        hints = typing.get_type_hints(cls)
        out = []
        for k in cls.keys():
            values = [a for a in typing.get_args(hints[k]) if typing.get_origin(a) is Literal]
            out.append(f"{k} ({' | '.join(typing.get_args(values[0]))})" if values else k)
        return ", ".join(out)

    @classmethod
    def from_dict(cls, options: dict | PasteArgs | None) -> PasteArgs:
        """The options of a ``paste_args`` mapping (JSON lists become tuples); a key the planner does not
        take is one LtDataError naming the valid keys."""
        if isinstance(options, cls):
            return options
        if isinstance(options, PasteArgs):
            raise LtDataError(f"{cls.mode} paste options: got the {options.mode} options {options}")
        options = dict(options or {})
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in options if k not in allowed]
        if unknown:
            shown = {k: v for k, v in options.items() if k != "prior"}
            raise LtDataError(f"{cls.mode} paste options {shown}: unknown {', '.join(map(repr, unknown))}; the "
                              f"{cls.mode} planner takes {', '.join(cls.keys())}")
        for k, v in options.items():
            if isinstance(v, list):
                options[k] = tuple(v)
        if options.get("tail") is not None:
            options["tail"] = tuple(int(c) for c in options["tail"]) or None  # an empty list: the tail bucket
        return cls(**options)

    def merged(self, options: dict) -> PasteArgs:
        """These options with ``options`` (a ``paste_args`` mapping, validated) set over them."""
        if not options:
            return self
        mine = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        return self.from_dict({**mine, **options})

    def given(self) -> dict:
        """The set options, JSON's keys (no tail, no Python-only field), in field order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "tail" and f.metadata.get("user", True) and getattr(self, f.name) is not None}

    def planner_kwargs(self) -> dict:
        """The set options as the planner's keyword arguments (no tail: the planner's second argument)."""
        return {k: getattr(self, k) for k in self.planner_keys() if getattr(self, k) is not None}

    def with_defaults(self, **values) -> PasteArgs:
        """These options with ``values`` filling the unset ones (set ones win)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if getattr(self, k) is None})

    def shown(self) -> dict:
        """For messages: the set options, tail included when set."""
        out = self.given()
        return out | ({"tail": list(self.tail)} if self.tail is not None else {})


@dataclass(frozen=True)
class BankPasteArgs(PasteArgs):
    """AUCSeg's T-Memory Bank (:class:`lt_data.training.paste.MemoryBankPaste` documents each option)."""

    mode: ClassVar[str] = "bank"
    DOSE_KEYS: ClassVar[tuple[str, ...]] = ("sample_ratio", "resize_ratio", "per_image")
    sample_ratio: float | None = None
    resize_ratio: float | tuple[float, float] | None = None
    per_image: bool | None = None
    max_per_image: int | None = None
    receive_prob: float | None = None
    placement: Literal["uniform", "prior"] | None = None
    prior: object = field(default=None, compare=False, repr=False, metadata=_PYTHON_ONLY)


@dataclass(frozen=True)
class CutmixPasteArgs(PasteArgs):
    """Paper 003's tail cutmix (:class:`lt_data.training.paste.TailCutmixPaste` documents each option)."""

    mode: ClassVar[str] = "cutmix"
    DOSE_KEYS: ClassVar[tuple[str, ...]] = ("prob",)
    prob: float | None = None
    levels: tuple[int, ...] | None = None
    per_image: int | None = None


PASTE_ARGS: dict[str, type[PasteArgs]] = {"bank": BankPasteArgs, "cutmix": CutmixPasteArgs}


def paste_args_of(mode: str, options: dict | PasteArgs | None) -> PasteArgs:
    """The typed options of paste ``mode`` (``bank`` | ``cutmix``) from a ``paste_args`` mapping."""
    if mode not in PASTE_ARGS:
        raise LtDataError(f"paste mode must be one of {', '.join(PASTE_ARGS)}, not {mode!r}")
    return PASTE_ARGS[mode].from_dict(options)


__all__ = ["PASTE_ARGS", "BankPasteArgs", "CutmixPasteArgs", "PasteArgs", "paste_args_of"]
