"""Load, validate and compile trial files from ``shared/trials/<TRIAL_ID>/<version>.yaml``.

Parameter references (``$name``) in a criterion's logic are replaced by the trial version's
parameter values before validation, so a protocol author changes an interpretation in one
place and every decision records the value it used.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.eligibility.compiler import Compiler
from shared.eligibility.decision import CriterionKind, Scalar
from shared.eligibility.reference_tables import TABLES_HASH_PARAMETER, Tables, load_tables
from shared.eligibility.schema import TrialFile
from shared.eligibility.trial import CompiledCriterion, TrialVersion

TRIALS_DIR = Path(__file__).resolve().parents[1] / "trials"
_REF = re.compile(r"^\$([a-z0-9_]+)$")


class TrialFileError(ValueError):
    """A trial file that cannot be loaded; the message names the file and what is wrong."""


def _substitute(node: Any, parameters: dict[str, Any], where: str) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, parameters, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, parameters, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and (match := _REF.match(node)):
        name = match.group(1)
        if name not in parameters:
            raise TrialFileError(f"{where}: unknown parameter ${name}")
        value = parameters[name]["value"]
        return value.split(",") if name.endswith("_classes") and isinstance(value, str) else value
    return node


def _version_key(version: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-]", version))


def parse_trial(raw: dict[str, Any], tables: Tables, path: Path | None = None) -> TrialVersion:
    name = str(path) if path else "trial file"
    try:
        parameters = raw.get("parameters") or {}
        substituted = dict(raw)
        substituted["criteria"] = _substitute(raw.get("criteria"), parameters, "criteria")
        spec = TrialFile.model_validate(substituted)
    except ValidationError as error:
        raise TrialFileError(f"{name}: {error}") from None
    ids = [c.id for c in spec.criteria]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise TrialFileError(f"{name}: duplicate criterion ids {sorted(duplicates)}")
    criteria = []
    compiler = Compiler(tables, [c.logic for c in spec.criteria])
    for criterion in spec.criteria:
        unknown = [p for p in criterion.parameters if p not in spec.parameters]
        if unknown:
            raise TrialFileError(f"{name}: {criterion.id} lists unknown parameters {unknown}")
        try:
            node = compiler.criterion(criterion.logic)
        except (KeyError, ValueError) as error:
            # an unknown concept, or parameters a primitive cannot take together
            raise TrialFileError(f"{name}: {criterion.id}: {error.args[0]}") from None
        criteria.append(
            CompiledCriterion(
                id=criterion.id,
                kind=CriterionKind(criterion.kind),
                summary=criterion.summary,
                protocol_text=criterion.protocol_text,
                node=node,
                parameters=tuple(criterion.parameters),
            )
        )
    recorded: dict[str, Scalar] = {k: p.value for k, p in spec.parameters.items()}
    # the shared tables are versioned on their own; a decision records which it used
    recorded.update({f"table_version.{n}": v for n, v in sorted(tables.versions.items())})
    if tables.content_hash:  # the exact texts, which audit replay compiles an old decision with
        recorded[TABLES_HASH_PARAMETER] = tables.content_hash
    return TrialVersion(
        id=spec.trial.id,
        version=spec.trial.version,
        title=spec.trial.title,
        criteria=tuple(criteria),
        parameters=recorded,
        tables=tables,
        spec=spec,
        path=path,
    )


def load_trial_file(path: Path, tables: Tables | None = None) -> TrialVersion:
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if not isinstance(raw, dict):
        raise TrialFileError(f"{path}: expected a mapping at top level")
    return parse_trial(raw, tables or _default_tables(), path)


@lru_cache(maxsize=1)
def _default_tables() -> Tables:
    return load_tables()


def list_trials(directory: Path = TRIALS_DIR) -> dict[str, list[str]]:
    """Trial id -> available versions, oldest first."""
    found: dict[str, list[str]] = {}
    for trial_dir in sorted(p for p in directory.iterdir() if p.is_dir() and p.name != "tables"):
        versions = sorted((f.stem for f in trial_dir.glob("*.yaml")), key=_version_key)
        if versions:
            found[trial_dir.name] = versions
    return found


@lru_cache(maxsize=32)
def load_trial(trial_id: str, version: str | None = None) -> TrialVersion:
    """The compiled trial version (the latest when ``version`` is None); cached per process."""
    versions = list_trials().get(trial_id)
    if not versions:
        raise TrialFileError(f"unknown trial {trial_id!r}; known: {sorted(list_trials())}")
    chosen = version or versions[-1]
    if chosen not in versions:
        raise TrialFileError(f"{trial_id} has no version {chosen!r}; known: {versions}")
    return load_trial_file(TRIALS_DIR / trial_id / f"{chosen}.yaml")
