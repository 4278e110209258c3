"""Read UCUM unit strings (and the near-UCUM spellings real lab feeds send) with pint.

UCUM is case-sensitive and evaluates strictly: ``.`` multiplies, ``/`` divides the next term
only, a trailing integer is an exponent (``l-1`` is per litre) and ``{...}`` is an annotation
worth 1. So ``giga.l-1`` is 10^9 per litre, but ``g/l-1`` is gram times litre, not a
concentration: nothing here guesses what a sender "meant".
"""

from __future__ import annotations

import re
from functools import cache

import pint

# UCUM atoms whose pint names differ; customary units in [brackets] per UCUM's own table.
_ATOMS = {
    "Cel": "degC",
    "[degF]": "degF",
    "[lb_av]": "lb",
    "[oz_av]": "oz",
    "[in_i]": "inch",
    "[ft_i]": "foot",
    "[iU]": "IU",
    "mm[Hg]": "mmHg",
    "[IU]": "IU",
    "%": "percent",
    "U": "enzyme_unit",
    # bare SI prefixes, as in "giga.l-1" / "tera.l-1" sent by some European analysers
    "kilo": "1e3",
    "mega": "1e6",
    "giga": "1e9",
    "tera": "1e12",
}
_TOKEN = re.compile(
    r"(?P<annotation>\{[^}]*\})"
    r"|(?P<power>10[*^](?P<exp10>[+-]?\d+))"
    r"|(?P<scaled>(?P<factor>\d+)(?P<scaled_atom>[A-Za-z]+))"
    r"|(?P<bracket>[A-Za-z]*\[[^\]]+\])(?P<bracket_exp>[+-]?\d+)?"
    r"|(?P<atom>[A-Za-z%]+)(?P<atom_exp>[+-]?\d+)?"
    r"|(?P<number>\d+)"
    r"|(?P<op>[./()])"
)


class UnitSyntaxError(ValueError):
    """A unit string pint cannot read, even after UCUM translation."""


@cache
def registry() -> pint.UnitRegistry:
    ureg: pint.UnitRegistry = pint.UnitRegistry()
    # International units are substance-specific: a dimension of their own, never converted.
    ureg.define("international_unit = [international_unit] = IU")
    return ureg


def to_pint_expression(unit: str) -> str:
    """The pint expression for a UCUM-style unit string."""
    text = unit.strip()
    if not text:
        raise UnitSyntaxError("no unit given")
    parts: list[str] = []
    position = 0
    previous_was_operand = False
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise UnitSyntaxError(f"cannot read unit {unit!r} at {text[position:]!r}")
        position = match.end()
        operand = _operand(match)
        if operand is None:
            op = match["op"]
            parts.append("*" if op == "." else op)
            previous_was_operand = op == ")"
            continue
        if previous_was_operand and match["annotation"]:
            continue  # "mg{creat}": the annotation qualifies the unit before it
        if previous_was_operand:
            raise UnitSyntaxError(f"cannot read unit {unit!r}: missing operator before {operand}")
        parts.append(operand)
        previous_was_operand = True
    expression = "".join(parts)
    return f"1{expression}" if expression.startswith("/") else expression


def _operand(match: re.Match[str]) -> str | None:
    if match["annotation"]:
        return "1"
    if match["power"]:
        return f"1e{match['exp10']}"
    if match["scaled"]:
        return f"({match['factor']}*{_atom(match['scaled_atom'])})"
    if match["bracket"]:
        return _with_exponent(_atom(match["bracket"]), match["bracket_exp"])
    if match["atom"]:
        return _with_exponent(_atom(match["atom"]), match["atom_exp"])
    if match["number"]:
        return match["number"]
    return None


def _atom(atom: str) -> str:
    if "[" in atom and atom not in _ATOMS:
        raise UnitSyntaxError(f"unsupported UCUM unit {atom}")
    return _ATOMS.get(atom, atom)


def _with_exponent(atom: str, exponent: str | None) -> str:
    return f"({atom})**{int(exponent)}" if exponent else atom


def parse_unit(unit: str) -> pint.Quantity:
    """The unit as a pint quantity (magnitude carries factors such as 10^9)."""
    expression = to_pint_expression(unit)
    try:
        parsed = registry().parse_expression(expression)
    except Exception as error:  # pint's expression parser fails in many ways (even assert)
        raise UnitSyntaxError(f"cannot read unit {unit!r}: {error}") from error
    if not isinstance(parsed, pint.Quantity):
        parsed = registry().Quantity(parsed, "dimensionless")
    return parsed
