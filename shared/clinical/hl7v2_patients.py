"""HL7 v2 patient status and identity: PID-29/30 (death) and ADT^A40 merges (v2.5.1 ch. 3).

PID-29 (Patient Death Date and Time, TS) and PID-30 (Patient Death Indicator, ID, HL7 table
0136 Yes/no Indicator: ``Y``, ``N``, exact, v2.5.1 3.4.2.30 and 2A.3.35) say a patient has
died: ``Y``, or a death date with no indicator, is deceased; ``N`` with a death date contradicts
itself and is refused, as is any other indicator value (the words ``YES``/``NO``, another case:
reading them as Y/N would guess what the sender meant).

ADT^A40 ("merge patient - patient identifier list", v2.5.1 3.3.40) carries, per merge, a PID
(the surviving patient, PID-3) and an MRG (MRG-1, the prior patient identifier list: the record
merged away). Each MRG becomes a ``PatientUpdate`` for the prior identifier whose
``merged_into`` names the survivor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from shared.clinical.facts import SourcePatient
from shared.clinical.hl7v2_values import ObxField
from shared.clinical.reading import ProblemLog
from shared.clinical.record_numbers import MrIdentifier, SiteRecordNumber, site_record_number
from shared.clinical.times import NoTimeZone, TimeFormatError

MERGE_MESSAGE = ("ADT", "A40")
# HL7 v2.5.1 table 0136 (Yes/no Indicator): Y yes, N no, and nothing else (ID, 2A.3.35). Real
# feeds also spell the words out (LAB-ORU-1 sends PID-30 "NO"): refused, as any value outside
# the table is (before: read as N / Y)
_YES_NO = {"Y": True, "N": False}


def medical_record_number(identifiers: ObxField) -> str | None:
    """The CX repetition typed MR (CX-5, HL7 table 0203), else the first identifier."""
    return next(
        (
            identifiers.component(0, index)
            for index in range(len(identifiers.repetitions))
            if identifiers.component(4, index) == "MR" and identifiers.component(0, index)
        ),
        identifiers.component(0) or None,
    )


def several_record_numbers(identifiers: ObxField) -> str | None:
    """The reason to refuse a PID-3 (or MRG-1) that carries more than one different value typed
    MR (CX-5, HL7 v2.5.1 table 0203), else None.

    PID-3 repeats, one repetition per identifier (v2.5.1 3.4.2.3); a message relayed by an HIE
    or a reference lab carries the medical record number of each facility it knows, each with
    its own assigning authority (CX-4). TrialWatch files a patient under one medical record
    number, and which of two is this site's is not in the message: taking the first filed a
    result under another facility's number, where it reached no one's screening. The same
    number spelled under two authorities is one number. The reason names no value (PHI).
    """
    numbers = {
        identifiers.component(0, index)
        for index in range(len(identifiers.repetitions))
        if identifiers.component(4, index) == "MR" and identifiers.component(0, index)
    }
    if len(numbers) < 2:
        return None
    return (f"{len(numbers)} different medical record numbers (CX-5 MR, table 0203; v2.5.1"
            " 3.4.2.3): which is this site's is not in the message; send this site's only")


_PID_3 = "CX-4 assigning authority, CX-5 MR; HL7 v2.5.1 3.4.2.3, 2A.3.33 HD"


def site_mrn(
    identifiers: ObxField, site: Collection[str], subcomponent: str = "&"
) -> SiteRecordNumber:
    """PID-3 (or MRG-1) read with the site's own assigning authority ``site`` (non-empty; see
    ``shared.clinical.record_numbers``): the repetition typed MR (CX-5, table 0203) whose CX-4
    namespace id (HD-1) or universal id as a system (HD-2/3, ``identifier_system``) is one of
    ``site`` is the patient's number; the other MR repetitions are other facilities'."""
    found = []
    for index in range(len(identifiers.repetitions)):
        value = identifiers.component(0, index)
        if identifiers.component(4, index) != "MR" or not value:
            continue
        authority = identifiers.component(3, index)
        namespace = authority.split(subcomponent)[0].strip()
        system = identifier_system(authority, subcomponent)
        names = frozenset(name for name in (namespace, system) if name)
        label = authority.strip() or "no assigning authority"
        found.append(MrIdentifier(names, label, value))
    return site_record_number(found, site, _PID_3)


def identifier_system(authority: str, subcomponent: str = "&") -> str | None:
    """CX-4 (assigning authority, HD: namespace id & universal id & universal id type; HL7
    v2.5.1 2.A.14 CX, 2.A.33 HD) as a FHIR R4 Identifier.system, or None.

    As the HL7 v2-to-FHIR mapping of HD does: universal id type ``ISO`` -> ``urn:oid:<id>``,
    ``UUID`` -> ``urn:uuid:<id>``, ``URI`` -> the id itself. A namespace id alone (``CITY``)
    is a local name, not a URI: no system is claimed for it (as a FHIR identifier without a
    system is not kept).
    """
    parts = [part.strip() for part in authority.split(subcomponent)]
    universal = parts[1] if len(parts) > 1 else ""
    kind = parts[2].upper() if len(parts) > 2 else ""
    if not universal:
        return None
    if kind == "ISO":
        return f"urn:oid:{universal}"
    if kind == "UUID":
        return f"urn:uuid:{universal}"
    if kind == "URI":
        return universal
    return None


def identifier_aliases(identifiers: ObxField, subcomponent: str = "&") -> tuple[str, ...]:
    """``identifier:<system>|<value>`` for each PID-3 (or MRG-1) repetition whose CX-4 names
    its assigning authority as a URI (``identifier_system``), as FHIR Patient.identifier is
    kept (``fhir_patients.identifier_alias``)."""
    names = []
    for index in range(len(identifiers.repetitions)):
        value = identifiers.component(0, index)
        system = identifier_system(identifiers.component(3, index), subcomponent)
        if value and system:
            names.append(f"identifier:{system}|{value}")
    return tuple(dict.fromkeys(names))


def deceased(
    reader: ProblemLog,
    death_time: ObxField,
    indicator: ObxField,
    read_time: Callable[[str], object],
) -> bool | None:
    """PID-29/30 as ``Demographics.deceased``; ``None`` when neither is valued."""
    when = death_time.component(0)
    if when:
        try:
            read_time(when)
        except NoTimeZone:
            pass  # the date of death is not used as a time: that there is one is what counts
        except TimeFormatError as error:
            reader.problem(death_time.path, str(error))
    flag = indicator.component(0)  # table 0136 Y/N as written (v2.5.1 2A.3.35 ID)
    if flag and flag not in _YES_NO:
        reader.problem(indicator.path, (
            f"death indicator {flag!r} is not Y or N (HL7 v2.5.1 table 0136 Yes/no Indicator,"
            " PID-30 3.4.2.30; codes are exact, 2A.3.35 ID): whether the patient has died is"
            " not read from any other spelling"))
        return None
    if flag and not _YES_NO[flag] and when:
        reader.problem(indicator.path, "death indicator N contradicts the death date in PID-29")
        return None
    if flag:
        return _YES_NO[flag]
    return True if when else None


def prior_patient(
    reader: ProblemLog, mrg: ObxField, survivor: str | None, site: Collection[str] = (),
    subcomponent: str = "&",
) -> SourcePatient | None:
    """MRG-1 as the record merged away; refused when empty or the survivor itself. With the
    site's own assigning authority ``site``, MRG-1's number under it (``site_mrn``; refused
    at MRG-1 when there is none or two)."""
    if site:
        chosen = site_mrn(mrg, site, subcomponent)
        if chosen.problem is not None:
            reader.problem(mrg.path, chosen.problem)
            return None
        prior = chosen.value
    else:
        prior = medical_record_number(mrg)
    if not prior:
        reader.problem(mrg.path, "MRG-1 names no prior patient identifier: nothing to merge")
        return None
    if prior == survivor:
        reader.problem(mrg.path, "MRG-1 names the surviving patient itself (PID-3)")
        return None
    return SourcePatient(source_patient_id=prior)
