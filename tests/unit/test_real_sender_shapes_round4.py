"""Probe round 4: real-sender shapes found silently wrong, through normaliser and engine.

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) with one entry changed or added, or the vignette plus a small HL7
v2 message, as the cited sender or standard writes it. Before the fix each was read as
something it is not (or dropped without trace) and left her ELIGIBLE; now each is read
exactly, refused with its path, or kept unread so that the criterion reading it is
``unknown``. The round's full table (shapes read, refused, unread) is in
``/work/notes/probe4.md``.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from tests.unit.test_real_feed_examples import (
    UCUM,
    Json,
    _bundle,
    decide,
)

WHEN = "2026-02-28T09:00:00Z"
OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)
LOW_COUNT = {"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}


def _problems(call: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return tuple(str(problem) for problem in refused.value.problems)


def _reason(decision: Any, criterion: str) -> str:
    return str(next(r.reason for r in decision.criteria if r.id == criterion))


# --- transaction entries that do not create or update --------------------------------------

PATCH_BINARY = {"resourceType": "Binary", "contentType": "application/json-patch+json",
                "data": "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii92YWx1ZVF1YW50aXR5L3ZhbHVl"
                        "IiwidmFsdWUiOjh9XQ=="}


# FHIR R4 http 3.1.0.5.1 (patch) and Bundle.entry.request.method (http-verb): a PATCH entry's
# resource is a Binary (JSON/XML patch) or a Parameters (FHIRPath patch) that changes elements
# of the target not sent. Senders do this: hapifhir/hapi-fhir#3574 posts exactly this shape (a
# transaction entry, Binary application/json-patch+json, method PATCH); microsoft/fhir-server
# #2143 and HL7/fhir#1968 (FHIR-33945) added it. Here the patch sets the vignette's
# platelet count obs-13 to 8 ('[{"op":"replace","path":"/valueQuantity/value","value":8}]'):
# the Binary was skipped as a type not read, the 180 still decided: ELIGIBLE, no trace.
def test_a_patch_entry_is_refused_at_its_method_never_skipped() -> None:
    def patch(bundle: Json) -> None:
        bundle["entry"].append({"fullUrl": "urn:uuid:patch-1", "resource": PATCH_BINARY,
                                "request": {"method": "PATCH", "url": "Observation/obs-13"}})

    problems = _problems(lambda: decide(_bundle(patch)))
    assert any(p.startswith("Bundle.entry[46].request.method: PATCH is not carried out")
               for p in problems)


# FHIR R4 Bundle.entry.request.method DELETE: the resource at url is deleted (GET: it is only
# read). A DELETE sent with the deleted resource still in entry.resource (a generator filling
# entry.resource for every entry) was read as an update: the deleted platelet count of 180
# decided I6.1 and she was ELIGIBLE. Before, only a DELETE without a resource was refused.
@pytest.mark.parametrize("method", ["DELETE", "GET"])
def test_a_delete_or_get_sent_with_a_resource_is_refused_never_read_as_an_update(
    method: str,
) -> None:
    def delete(bundle: Json) -> None:
        entry = next(e for e in bundle["entry"] if e["resource"].get("id") == "obs-13")
        entry["request"] = {"method": method, "url": "Observation/obs-13"}

    problems = _problems(lambda: decide(_bundle(delete)))
    assert any(".request.method: " + method + " is not carried out" in p for p in problems)
