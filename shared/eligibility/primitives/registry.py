"""Criterion primitives by name: the extension point of the trial file format.

A primitive is one module of this package holding its parameter model (``params.Strict``),
its node (``base.Node``: ``evaluate`` and ``requirements``, the data dictionary entry) and its
compile step, registered with ``@primitive(name, Args)``. Every module of the package is
imported by ``registered()`` (sorted by name), so a new primitive is one new file: the schema,
the compiler, the trial-text checks and the data dictionary read it from here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.eligibility.primitives.base import Node
from shared.eligibility.reference_tables import Tables

A = TypeVar("A", bound=BaseModel)
Compile = Callable[[A, Tables], Node]


@dataclass(frozen=True, slots=True)
class Primitive:
    """One primitive: the trial-file key, its parameter model and its compile step.

    ``compile(args, tables)`` runs once per trial version at load time and returns the node
    the engine evaluates; it raises ``KeyError`` for an unknown concept and ``ValueError`` for
    parameters that cannot go together (both reach the author as a ``TrialFileError``).
    ``concept_fields`` names the parameters holding concept names (a string or a list), which
    ``trial_text`` checks against the concept tables with their line and column.
    """

    name: str
    args: type[BaseModel]
    compile: Callable[[Any, Tables], Node]
    concept_fields: tuple[str, ...] = ()


_PRIMITIVES: dict[str, Primitive] = {}
_loaded = False


def primitive(
    name: str, args: type[A], *, concept_fields: tuple[str, ...] = ()
) -> Callable[[Compile[A]], Compile[A]]:
    """Register the decorated ``compile(args, tables) -> Node`` as primitive ``name``."""

    def register(compile_: Compile[A]) -> Compile[A]:
        if name in _PRIMITIVES:
            raise ValueError(f"primitive {name!r} registered twice")
        _PRIMITIVES[name] = Primitive(name, args, compile_, concept_fields)
        return compile_

    return register


def registered() -> dict[str, Primitive]:
    """Every primitive, by trial-file key, in registration order (modules sorted by name)."""
    global _loaded
    if not _loaded:
        package = importlib.import_module(__package__ or "shared.eligibility.primitives")
        for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
            importlib.import_module(f"{package.__name__}.{module}")
        _loaded = True
    return _PRIMITIVES
