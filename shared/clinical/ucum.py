"""Read UCUM unit strings with ucumvert (UCUM grammar from ucum-essence.xml) into pint.

UCUM is case-sensitive and evaluates strictly: ``.`` multiplies, ``/`` divides the next term
only, a trailing integer is an exponent (``l-1`` is per litre) and ``{...}`` is an annotation
worth 1 (UCUM 2.2, sections 2-6). So ``g/l-1`` is gram times litre, not a concentration, and
``K/uL`` is kelvin per microlitre: nothing here guesses what a sender "meant". Spellings that are
not UCUM are read only through the alias table (``shared.clinical.units``), never here.

Two deliberate departures from ucumvert's pint definitions, both stricter than the library:

- A unit UCUM defines as the bare number 1 but which counts something specific (the
  arbitrary units ``[IU]``, ``[arb'U]``, ``[CFU]`` ..., and the microscope fields ``[HPF]``,
  ``[LPF]``) gets a dimension of its own, so ``m[IU]/mL`` never equals ``/L`` and ``/[HPF]``
  never equals ``1``. UCUM 2.2 section 4.4 ("arbitrary units ... are not commensurable with
  any other unit") says so for the arbitrary units; the fields are counted per field.
- A unit longer than ``MAX_UNIT_LENGTH`` characters is refused before parsing (the grammar is
  an Earley parser whose time grows faster than linearly with the input).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources

import pint
from lark import Lark, Token
from lark.exceptions import LarkError
from ucumvert import UcumToPintTransformer, get_ucum_parser, parse_ucum

# The longest unit in the analyte catalogue or alias table is under 20 characters; the
# longest UCUM code in the LOINC example units is about 40. 64 leaves room and keeps a parse
# under a few milliseconds (benchmarks/bench_units.py).
MAX_UNIT_LENGTH = 64

# "name = 1 = _ = alias ...": a unit defined as the bare number 1 in ucumvert's definitions
_COUNTED_AS_ONE = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=\s*1\s*=")


class UnitSyntaxError(ValueError):
    """A unit string that is not UCUM, or longer than ``MAX_UNIT_LENGTH``."""


@cache
def registry() -> pint.UnitRegistry:
    """pint's registry with ucumvert's UCUM definitions (counted units on their own dimension)."""
    ureg: pint.UnitRegistry = pint.UnitRegistry()
    text = resources.files("ucumvert").joinpath("pint_ucum_defs.txt").read_text("utf-8")
    ureg.load_definitions(_own_dimensions(text).splitlines())
    return ureg


def _own_dimensions(definitions: str) -> str:
    lines = []
    for line in definitions.splitlines():
        match = _COUNTED_AS_ONE.match(line)
        if match:
            name = match["name"]
            line = _COUNTED_AS_ONE.sub(f"{name} = [{name}] =", line, count=1)
        lines.append(line)
    return "\n".join(lines)


@cache
def _parser() -> Lark:
    parser: Lark = get_ucum_parser()
    return parser


@cache
def _transformer() -> UcumToPintTransformer:
    return UcumToPintTransformer(ureg=registry())


def is_ucum(unit: str) -> bool:
    """Whether ``unit`` reads as UCUM (within the length bound)."""
    try:
        parse_unit(unit)
    except UnitSyntaxError:
        return False
    return True


def parse_unit(unit: str) -> pint.Quantity:
    """The UCUM unit as a pint quantity (its magnitude carries factors such as 10^9).

    ``unit`` is taken as given (no stripping, no case folding). Raises ``UnitSyntaxError``
    for an empty, over-long or non-UCUM string. Cached, refusals included: the hot path never
    parses the same string twice.
    """
    if len(unit) > MAX_UNIT_LENGTH:  # before the cache too: long strings are not kept
        raise UnitSyntaxError(f"unit longer than {MAX_UNIT_LENGTH} characters: not read")
    parsed = _parsed(unit)
    if isinstance(parsed, str):
        raise UnitSyntaxError(parsed)
    return parsed


@lru_cache(maxsize=4096)
def _parsed(unit: str) -> pint.Quantity | str:
    if not unit:
        return "no unit given"
    try:
        tree = parse_ucum(unit, _parser())
        parsed = _transformer().transform(tree)
    except (LarkError, pint.errors.PintError, ArithmeticError, RecursionError) as error:
        detail = _first_line(error).removeprefix(f"{unit!r} is not a valid UCUM unit: ")
        return f"unit {unit!r} is not UCUM ({detail.rstrip('.')})"
    if isinstance(parsed, Token):  # an annotation alone, "{titer}": the number 1 (UCUM 2.2 6)
        return registry().Quantity(1, "dimensionless")
    if not isinstance(parsed, pint.Quantity):
        return f"unit {unit!r} is not UCUM"
    return parsed


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
