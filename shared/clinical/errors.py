"""Why an input was refused: every problem, each with the path of the offending element."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason to refuse an input; ``path`` is FHIRPath-like or ``OBX[2].6`` for HL7 v2."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class InvalidInput(ValueError):
    """The input cannot be normalised; nothing from it may be used (no partial results)."""

    def __init__(self, problems: tuple[Problem, ...] | list[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid clinical input ({count} problem{'s' * (count != 1)}):\n{lines}")
