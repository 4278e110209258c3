"""Cockcroft-Gault creatinine clearance (mL/min, not normalised to body surface area).

CrCl = (140 - age) x weight[kg] / (72 x SCr[mg/dL]), x 0.85 if female; SCr in umol/L is
divided by 88.4. The weight used (actual, ideal by Devine, or adjusted = IBW + 0.4 x excess)
is a trial-version parameter and is recorded. When sex is neither female nor male, both
results bound the value, as does a creatinine reported only as a bound (">4.0").
A documented CrCl is used only when it cannot be computed.
"""

from __future__ import annotations

import math

from shared.eligibility.context import (
    Context,
    Trace,
    as_received,
    cite,
    derived,
    unread_text,
)
from shared.eligibility.data_elements import Row, concept_row
from shared.eligibility.durations import Duration, age_in_years, parse_duration
from shared.eligibility.index import fact_time
from shared.eligibility.reading import latest_quantity, shown
from shared.eligibility.reference_tables import Tables
from shared.eligibility.scores.common import documented_value
from shared.eligibility.scores.registry import ScoreInputs, ScoreOutcome, score

UMOL_PER_MG_DL = 88.4
# adult height is stable: any recorded height serves for ideal body weight
_ADULT_HEIGHT_VALIDITY = parse_duration("P100Y")


def ideal_body_weight(height_cm: float, female: bool) -> float:
    """Ideal body weight in kg from height in cm (Devine formula).

    45.5 kg (female) or 50 kg (male) + 2.3 kg per inch over 5 feet (Devine BJ, Drug Intell
    Clin Pharm 1974;8:650-655). Below 5 feet the result falls below the base weight.
    """
    inches_over_5ft = height_cm / 2.54 - 60
    return (45.5 if female else 50.0) + 2.3 * inches_over_5ft


def crcl(age: int, weight_kg: float, scr_mg_dl: float, female: bool) -> float:
    """Cockcroft-Gault creatinine clearance in mL/min (not normalised to body surface area).

    (140 - age[years]) x weight[kg] / (72 x serum creatinine[mg/dL]), x 0.85 if female
    (Cockcroft DW, Gault MH, Nephron 1976;16(1):31-41). ``scr_mg_dl`` must be above zero.
    """
    value = (140 - age) * weight_kg / (72 * scr_mg_dl)
    return value * 0.85 if female else value


def cockcroft_gault(
    ctx: Context, lookback: Duration, weight_choice: str, weight_lookback: Duration, trace: Trace
) -> ScoreOutcome | None:
    """The patient's Cockcroft-Gault CrCl (mL/min) from the latest creatinine within
    ``lookback`` and weight within ``weight_lookback``, as the module docstring says.

    ``weight_choice`` is ``actual``, ``ideal`` or ``adjusted`` (a trial-version parameter).
    Evidence, findings and what is missing go to ``trace`` (an unread newer input is named
    there). Without a computable value, a documented CrCl newer than any unread input serves;
    None when neither does.
    """
    tables = ctx.tables
    demographics = ctx.index.demographics
    scr_fact = latest_quantity(ctx, tables.concept("creatinine"), lookback, trace)
    scr_q = scr_fact.value_quantity if scr_fact is not None else None
    if scr_fact is not None and scr_q is not None and scr_q.value <= 0:
        # an entry error, not a measurement: it would divide by zero or invert the formula
        trace.evidence.append(cite(scr_fact, note="not used: creatinine is not above zero"))
        scr_fact = None
    weight_fact = latest_quantity(ctx, tables.concept("body_weight"), weight_lookback, trace)
    height_fact = None
    if weight_choice != "actual":
        height_fact = latest_quantity(
            ctx, tables.concept("body_height"), _ADULT_HEIGHT_VALIDITY, trace
        )
    missing = []
    # a newest input kept unread is named, and no documented CrCl older than it stands in
    unread_since = None
    if demographics.birth_date is None:
        missing.append("birth date")
    for label, fact in (
        ("serum creatinine", scr_fact),
        ("body weight", weight_fact),
        ("body height", height_fact),
    ):
        if fact is not None and fact.unread is not None:
            missing.append(unread_text(label, fact))
            trace.evidence.append(
                cite(
                    fact,
                    note=f"could not be read: {fact.unread.reason}",
                    details={"unread_path": fact.unread.path},
                )
            )
            moment = fact_time(fact)
            unread_since = moment if unread_since is None else max(unread_since, moment)
    if scr_fact is not None and scr_fact.unread is not None:
        scr_fact = None
    elif scr_fact is None:
        missing.append(f"serum creatinine within {lookback.words()}")
    if weight_fact is not None and weight_fact.unread is not None:
        weight_fact = None
    elif weight_fact is None:
        missing.append(f"body weight within {weight_lookback.words()}")
    if height_fact is not None and height_fact.unread is not None:
        height_fact = None
    elif weight_choice != "actual" and height_fact is None:
        missing.append("body height")
    if missing or scr_fact is None or weight_fact is None or demographics.birth_date is None:
        documented = documented_value(
            ctx, tables.concept("crcl_cockcroft_gault"), lookback, trace, since=unread_since
        )
        if documented is not None:
            return documented
        for what in missing:
            trace.need(what)
        trace.gap("CrCl cannot be computed: missing " + ", ".join(missing))
        return None
    assert scr_fact.value_quantity is not None
    assert weight_fact.value_quantity is not None
    scr = scr_fact.value_quantity
    scr_mg_dl = scr.value if scr.unit == "mg/dL" else scr.value / UMOL_PER_MG_DL
    # the age when the creatinine was drawn: Cockcroft & Gault (Nephron 1976;16:31-41) predict
    # the clearance of that creatinine from the patient's age and weight at the time, so the
    # estimate does not drift with later birthdays (nor keep ageing after death) and needs no
    # birthday review (``latest_quantity`` returns only a result dated within ``lookback``)
    age = age_in_years(demographics.birth_date, fact_time(scr_fact).date())
    actual = weight_fact.value_quantity.value
    sexes = {"female": [True], "male": [False]}.get(
        demographics.sex.value if demographics.sex else "", [True, False]
    )
    values: list[float] = []
    used_weights: list[float] = []
    for female in sexes:
        weight = actual
        if height_fact is not None and height_fact.value_quantity is not None:
            ibw = ideal_body_weight(height_fact.value_quantity.value, female)
            weight = ibw if weight_choice == "ideal" else ibw + 0.4 * (actual - ibw)
        used_weights.append(weight)
        values.append(crcl(age, weight, scr_mg_dl, female))
    low, high = min(values), max(values)
    # CrCl falls as creatinine rises: a creatinine known only as a bound bounds CrCl the other way
    if scr.comparator in ("<", "<="):
        high = math.inf
    elif scr.comparator in (">", ">="):
        low = 0.0
    # CrCl rises with the weight used (actual; Devine ideal weight rises with the height;
    # adjusted = 0.6 IBW + 0.4 actual): a weight or height known only as a bound ("<60 kg")
    # bounds CrCl the same way, never read as its number (before: read as exactly 60 kg)
    for bounded in (weight_fact, height_fact):
        quantity = bounded.value_quantity if bounded is not None else None
        if quantity is None or (bounded is height_fact and weight_choice == "actual"):
            continue
        if quantity.comparator in ("<", "<="):
            low = 0.0
        elif quantity.comparator in (">", ">="):
            high = math.inf
    trace.evidence.append(cite(scr_fact, note=f"serum creatinine = {scr_mg_dl:.3g} mg/dL"))
    trace.evidence.append(
        cite(
            weight_fact,
            note=f"weight choice: {weight_choice}; weight used {used_weights[0]:.1f} kg",
        )
    )
    if height_fact is not None:
        trace.evidence.append(cite(height_fact, note="height for ideal body weight (Devine)"))
    trace.evidence.append(
        derived(
            "trialwatch|crcl-cockcroft-gault",
            # to 0.1 mL/min, as the finding below says it: the 0.01 stored before was rounded
            # again by the pages (57.847 -> 57.85 -> "57.9" beside the finding's "57.8"); the
            # protocol's limit is compared with the unrounded value
            float(f"{low:.1f}"),
            "mL/min",
            effective=fact_time(scr_fact),
            note="computed Cockcroft-Gault CrCl",
            details={
                "age_years": age,
                "weight_choice": weight_choice,
                "weight_kg": round(used_weights[0], 2),
                "scr_mg_dl": round(scr_mg_dl, 4),
                "sex_factor": 0.85
                if sexes == [True]
                else (1.0 if sexes == [False] else "unknown sex: bounds"),
                "upper_bound": round(high, 2),
            },
        )
    )
    # the inputs as they were sent (the evidence shows the same digits); the clearance to 0.1
    # mL/min as the evidence shows it (shared.eligibility.readable): whole mL/min would show a
    # 29.6 that fails ">= 30" as "30"
    if scr.unit == "mg/dL":
        scr_text = shown(scr, scr_fact)
    else:
        sent = as_received(scr_fact) if scr_fact.received is not None else None
        scr_text = f"{scr_mg_dl:.2f} mg/dL (from {sent[2] if sent else shown(scr, scr_fact)})"
    weight_text = (shown(weight_fact.value_quantity, weight_fact) if weight_choice == "actual"
                   else f"{used_weights[0]:.1f} kg (computed)")
    if low == high:
        value = f"{low:.1f}"
    elif math.isinf(high):
        value = f"at least {low:.1f}"
    else:
        value = f"at most {high:.1f}" if low == 0 else f"{low:.1f}-{high:.1f}"
    trace.findings.append(
        f"CrCl {value} mL/min (computed; age {age}, {weight_choice} weight"
        f" {weight_text}, SCr {scr_text} on {ctx.when(fact_time(scr_fact))})"
    )
    return ScoreOutcome(low, high)


def _compute(ctx: Context, inputs: ScoreInputs, trace: Trace) -> ScoreOutcome | None:
    # ``needs`` is checked when the trial version is loaded
    assert inputs.lookback is not None
    assert inputs.weight is not None
    assert inputs.weight_lookback is not None
    return cockcroft_gault(ctx, inputs.lookback, inputs.weight, inputs.weight_lookback, trace)


def _rows(tables: Tables) -> list[Row]:
    c = tables.concept
    return [
        Row("birth date", "Patient", "Patient.birthDate", "—", "age when the creatinine was drawn"),
        Row("administrative sex", "Patient", "Patient.gender", "—", "x 0.85 if female"),
        concept_row(c("creatinine"), "most recent serum creatinine"),
        concept_row(c("body_weight"), "most recent body weight"),
        concept_row(c("body_height"), "for ideal/adjusted weight only"),
        concept_row(c("crcl_cockcroft_gault"), "documented CrCl, used when it cannot be computed"),
    ]


score(
    "cockcroft_gault",
    "Cockcroft-Gault CrCl (mL/min)",
    _compute,
    rows=_rows,
    needs=("lookback", "weight", "weight_lookback"),
)
