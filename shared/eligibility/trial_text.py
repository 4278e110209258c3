"""A trial version as text: its content hash, its compilation, and every problem in it.

Trial versions are data (the registry stores the exact text a protocol author uploaded); the
hash of that text identifies what a decision was made with. ``validate_text`` reports every
problem it can find at once, each with the YAML line and column (1-based), the criterion id
and what was expected, so an author fixes a file in one round.

Pure: text and tables in, problems or a compiled ``TrialVersion`` out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from pydantic import ValidationError

from shared.clinical.codes import ICD10CM, LOINC, RXNORM, SNOMED
from shared.clinical.facts import ALLERGY_CATEGORY_SYSTEM
from shared.eligibility.loader import TrialFileError, parse_trial
from shared.eligibility.primitives.registry import registered as registered_primitives
from shared.eligibility.reference_tables import TW_SYSTEM, Tables
from shared.eligibility.schema import TrialFile
from shared.eligibility.trial import TrialVersion
from shared.text_safety import MAX_TEXT_CHARS, character_problem

REACHABLE_SYSTEMS = frozenset(
    {
        LOINC,
        SNOMED,
        ICD10CM,
        RXNORM,
        TW_SYSTEM,
        "https://trialwatch.dev/fhir/CodeSystem/local-drugs",
        ALLERGY_CATEGORY_SYSTEM,
    }
)
"""Code systems the normaliser delivers facts in (shared/clinical/codes.py, the project's own
fact and drug CodeSystems, and FHIR R4 AllergyIntolerance.category, by which an allergy is
indexed): a concept coded only in another system can never match a fact."""
_REF = re.compile(r"^\$([a-z0-9_]+)$")


@cache
def _concept_fields() -> dict[str, tuple[str, ...]]:
    """Primitive -> its parameters naming concepts (declared where each primitive lives)."""
    return {name: p.concept_fields for name, p in registered_primitives().items()}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a trial file, where it is, and what was expected there."""

    line: int
    column: int
    criterion: str | None
    message: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}"
        who = f" [{self.criterion}]" if self.criterion else ""
        return f"{where}{who} {self.message} (expected: {self.expected})"


def content_hash(text: str) -> str:
    """``sha256:<hex>`` of the UTF-8 text exactly as stored: the identity of a trial version."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def compile_text(text: str, tables: Tables) -> TrialVersion:
    """The compiled trial version; raises ``TrialFileError`` naming every problem."""
    problems = validate_text(text, tables)
    if problems:
        raise TrialFileError("; ".join(str(p) for p in problems))
    raw = yaml.safe_load(text)
    return parse_trial(raw, tables)


def validate_text(text: str, known: Tables) -> list[Problem]:
    """Every problem found in ``text``: YAML syntax, schema (unknown primitive, bad window,
    missing fields), parameters without a value or unknown, unknown concepts, concepts
    whose codes use no code system the intake can deliver, and attestations worded for another
    trial (a concept's ``worded_for``). Empty when the file compiles.
    Text that ``shared.text_safety`` refuses (NUL or another C0 control character written
    as such or as a YAML escape such as ``"\\0"``, a lone surrogate ``"\\ud800"``, a scalar
    over ``MAX_TEXT_CHARS``) is a problem at its line and column: such a file is never stored."""
    written = _written_character_problem(text)
    if written is not None:
        return [written]
    try:
        root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [
            Problem(
                line,
                column,
                None,
                f"not valid YAML: {getattr(error, 'problem', error)}",
                "a YAML mapping",
            )
        ]
    if not isinstance(raw, dict) or root is None:
        return [
            Problem(1, 1, None, "the file is not a mapping", "keys trial, parameters, criteria")
        ]
    scalars = _scalar_problems(root)
    if scalars:
        return scalars
    locate = _Locator(root, raw)
    problems = _parameter_problems(raw, locate)
    substituted = dict(raw)
    substituted["criteria"] = _substitute(raw.get("criteria"), raw.get("parameters") or {})
    try:
        TrialFile.model_validate(substituted)
    except ValidationError as error:
        problems += [_schema_problem(e, locate) for e in error.errors() if not _reported(e)]
    problems += _concept_problems(raw, known, locate)
    problems += _duplicate_problems(raw, locate)
    if not problems:
        try:
            parse_trial(raw, known)
        except TrialFileError as error:
            problems.append(Problem(1, 1, None, str(error), "a file the engine compiles"))
    return sorted(problems, key=lambda p: (p.line, p.column, p.message))


_TEXT_EXPECTED = "printable text (tab, line feed and carriage return are the only controls)"


def _written_character_problem(text: str) -> Problem | None:
    """The first refused character as written in the file (PyYAML would refuse it too, but at
    line 1, column 1)."""
    found = character_problem(text, max_chars=len(text))
    if found is None:
        return None
    index, reason = found
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Problem(line, column, None, f"the file {reason}", _TEXT_EXPECTED)


def _scalar_problems(root: yaml.Node) -> list[Problem]:
    """Every key or value whose text, once YAML escapes are decoded, is refused."""
    problems = []
    stack: list[yaml.Node] = [root]
    seen: set[int] = set()  # an alias repeats its anchor's node: each node is read once
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            found = character_problem(str(node.value), MAX_TEXT_CHARS)
            if found is not None:
                problems.append(Problem(node.start_mark.line + 1, node.start_mark.column + 1,
                                        None, f"the text {found[1]}", _TEXT_EXPECTED))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(problems, key=lambda p: (p.line, p.column))


def _duplicate_problems(raw: dict[str, Any], locate: _Locator) -> list[Problem]:
    """A criterion id used again, reported at each later use (the id's own line and column):
    decisions, alerts and the audit name criteria by id, so two criteria cannot share one."""
    criteria = raw.get("criteria")
    if not isinstance(criteria, list):
        return []
    first: dict[str, int] = {}
    problems = []
    for index, entry in enumerate(criteria):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str | int):
            continue
        criterion_id = str(entry["id"])
        if criterion_id in first:
            line, column = locate.at(("criteria", index, "id"))
            earlier = locate.at(("criteria", first[criterion_id], "id"))[0]
            problems.append(Problem(line, column, criterion_id,
                                    f"duplicate criterion id {criterion_id} (first at line "
                                    f"{earlier})", "an id no other criterion of the file has"))
        else:
            first[criterion_id] = index
    return problems


class _Locator:
    """Maps a path in the parsed data (pydantic's ``loc``) to the YAML node's position."""

    def __init__(self, root: yaml.Node, raw: dict[str, Any]) -> None:
        self.root, self.raw = root, raw

    def at(self, loc: tuple[Any, ...]) -> tuple[int, int]:
        node = self.root
        for step in loc:
            if isinstance(node, yaml.MappingNode):
                found = next((v for k, v in node.value if k.value == step), None)
                if found is not None:
                    node = found
            elif (isinstance(node, yaml.SequenceNode) and isinstance(step, int)
                  and 0 <= step < len(node.value)):
                node = node.value[step]
        return node.start_mark.line + 1, node.start_mark.column + 1

    def criterion(self, loc: tuple[Any, ...]) -> str | None:
        if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
            criteria = self.raw.get("criteria")
            if isinstance(criteria, list) and loc[1] < len(criteria):
                entry = criteria[loc[1]]
                if isinstance(entry, dict) and "id" in entry:
                    return str(entry["id"])
        return None


def _substitute(node: Any, parameters: dict[str, Any]) -> Any:
    """As the loader, but a reference it cannot resolve is left as written (reported apart)."""
    if isinstance(node, dict):
        return {k: _substitute(v, parameters) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, parameters) for v in node]
    if isinstance(node, str) and (match := _REF.match(node)):
        spec = parameters.get(match.group(1))
        if isinstance(spec, dict) and spec.get("value") not in (None, ""):
            value = spec["value"]
            name = match.group(1)
            return (
                value.split(",") if name.endswith("_classes") and isinstance(value, str) else value
            )
    return node


def _reported(error: Any) -> bool:
    """Errors that only restate a problem reported more precisely elsewhere: an unresolved
    ``$parameter`` left in place, or a parameter value that is missing."""
    loc = tuple(error["loc"])
    unresolved = isinstance(error.get("input"), str) and bool(_REF.match(error["input"]))
    no_value = (
        len(loc) >= 3
        and loc[0] == "parameters"
        and loc[2] == "value"
        and (error.get("input") in (None, ""))
    )
    return unresolved or no_value


def _references(node: Any, loc: tuple[Any, ...]) -> list[tuple[str, tuple[Any, ...]]]:
    if isinstance(node, dict):
        return [r for k, v in node.items() for r in _references(v, (*loc, k))]
    if isinstance(node, list):
        return [r for i, v in enumerate(node) for r in _references(v, (*loc, i))]
    if isinstance(node, str) and (match := _REF.match(node)):
        return [(match.group(1), loc)]
    return []


def _parameter_problems(raw: dict[str, Any], locate: _Locator) -> list[Problem]:
    parameters = raw.get("parameters") or {}
    problems = []
    if isinstance(parameters, dict):
        for name, spec in parameters.items():
            if not isinstance(spec, dict) or spec.get("value") in (None, ""):
                line, column = locate.at(("parameters", name))
                problems.append(
                    Problem(
                        line,
                        column,
                        None,
                        f"parameter {name} has no value",
                        "value: and rationale: for every named parameter",
                    )
                )
    for name, loc in _references(raw.get("criteria"), ("criteria",)):
        if name not in parameters:
            line, column = locate.at(loc)
            problems.append(
                Problem(
                    line,
                    column,
                    locate.criterion(loc),
                    f"unknown parameter ${name}",
                    f"one of the parameters declared: {sorted(parameters)}",
                )
            )
    criteria = raw.get("criteria")
    for index, criterion in enumerate(criteria if isinstance(criteria, list) else []):
        listed = criterion.get("parameters") if isinstance(criterion, dict) else None
        for position, name in enumerate(listed if isinstance(listed, list) else []):
            if name not in parameters:
                loc = ("criteria", index, "parameters", position)
                line, column = locate.at(loc)
                problems.append(
                    Problem(
                        line,
                        column,
                        locate.criterion(loc),
                        f"lists unknown parameter {name}",
                        "a parameter declared under parameters:",
                    )
                )
    return problems


def _schema_problem(error: Any, locate: _Locator) -> Problem:
    loc = tuple(error["loc"])
    line, column = locate.at(loc)
    kind, message = error["type"], error["msg"]
    if kind == "union_tag_invalid":
        expected = f"one node of: {error['ctx']['expected_tags']}"
        message = f"unknown primitive or node {error['ctx']['tag']!r}"
    elif kind == "union_tag_not_found":
        expected = "a one-key mapping naming the node (all, any, not, at_least, lab, ...)"
    elif kind == "string_pattern_mismatch":
        expected = (
            "an ISO-8601 duration such as P30D, P6M, P1Y"
            if "P(" in str(error.get("ctx", {}).get("pattern", ""))
            else str(error.get("ctx", {}).get("pattern"))
        )
        message = f"bad window or value {error.get('input')!r}"
    elif kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected"))
    elif kind == "missing":
        expected = f"the field {loc[-1]!r}"
    elif kind == "extra_forbidden":
        expected = "only the fields this node defines"
        message = f"unexpected field {loc[-1]!r}"
    else:
        expected = kind.replace("_", " ")
    path = ".".join(str(s) for s in loc)
    return Problem(line, column, locate.criterion(loc), f"{path}: {message}", expected)


def _concept_problems(raw: dict[str, Any], known: Tables, locate: _Locator) -> list[Problem]:
    problems: list[Problem] = []
    reachable = REACHABLE_SYSTEMS
    header = raw.get("trial")
    trial_id = str(header.get("id")) if isinstance(header, dict) and header.get("id") else None

    def visit(node: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                fields = _concept_fields().get(key)
                if fields and isinstance(value, dict):
                    for field_name in fields:
                        names = value.get(field_name)
                        listed = names if isinstance(names, list) else [names]
                        for position, name in enumerate(listed):
                            where = (*loc, key, field_name) + (
                                (position,) if isinstance(names, list) else ()
                            )
                            check(name, where)
                visit(value, (*loc, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, (*loc, index))

    def check(name: Any, where: tuple[Any, ...]) -> None:
        if not isinstance(name, str) or name.startswith("$"):
            return
        concept = known.concepts.get(name)
        line, column = locate.at(where)
        if concept is None:
            problems.append(
                Problem(
                    line,
                    column,
                    locate.criterion(where),
                    f"unknown concept {name!r}",
                    "a concept of shared/trials/tables/concepts.yaml",
                )
            )
            return
        if concept.worded_for is not None and trial_id != concept.worded_for:
            # a clinician fact is recorded per patient, not per trial: an answer about another
            # trial's consent or protocol would be taken as this trial's answer
            problems.append(
                Problem(
                    line,
                    column,
                    locate.criterion(where),
                    f"attestation {name!r} is worded for {concept.worded_for}: its answer is "
                    f"about that trial, not {trial_id}",
                    f"an attestation worded for {trial_id} (worded_for: {trial_id} in "
                    "concepts.yaml) or one about the patient (no worded_for)",
                )
            )
        systems = {s for s, _, _ in concept.codings} | {s for s, _ in concept.prefixes}
        if not systems & reachable:
            problems.append(
                Problem(
                    line,
                    column,
                    locate.criterion(where),
                    f"concept {name!r} has no code in a system intake delivers",
                    f"codes in one of {sorted(reachable)}",
                )
            )

    visit(raw.get("criteria"), ("criteria",))
    return problems
