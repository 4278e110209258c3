"""The published data dictionary: what each criterion reads, generated from the trial files.

For a laboratory-system integrator: per criterion, the FHIR resource types, the codes (system
and code), the canonical unit and how the value is read. Generated, never hand-edited:
``trialwatch dictionary --out docs/data-dictionary.md``.
"""

from __future__ import annotations

from shared.clinical.input_forms import input_forms_markdown
from shared.clinical.local_codes import crosswalk_markdown
from shared.clinical.medication_codes import medication_crosswalk_markdown
from shared.clinical.patient_forms import patient_forms_markdown
from shared.clinical.units import units_markdown
from shared.eligibility.data_elements import Row, concept_row
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.reference_tables import TW_SYSTEM, Tables
from shared.eligibility.scores.registry import registered as registered_scores
from shared.eligibility.trial import TrialVersion


def _score_rows(score: str, how: str, tables: Tables) -> list[Row]:
    """The score's own row, then the data it reads (each score module says which)."""
    own = Row(f"score: {score}", "derived", "—", "—", how)
    return [own, *registered_scores()[score].rows(tables)]


def _requirements(node: Node) -> list[Requirement]:
    return node.requirements()


def rows_for(node: Node, tables: Tables) -> list[Row]:
    rows: list[Row] = []
    for requirement in _requirements(node):
        name = requirement.concept
        if name.startswith("score:"):
            rows += _score_rows(name.removeprefix("score:"), requirement.how, tables)
        elif name.startswith("Patient."):
            rows.append(Row(name, "Patient", name, "—", requirement.how))
        else:
            rows.append(concept_row(tables.concept(name), requirement.how))
    unique: dict[tuple[str, str], Row] = {}
    for row in rows:
        unique.setdefault((row.element, row.how), row)
    return list(unique.values())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


SHIPPED_SCOPE = (
    "Trials: the shipped trial files, each trial's newest version (what a fresh evaluator"
    " screens). The versions active in a running registry, uploads through `POST /trials`"
    " included: `trialwatch dictionary --registry`, or `GET /trials/dictionary` (admin)."
)


def render_markdown(trials: list[TrialVersion], scope: str = SHIPPED_SCOPE) -> str:
    """The data dictionary of ``trials`` as Markdown; ``scope`` says which trials these are
    (the shipped files, or the versions active in a registry)."""
    lines = [
        "# TrialWatch data dictionary",
        "",
        "Generated from the trial texts by `trialwatch dictionary`; do not edit by hand.",
        scope,
        "",
        "For each criterion: the data it reads, the FHIR resource that carries it, the codes",
        "(matched by system and code, never display text), the canonical unit the normaliser",
        "delivers, and how the value is read. Facts without a standard code use the project",
        f"CodeSystem `{TW_SYSTEM}` (Observation with valueBoolean unless stated).",
        "Medications may be sent as RxNorm ingredients or as products listed in",
        "`shared/trials/tables/rxnorm_products.yaml` (rolled up to ingredients), or in codes",
        "the site medication crosswalk maps (`CLINICAL_MEDICATION_CODES_FILE`, below).",
        "",
    ]
    for trial in trials:
        lines += [f"## {trial.id} — version {trial.version}", "", f"{trial.title}", ""]
        for criterion in trial.criteria:
            lines += [
                f"### {criterion.id} ({criterion.kind.value}): {criterion.summary}",
                "",
                f"> {_cell(criterion.protocol_text)}",
                "",
                "| Data element | FHIR resource | Codes | Unit | How it is read |",
                "|---|---|---|---|---|",
            ]
            lines += [
                "| "
                + " | ".join(_cell(v) for v in (r.element, r.resource, r.codes, r.unit, r.how))
                + " |"
                for r in rows_for(criterion.node, trial.tables)
            ]
            lines.append("")
        lines += [
            "### Parameters of this version",
            "",
            "| Parameter | Value | Rationale |",
            "|---|---|---|",
        ]
        lines += [
            f"| `{name}` | `{_cell(str(p.value))}` | {_cell(p.rationale.strip())} |"
            for name, p in trial.spec.parameters.items()
        ]
        lines.append("")
    lines += shared_elements_section(trials)
    lines += input_forms_markdown()
    lines += units_markdown()
    lines += crosswalk_markdown()
    lines += medication_crosswalk_markdown()
    lines += patient_forms_markdown()
    return "\n".join(lines)


def shared_elements(trials: list[TrialVersion]) -> dict[str, dict[str, list[str]]]:
    """Data element -> trial id -> the criteria of that trial reading it, for elements read by
    more than one trial: one result sent once serves several trials' screenings."""
    readers: dict[str, dict[str, list[str]]] = {}
    for trial in trials:
        for criterion in trial.criteria:
            for row in rows_for(criterion.node, trial.tables):
                if row.element.startswith(("score:", "item:", "lesion:")):
                    continue
                key = f"{row.element} ({row.codes})" if row.codes != "—" else row.element
                ids = readers.setdefault(key, {}).setdefault(trial.id, [])
                if criterion.id not in ids:
                    ids.append(criterion.id)
    return {element: by_trial for element, by_trial in sorted(readers.items()) if len(by_trial) > 1}


def shared_elements_section(trials: list[TrialVersion]) -> list[str]:
    shared = shared_elements(trials)
    if not shared:
        return []
    ids = [t.id for t in trials]
    lines = [
        "## Data elements shared between trials",
        "",
        "Read by more than one trial: sent once, they count for every trial listed (each",
        "trial applies its own thresholds and look-back windows).",
        "",
        "| Data element | " + " | ".join(ids) + " |",
        "|---|" + "---|" * len(ids),
    ]
    for element, by_trial in shared.items():
        cells = [", ".join(by_trial.get(t, [])) or "—" for t in ids]
        lines.append("| " + _cell(element) + " | " + " | ".join(cells) + " |")
    lines.append("")
    return lines
