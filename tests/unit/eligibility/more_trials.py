"""Vignettes for NCT06946485 (CHT101) and TRIALX-323795 (CD19/BCMA CAR-T in LN).

Every vignette starts from ``eligible_for_all()``, the NCT06920433 baseline patient plus what
the two other trials read (BILAG grades, WBC, INR, PT, LVEF, cyclophosphamide history and their
clinician facts), who is eligible for all three trials at ``AS_OF``. Each vignette changes one
thing and pins the criteria of one trial it is about; every other criterion of that trial must
pass. For every criterion there is a near miss that fails it (where the text allows a failure)
and a variant that lacks its data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.eligibility.decision import Outcome, Status
from tests.unit.eligibility.fhir_builder import (
    ICD10,
    LOINC,
    POSITIVE,
    RXNORM,
    SNOMED,
    TW,
    PatientBuilder,
    ago,
    eligible_patient,
    iso,
)

P, F, U = Outcome.PASS, Outcome.FAIL, Outcome.UNKNOWN
OK, NO, UND = Status.ELIGIBLE, Status.INELIGIBLE, Status.UNDETERMINED
CHT101, LN = "NCT06946485", "TRIALX-323795"
BILAG_DOMAINS = (
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
)
BASELINE_BILAG = {"renal": "A", "mucocutaneous": "B"} | {
    d: "D" for d in BILAG_DOMAINS if d not in ("renal", "mucocutaneous")
}
# NCT06946485 I7 asks for contraception "during the study period and for one year after taking
# the study medication": its own attestation, not the 6-month one the other two trials read
CONTRACEPTION_1Y = "contraception-commitment-1-year-after-study-medication"
# TRIALX-323795 I6: "before entering the study, during study participation, and for 6 months after
# transfusion": its own attestation too
CONTRACEPTION_LN = "contraception-before-during-participation-and-6-months-after-transfusion"
# TRIALX-323795 2025-12-01.5 I7 and I4 read answers worded as its own text: consent signed for
# this trial (a consent recorded per patient for NCT06920433 I9 does not answer it), "failure to
# respond to two or more standard immunosuppressive therapies" (no 6 months, each failed) and
# "relapse (increased disease activity index and need to adjust drug dose or type)"
CONSENT_LN = "informed-consent-signed-for-TRIALX-323795"
FAILED_TWO_LN = "no-response-to-two-or-more-standard-immunosuppressive-therapies"
RELAPSE_LN = "relapse-activity-index-increased-treatment-adjusted"
MORE_YES = (
    "hemodynamically-stable",
    "life-expectancy-over-12-weeks",
    CONTRACEPTION_1Y,
    CONTRACEPTION_LN,
    CONSENT_LN,
    FAILED_TWO_LN,
)
UCUM = "http://unitsofmeasure.org"
PREDNISONE_20 = "312615"  # RxNorm SCD predniSONE 20 MG Oral Tablet (rolls up to 8640)
COURSE_DAYS = (300, 270)  # the high-dose glucocorticoid course of NCT06946485 I4
COURSE_WEIGHT_DAYS = 301  # the body weight taken when the course started
# each partial trial's catch-all reads an investigator answer that names that trial's protocol: a
# "no" given after reading one protocol says nothing about the other (the shared
# "excluded-by-unencoded-protocol-criterion" named no trial and cleared both)
CATCH_ALL_CHT101 = "excluded-by-unencoded-criterion-of-NCT06946485-protocol"
CATCH_ALL_LN = "excluded-by-unencoded-criterion-of-TRIALX-323795-protocol"
SHARED_CATCH_ALL = "excluded-by-unencoded-protocol-criterion"
# TRIALX-323795 E3 "active infected persons who are not cured": wider than "uncontrolled or
# treatment-requiring" (NCT06920433 E2), so its own attestation
UNCURED_INFECTION = "active-infection-not-cured"
MORE_NO = (
    "cns-trauma-or-cerebrovascular-history",
    "qt-prolongation-or-severe-heart-disease",
    CATCH_ALL_CHT101,
    CATCH_ALL_LN,
    UNCURED_INFECTION,
)


def bilag(b: PatientBuilder, domain: str, grade: str, days: float = 5) -> PatientBuilder:
    return b.observation(TW, f"bilag-2004-{domain}", ago(days), coded={"system": TW, "code": grade})


def eligible_for_all() -> PatientBuilder:
    """The NCT06920433 baseline, plus what NCT06946485 and TRIALX-323795 read."""
    b = eligible_patient()
    for domain, grade in BASELINE_BILAG.items():
        bilag(b, domain, grade)
    b.lab("6690-2", 6.0, "10*9/L")  # WBC
    b.lab("6301-6", 1.0, "1")  # INR
    b.lab("5964-2", 12.0, "s")  # PT
    b.lab("10230-1", 62, "%", days=20)  # LVEF
    b.medication("1734919", start_days=400, end_days=200)  # cyclophosphamide, stopped
    # NCT06946485 I4: prednisone 60 mg once daily for 30 days at 60 kg = 1.0 mg/kg/day, as an
    # EHR's medication list sends it (FHIR R4 MedicationStatement.dosage: sig text beside the
    # structured dose and timing)
    b.lab("29463-7", 60, "kg", days=COURSE_WEIGHT_DAYS)
    b.medication(
        PREDNISONE_20, start_days=COURSE_DAYS[0], end_days=COURSE_DAYS[1], dosage=daily(60)
    )
    for code in MORE_YES:
        b.fact(code, True)
    for code in MORE_NO:
        b.fact(code, False)
    return b


def daily(
    dose: float, unit: str = "mg", *, times: int = 1, period: float = 1, period_unit: str = "d"
) -> list[dict[str, object]]:
    """One FHIR R4 Dosage: ``dose`` ``unit`` (UCUM) ``times`` per ``period`` ``period_unit``."""
    return [
        {
            "sequence": 1,
            "text": f"{dose:g} {unit} {times} per {period:g} {period_unit}",
            "timing": {"repeat": {"frequency": times, "period": period, "periodUnit": period_unit}},
            "doseAndRate": [
                {"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
            ],
        }
    ]


def course(
    dosage: list[dict[str, object]] | None, code: str = PREDNISONE_20
) -> Callable[[PatientBuilder], object]:
    """The I4 glucocorticoid course replaced by one of ``code`` with ``dosage``."""

    def step(b: PatientBuilder) -> None:
        b.without(RXNORM, PREDNISONE_20)
        b.medication(code, start_days=COURSE_DAYS[0], end_days=COURSE_DAYS[1], dosage=dosage)

    return step


def order(
    dosage: list[dict[str, object]], authored_days: float, status: str = "completed"
) -> Callable[[PatientBuilder], object]:
    """A MedicationRequest for predniSONE 20 MG tablets with ``dosageInstruction``."""

    def step(b: PatientBuilder) -> None:
        b.resources.append(
            {
                "resourceType": "MedicationRequest",
                "id": "order-gc",
                "status": status,
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": PREDNISONE_20}]
                },
                "subject": {"reference": "Patient/vignette"},
                "authoredOn": iso(ago(authored_days)),
                "dosageInstruction": dosage,
            }
        )

    return step


def without_course_weight(b: PatientBuilder) -> None:
    b.resources = [
        r
        for r in b.resources
        if not (
            r.get("resourceType") == "Observation"
            and r["code"]["coding"][0]["code"] == "29463-7"
            and r["effectiveDateTime"] == iso(ago(COURSE_WEIGHT_DAYS))
        )
    ]


def course_weight(b: PatientBuilder) -> None:
    """The body weight taken with the high-dose course (after a step that replaced weights)."""
    b.lab("29463-7", 60, "kg", days=COURSE_WEIGHT_DAYS)


def maintenance_dose(b: PatientBuilder) -> None:
    """The baseline's ongoing prednisone 5 mg (no dosage sent) with its dose: 5 mg once daily."""
    b.without(RXNORM, "312617")
    b.medication("312617", start_days=730, dosage=daily(5))


@dataclass(frozen=True)
class TrialVignette:
    trial: str
    name: str
    build: Callable[[], PatientBuilder]
    expect: dict[str, Outcome]
    status: Status
    missing: dict[str, str] = field(default_factory=dict)


def change(*steps: Callable[[PatientBuilder], object]) -> Callable[[], PatientBuilder]:
    def build() -> PatientBuilder:
        builder = eligible_for_all()
        for step in steps:
            step(builder)
        return builder

    return build


def drop(system: str, code: str) -> Callable[[PatientBuilder], object]:
    return lambda b: b.without(system, code)


def lab(
    code: str, value: float, unit: str, days: float = 3, **kw: object
) -> Callable[[PatientBuilder], object]:
    return lambda b: (b.without(LOINC, code), b.lab(code, value, unit, days=days, **kw))


def fact(code: str, value: bool | None) -> Callable[[PatientBuilder], object]:
    def step(b: PatientBuilder) -> None:
        b.without(TW, code)
        if value is not None:
            b.fact(code, value)

    return step


def grades(**by_domain: str | None) -> Callable[[PatientBuilder], object]:
    def step(b: PatientBuilder) -> None:
        for domain, grade in by_domain.items():
            b.without(TW, f"bilag-2004-{domain}")
            if grade is not None:
                bilag(b, domain, grade)

    return step


def birth(date: str) -> Callable[[PatientBuilder], object]:
    return lambda b: b.patient.__setitem__("birthDate", date)


def _both(
    name: str,
    step: Callable[[PatientBuilder], object],
    cht: dict[str, Outcome],
    cht_status: Status,
    ln: dict[str, Outcome],
    ln_status: Status,
) -> list[TrialVignette]:
    return [
        TrialVignette(CHT101, name, change(step), cht, cht_status),
        TrialVignette(LN, name, change(step), ln, ln_status),
    ]


NO_NEAR_MISS = {(CHT101, "I1"): Outcome.FAIL}
"""The 2019 EULAR/ACR classification of the shared baseline is computed from its items (26
points); a record cannot prove an item absent, so no one-change near miss makes it FALSE.
NCT06920433 I2 reaches FALSE through its other parts, not through the classification."""

CHT101_VIGNETTES = [
    TrialVignette(CHT101, "eligible for all three trials", change(), {}, OK),
    # I1 EULAR/ACR 2019
    TrialVignette(CHT101, "no ANA on record", change(drop(LOINC, "5048-4")), {"I1": U}, UND),
    # I2 SLEDAI > 6 (a documented total of 6 is not above 6)
    TrialVignette(
        CHT101,
        "SLEDAI-2K documented as 6",
        change(
            drop(TW, "sledai-2k-total"),
            lambda b: b.observation(TW, "sledai-2k-total", ago(5), integer=6),
        ),
        {"I2": F},
        NO,
    ),
    TrialVignette(CHT101, "no SLEDAI-2K", change(drop(TW, "sledai-2k-total")), {"I2": U}, UND),
    # I3 BILAG-2004
    TrialVignette(
        CHT101, "one B, no A, all nine domains graded", change(grades(renal="C")), {"I3": F}, NO
    ),
    TrialVignette(CHT101, "two B and no A is enough", change(grades(renal="B")), {}, OK),
    TrialVignette(
        CHT101,
        "no A, one B and two domains ungraded",
        change(grades(renal="C", ophthalmic=None, constitutional=None)),
        {"I3": U},
        UND,
        {"I3": "ophthalmic"},
    ),
    TrialVignette(
        CHT101,
        "BILAG grades older than 30 days",
        change(
            lambda b: [
                (b.without(TW, f"bilag-2004-{d}"), bilag(b, d, g, days=31))
                for d, g in BASELINE_BILAG.items()
            ]
        ),
        {"I3": U},
        UND,
    ),
    # I4 refractory: cyclophosphamide, dose, duration, branch
    TrialVignette(
        CHT101, "no cyclophosphamide on record", change(drop(RXNORM, "1734919")), {"I4": U}, UND
    ),
    TrialVignette(
        CHT101,
        "cyclophosphamide started 5 months ago",
        change(
            drop(RXNORM, "1734919"), lambda b: b.medication("1734919", start_days=150, end_days=100)
        ),
        {"I4": U},
        UND,
    ),
    # I4 glucocorticoid >= 1 mg/kg/day: the dose primitive (FHIR R4 Dosage + body weight)
    TrialVignette(
        CHT101,
        "prednisone 50 mg/day at 60 kg (0.83 mg/kg/day), every dose on record read",
        change(course(daily(50)), maintenance_dose),
        {"I4": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "prednisone 50 mg/day at 60 kg, maintenance dose not sent",
        change(course(daily(50))),
        {"I4": U},
        UND,
        {"I4": "structured daily dose"},
    ),
    TrialVignette(
        CHT101,
        "no body weight taken with the high-dose course",
        change(without_course_weight),
        {"I4": U},
        UND,
        {"I4": "body weight"},
    ),
    TrialVignette(
        CHT101,
        "the course's dose sent as free text only",
        change(course([{"text": "prednisone 60 mg by mouth every morning"}])),
        {"I4": U},
        UND,
        {"I4": "free text"},
    ),
    TrialVignette(
        CHT101,
        "the course taken as needed",
        change(course([{**daily(60)[0], "asNeededBoolean": True}])),
        {"I4": U},
        UND,
        {"I4": "as needed"},
    ),
    TrialVignette(
        CHT101,
        "the course's dose in tablets (needs the strength)",
        change(course(daily(3, "{tbl}"))),
        {"I4": U},
        UND,
    ),
    TrialVignette(
        CHT101,
        "the course's dose as a range 40-60 mg",
        change(
            course(
                [{**daily(60)[0], "doseAndRate": [{"doseRange": {
                    "low": {"value": 40, "unit": "mg", "system": UCUM, "code": "mg"},
                    "high": {"value": 60, "unit": "mg", "system": UCUM, "code": "mg"}}}]}]
            )
        ),
        {"I4": U},
        UND,
    ),
    TrialVignette(
        CHT101,
        "the course as a completed order (MedicationRequest.dosageInstruction) of 60 mg daily",
        change(drop(RXNORM, PREDNISONE_20), order(daily(60), authored_days=290)),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "prednisone 30 mg twice daily (60 mg/day) meets 1 mg/kg/day",
        change(course(daily(30, times=2))),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "prednisone 0.5 mg/kg every 12 h needs no weight",
        change(course(daily(0.5, "mg/kg", period=12, period_unit="h")), without_course_weight),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "methylprednisolone 48 mg/day at 60 kg is 1.0 mg/kg/day prednisone-equivalent",
        change(course(daily(48), code="6902")),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "a newer preliminary (unread) body weight during the course",
        change(
            lambda b: b.observation(
                LOINC, "29463-7", ago(290), quantity=(45, "kg"), status="preliminary"
            )
        ),
        {"I4": U},
        UND,
    ),
    # I5 age 18-65
    TrialVignette(
        CHT101,
        "66 years old",
        change(birth("1959-05-10"), lab("29463-7", 80, "kg"), course_weight),
        {"I5": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "65 years old (the day before turning 66)",
        change(birth("1960-03-02"), lab("29463-7", 80, "kg"), course_weight),
        {},
        OK,
    ),
    TrialVignette(CHT101, "17 years old", change(birth("2008-05-10")), {"I5": F}, NO),
    TrialVignette(
        CHT101,
        "no birth date",
        change(lambda b: b.patient.pop("birthDate")),
        {"I5": U, "I6": U, "I6.3": U},
        UND,
    ),
    # I6.1 marrow
    TrialVignette(
        CHT101, "WBC 2.9", change(lab("6690-2", 2.9, "10*9/L")), {"I6": F, "I6.1": F}, NO
    ),
    TrialVignette(CHT101, "no WBC", change(drop(LOINC, "6690-2")), {"I6": U, "I6.1": U}, UND),
    TrialVignette(CHT101, "ANC 0.9", change(lab("751-8", 0.9, "10*9/L")), {"I6": F, "I6.1": F}, NO),
    TrialVignette(
        CHT101,
        "filgrastim 20 days ago",
        change(lambda b: b.medication("68442", start_days=22, end_days=20)),
        {"I6": F, "I6.1": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "biosimilar filgrastim-sndz (Zarxio) 10 days ago",
        change(lambda b: b.medication("1605064", start_days=12, end_days=10)),
        {"I6": F, "I6.1": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "pegfilgrastim-jmdb (Fulphila) 5 days ago",
        change(lambda b: b.medication("2048018", start_days=5, end_days=5)),
        {"I6": F, "I6.1": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "filgrastim 50 days ago is outside the window",
        change(lambda b: b.medication("68442", start_days=52, end_days=50)),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "medication history not reconciled",
        change(fact("medication-history-reconciled", None)),
        {"I6": U, "I6.1": U},
        UND,
    ),
    TrialVignette(
        CHT101, "hemoglobin 59 g/L", change(lab("718-7", 59, "g/L")), {"I6": F, "I6.1": F}, NO
    ),
    # I6.2 liver: bilirubin 1.5 x ULN, not 2 x
    TrialVignette(
        CHT101,
        "bilirubin 1.9 mg/dL (1.6 x ULN)",
        change(lab("1975-2", 1.9, "mg/dL")),
        {"I6": F, "I6.2": F},
        NO,
    ),
    TrialVignette(CHT101, "no bilirubin", change(drop(LOINC, "1975-2")), {"I6": U, "I6.2": U}, UND),
    # I6.3 CrCl >= 60
    TrialVignette(
        CHT101,
        "creatinine 1.4 mg/dL: CrCl 53",
        change(lab("2160-0", 1.4, "mg/dL")),
        {"I6": F, "I6.3": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "no body weight",
        change(drop(LOINC, "29463-7")),
        {"I4": U, "I6": U, "I6.3": U},
        UND,
    ),
    # I6.4 coagulation
    TrialVignette(
        CHT101, "INR 1.9 (1.6 x ULN 1.2)", change(lab("6301-6", 1.9, "1")), {"I6": F, "I6.4": F}, NO
    ),
    TrialVignette(
        CHT101,
        "PT 21 s against its own range 10-13",
        change(lab("5964-2", 21.0, "s", ref_high=13.0)),
        {"I6": F, "I6.4": F},
        NO,
    ),
    TrialVignette(CHT101, "no INR", change(drop(LOINC, "6301-6")), {"I6": U, "I6.4": U}, UND),
    TrialVignette(CHT101, "no PT", change(drop(LOINC, "5964-2")), {"I6": U, "I6.4": U}, UND),
    # I6.5 cardiac
    TrialVignette(
        CHT101, "LVEF 54 %", change(lab("10230-1", 54, "%", days=20)), {"I6": F, "I6.5": F}, NO
    ),
    TrialVignette(
        CHT101, "no echocardiogram", change(drop(LOINC, "10230-1")), {"I6": U, "I6.5": U}, UND
    ),
    # LVEF sent under a method-specific LOINC code only (concepts.yaml lvef: DICOM CID 12202,
    # 3467, 3833 and the LOINC copies named there), as echo and imaging systems send it
    TrialVignette(
        CHT101,
        "LVEF 62 % by US (LOINC 18043-0) only",
        change(drop(LOINC, "10230-1"), lab("18043-0", 62, "%", days=20)),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "LVEF 54 % by US (LOINC 18043-0) only",
        change(drop(LOINC, "10230-1"), lab("18043-0", 54, "%", days=20)),
        {"I6": F, "I6.5": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "LVEF 60 % by MR (LOINC 8811-2) only",
        change(drop(LOINC, "10230-1"), lab("8811-2", 60, "%", days=20)),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "LVEF 57 % by US 2D Teichholz (LOINC 77891-0) only",
        change(drop(LOINC, "10230-1"), lab("77891-0", 57, "%", days=20)),
        {},
        OK,
    ),
    TrialVignette(
        CHT101,
        "LVEF 62 % older by US, 50 % newer by angiography (LOINC 8808-8): the newer decides",
        change(lab("18043-0", 62, "%", days=25), lab("8808-8", 50, "%", days=5)),
        {"I6": F, "I6.5": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "only an LVEF lower limit (LOINC 104258-9) is no LVEF",
        change(drop(LOINC, "10230-1"), lab("104258-9", 60, "%", days=20)),
        {"I6": U, "I6.5": U},
        UND,
    ),
    TrialVignette(
        CHT101,
        "hemodynamically unstable",
        change(fact("hemodynamically-stable", False)),
        {"I6": F, "I6.5": F},
        NO,
    ),
    # I7 contraception: "during the study period and for one year after taking the study
    # medication" (its own attestation, CONTRACEPTION_1Y)
    TrialVignette(
        CHT101,
        "no contraception commitment",
        change(fact(CONTRACEPTION_1Y, False)),
        {"I7": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "contraception not documented",
        change(fact(CONTRACEPTION_1Y, None), fact("contraception-commitment", None)),
        {"I7": U},
        UND,
        {"I7": "for one year after taking the study medication"},
    ),
    TrialVignette(
        CHT101,
        "a yes to contraception for 6 months after treatment does not meet one year",
        change(fact(CONTRACEPTION_1Y, None), fact("contraception-commitment", True)),
        {"I7": U},
        UND,
        {"I7": "for one year after taking the study medication"},
    ),
    TrialVignette(
        CHT101,
        "a yes to contraception for one year meets I7 without the 6-month answer",
        change(fact("contraception-commitment", None), fact(CONTRACEPTION_1Y, True)),
        {},
        OK,
    ),
    # E1 the text the public copy lacks
    TrialVignette(
        CHT101,
        "investigator: excluded by an unpublished criterion",
        change(fact(CATCH_ALL_CHT101, True)),
        {"E1": F},
        NO,
    ),
    TrialVignette(
        CHT101,
        "investigator has not reviewed the full protocol",
        change(fact(CATCH_ALL_CHT101, None)),
        {"E1": U},
        UND,
    ),
    TrialVignette(
        CHT101,
        "a no recorded for TRIALX-323795's full protocol leaves E1 unknown",
        change(fact(CATCH_ALL_CHT101, None), fact(CATCH_ALL_LN, False)),
        {"E1": U},
        UND,
        {"E1": "NCT06946485"},
    ),
    TrialVignette(
        CHT101,
        "a no to the shared unnamed catch-all leaves E1 unknown",
        change(fact(CATCH_ALL_CHT101, None), fact(SHARED_CATCH_ALL, False)),
        {"E1": U},
        UND,
        {"E1": "NCT06946485"},
    ),
]

LN_VIGNETTES = [
    TrialVignette(LN, "eligible for all three trials", change(), {}, OK),
    TrialVignette(LN, "17 years old", change(birth("2008-05-10")), {"I1": F}, NO),
    TrialVignette(
        LN, "no birth date", change(lambda b: b.patient.pop("birthDate")), {"I1": U}, UND
    ),
    TrialVignette(
        LN,
        "biopsy class II",
        change(
            drop(TW, "isn-rps-2018-class"),
            lambda b: b.observation(
                TW, "isn-rps-2018-class", ago(40), coded={"system": TW, "code": "II"}
            ),
        ),
        {"I2": F},
        NO,
    ),
    TrialVignette(
        LN,
        "pure class V qualifies here",
        change(
            drop(TW, "isn-rps-2018-class"),
            lambda b: b.observation(
                TW, "isn-rps-2018-class", ago(40), coded={"system": TW, "code": "V"}
            ),
        ),
        {},
        OK,
    ),
    TrialVignette(LN, "no renal biopsy", change(drop(TW, "isn-rps-2018-class")), {"I2": U}, UND),
    TrialVignette(
        LN,
        "SLEDAI-2K documented as 7",
        change(
            drop(TW, "sledai-2k-total"),
            lambda b: b.observation(TW, "sledai-2k-total", ago(5), integer=7),
        ),
        {"I3": F},
        NO,
    ),
    TrialVignette(LN, "no SLEDAI-2K", change(drop(TW, "sledai-2k-total")), {"I3": U}, UND),
    TrialVignette(
        LN,
        "only mycophenolate on record, not relapsed",
        change(drop(RXNORM, "1734919"), fact(RELAPSE_LN, False)),
        {"I4": U},
        UND,
    ),
    TrialVignette(
        LN,
        "clinician: neither failure nor relapse",
        change(fact(FAILED_TWO_LN, False), fact(RELAPSE_LN, False)),
        {"I4": F},
        NO,
    ),
    TrialVignette(
        LN,
        "relapse alone suffices",
        change(drop(RXNORM, "1734919"), fact(FAILED_TWO_LN, None), fact(RELAPSE_LN, True)),
        {},
        OK,
    ),
    TrialVignette(
        LN,
        "failure of two standard therapies not documented",
        change(fact(FAILED_TWO_LN, None)),
        {"I4": U},
        UND,
        {"I4": "two or more standard immunosuppressive therapies"},
    ),
    TrialVignette(
        LN,
        "a yes to 'conventional treatment ineffective for more than 6 months' does not meet I4",
        change(fact(FAILED_TWO_LN, None), fact("conventional-treatment-ineffective-6m", True)),
        {"I4": U},
        UND,
        {"I4": "two or more standard immunosuppressive therapies"},
    ),
    TrialVignette(
        LN,
        "a yes to 'disease activity reappeared after remission' does not meet I4",
        change(
            fact(FAILED_TWO_LN, None),
            fact(RELAPSE_LN, None),
            fact("relapse-after-remission", True),
        ),
        {"I4": U},
        UND,
        {"I4": "adjust the drug dose or type"},
    ),
    TrialVignette(
        LN,
        "expected survival under 12 weeks",
        change(fact("life-expectancy-over-12-weeks", False)),
        {"I5": F},
        NO,
    ),
    TrialVignette(
        LN,
        "survival not documented",
        change(fact("life-expectancy-over-12-weeks", None)),
        {"I5": U},
        UND,
    ),
    TrialVignette(
        LN,
        "no contraception commitment",
        change(fact(CONTRACEPTION_LN, False)),
        {"I6": F},
        NO,
    ),
    TrialVignette(
        LN,
        "contraception not documented",
        change(fact(CONTRACEPTION_LN, None), fact("contraception-commitment", None)),
        {"I6": U},
        UND,
    ),
    TrialVignette(
        LN,
        "a yes to contraception during treatment and 6 months after does not meet I6",
        change(fact(CONTRACEPTION_LN, None), fact("contraception-commitment", True)),
        {"I6": U},
        UND,
        {"I6": "during study participation"},
    ),
    TrialVignette(LN, "consent refused", change(fact(CONSENT_LN, False)), {"I7": F}, NO),
    TrialVignette(LN, "consent not documented", change(fact(CONSENT_LN, None)), {"I7": U}, UND),
    TrialVignette(
        LN,
        "a consent recorded for NCT06920433 leaves I7 unknown",
        change(fact(CONSENT_LN, None), fact("informed-consent-and-compliance", True)),
        {"I7": U},
        UND,
        {"I7": "TRIALX-323795"},
    ),
    TrialVignette(
        LN,
        "skull fracture with brain injury on record",
        change(
            lambda b: b.condition(
                ICD10, "S06.0X0A", onset_days=900, status="resolved", abated_days=800
            )
        ),
        {"E1": F},
        NO,
    ),
    TrialVignette(
        LN,
        "CNS history not attested",
        change(fact("cns-trauma-or-cerebrovascular-history", None)),
        {"E1": U},
        UND,
    ),
    TrialVignette(
        LN,
        "long QT syndrome on record",
        change(lambda b: b.condition(ICD10, "I45.81", onset_days=300)),
        {"E2": F},
        NO,
    ),
    TrialVignette(
        LN,
        "heart history not attested",
        change(fact("qt-prolongation-or-severe-heart-disease", None)),
        {"E2": U},
        UND,
    ),
    TrialVignette(
        LN,
        "active pneumonia",
        change(lambda b: b.condition(SNOMED, "233604007", onset_days=3)),
        {"E3": F},
        NO,
    ),
    # ICD-10-CM block A15-A19 Tuberculosis: A15 is respiratory TB only; A17 nervous system,
    # A18 other organs, A19 miliary (CMS ICD-10-CM tabular, e.g. icd10coded.com/cm/A18.51/)
    TrialVignette(
        LN,
        "active tuberculous meningitis (ICD-10-CM A17.0)",
        change(lambda b: b.condition(ICD10, "A17.0", onset_days=10)),
        {"E3": F},
        NO,
    ),
    TrialVignette(
        LN,
        "active miliary tuberculosis (ICD-10-CM A19.9)",
        change(lambda b: b.condition(ICD10, "A19.9", onset_days=10)),
        {"E3": F},
        NO,
    ),
    # ICD-10-CM J12-J17: pneumonia of a named organism; J18 is only "organism unspecified"
    TrialVignette(
        LN,
        "active pneumococcal pneumonia (ICD-10-CM J13)",
        change(lambda b: b.condition(ICD10, "J13", onset_days=3)),
        {"E3": F},
        NO,
    ),
    TrialVignette(
        LN,
        "active COVID-19 pneumonia (ICD-10-CM J12.82)",
        change(lambda b: b.condition(ICD10, "J12.82", onset_days=3)),
        {"E3": F},
        NO,
    ),
    TrialVignette(
        LN,
        "active influenza with pneumonia (ICD-10-CM J11.00)",
        change(lambda b: b.condition(ICD10, "J11.00", onset_days=3)),
        {"E3": F},
        NO,
    ),
    TrialVignette(
        LN,
        "active bacterial sepsis (SNOMED 10001005, the FHIR specification's sepsis example)",
        change(lambda b: b.condition(SNOMED, "10001005", onset_days=3)),
        {"E3": F},
        NO,
    ),
    TrialVignette(
        LN,
        "tuberculosis sequelae only (ICD-10-CM B90.9) is not active tuberculosis",
        change(lambda b: b.condition(ICD10, "B90.9", onset_days=10)),
        {},
        OK,
    ),
    TrialVignette(
        LN, "infection not attested", change(fact(UNCURED_INFECTION, None)), {"E3": U}, UND
    ),
    TrialVignette(
        LN,
        "a no to uncontrolled or treatment-requiring infection does not clear E3",
        change(fact(UNCURED_INFECTION, None), fact("uncontrolled-infection", False)),
        {"E3": U},
        UND,
        {"E3": "not cured"},
    ),
    TrialVignette(
        LN,
        "an active infection not yet cured excludes",
        change(fact(UNCURED_INFECTION, True)),
        {"E3": F},
        NO,
    ),
    TrialVignette(
        LN,
        "HBsAg positive with detectable HBV DNA",
        change(
            drop(LOINC, "5196-1"),
            lambda b: b.observation(LOINC, "5196-1", ago(20), coded=POSITIVE),
            lambda b: b.lab("29615-2", 5000, "[IU]/mL", days=20),
        ),
        {"E4": F},
        NO,
    ),
    TrialVignette(
        LN,
        "HBsAg positive, no HBV DNA",
        change(
            drop(LOINC, "5196-1"), lambda b: b.observation(LOINC, "5196-1", ago(20), coded=POSITIVE)
        ),
        {"E4": U},
        UND,
    ),
    TrialVignette(
        LN,
        "investigator: excluded by an unpublished criterion",
        change(fact(CATCH_ALL_LN, True)),
        {"E5": F},
        NO,
    ),
    TrialVignette(
        LN,
        "investigator has not reviewed the full protocol",
        change(fact(CATCH_ALL_LN, None)),
        {"E5": U},
        UND,
    ),
    TrialVignette(
        LN,
        "a no recorded for NCT06946485's full protocol leaves E5 unknown",
        change(fact(CATCH_ALL_LN, None), fact(CATCH_ALL_CHT101, False)),
        {"E5": U},
        UND,
        {"E5": "TRIALX-323795"},
    ),
    TrialVignette(
        LN,
        "a no to the shared unnamed catch-all leaves E5 unknown",
        change(fact(CATCH_ALL_LN, None), fact(SHARED_CATCH_ALL, False)),
        {"E5": U},
        UND,
        {"E5": "TRIALX-323795"},
    ),
]
