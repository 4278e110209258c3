"""Which of a patient's medical record numbers is this site's: the site's own assigning authority.

A patient relayed by an HIE or a reference lab carries the medical record number (MRN) of each
facility it knows, each under that facility's assigning authority: HL7 v2.5.1 3.4.2.3 PID-3
repeats one CX per identifier (CX-4 assigning authority, an HD: namespace id & universal id &
universal id type, 2A.3.33; CX-5 identifier type, table 0203 ``MR``), FHIR R4
Patient.identifier 0..* likewise (Identifier.system, Identifier.type v2-0203 ``MR``). Which
number is this site's is not in the message; it is in the site's configuration (intake's
``INTAKE_MRN_ASSIGNING_AUTHORITY``), given here as ``site``: the names that authority is sent
under.

An MR identifier is under the site's authority when one of its names is in ``site``:
FHIR: its Identifier.system, exactly; HL7 v2: its CX-4 namespace id (HD-1, ``TEST-EHR``), or
its universal id written as FHIR writes a system (HD-2/3: ``ISO`` -> ``urn:oid:<id>``,
``UUID`` -> ``urn:uuid:<id>``, ``URI`` -> the id; ``hl7v2_patients.identifier_system``), so
one setting ``TEST-EHR,urn:oid:1.2.4`` names the authority in both formats.

With ``site`` set, the patient's number is the MR value under it; the other MR numbers are
other facilities' and are not used (the receipt names their authorities, never a value:
identifiers are PHI). No MR number under it, or two different ones, is refused: never a fall
back to another facility's number or to the resource id, which would file the results under a
key no one at this site screens. With ``site`` empty, behaviour is as before: one MR value is
read, two different ones are refused (``fhir_resources.several_record_numbers``,
``hl7v2_patients.several_record_numbers``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MrIdentifier:
    """One identifier typed MR as sent: the ``names`` its assigning authority goes by (see the
    module docstring), a ``label`` for that authority to show a sender (an authority is an
    organisation, not PHI: never the value) and the ``value`` (PHI: never shown)."""

    names: frozenset[str]
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class SiteRecordNumber:
    """The site's MR value (``value``), or why none can be taken (``problem``); ``unused``:
    a warning naming the other facilities' authorities whose numbers were not used, or None."""

    value: str | None
    problem: str | None = None
    unused: str | None = None


def site_record_number(
    identifiers: Sequence[MrIdentifier], site: Collection[str], standard: str
) -> SiteRecordNumber:
    """The MR number under the site's assigning authority ``site`` (its names, non-empty).

    ``standard`` names the element definition the caller reads (for the reasons). Refused
    (``problem``) when no MR number is under ``site`` or two different ones are; neither reason
    nor warning names a value (PHI).
    """
    names = frozenset(site)
    ours = list(dict.fromkeys(i.value for i in identifiers if i.names & names))
    elsewhere = [i for i in identifiers if not i.names & names]
    others = list(dict.fromkeys(i.label for i in elsewhere))
    configured = ", ".join(sorted(site))
    if len(ours) > 1:
        return SiteRecordNumber(None, problem=(
            f"{len(ours)} different medical record numbers under this site's assigning authority"
            f" ({configured}; {standard}): which is the patient's is not in the message"))
    if not ours:
        found = (f"{len(elsewhere)} medical record number(s) under other assigning authorities"
                 f" ({', '.join(others)})" if identifiers else "no medical record number")
        return SiteRecordNumber(None, problem=(
            f"no medical record number under this site's assigning authority ({configured};"
            f" {standard}): {found}; another facility's number is never taken for this site's"))
    unused = (f"{len(elsewhere)} medical record number(s) under other assigning authorities"
              f" ({', '.join(others)}) not used: other facilities' numbers; the patient is this"
              f" site's number ({configured}; {standard})") if others else None
    return SiteRecordNumber(ours[0], unused=unused)
