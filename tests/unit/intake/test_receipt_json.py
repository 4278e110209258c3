"""The 202 receipt body is built directly (orjson) and is byte for byte what FastAPI sent for
the ``ReceiptBody`` response model: ``model_dump(mode="json")`` rendered by ``JSONResponse``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.responses import JSONResponse

from services.intake.adapters.http.api import ReceiptBody, receipt_json
from services.intake.core.receipts import EntryReceipt, Note, Receipt


def _receipt(received_at: datetime, reason: str = "kept unread") -> Receipt:
    return Receipt(
        receipt_id=uuid.uuid4(), client="lab", format="fhir-r4", received_at=received_at,
        patient_keys=("pt_" + "a" * 32, "pt_" + "b" * 32),
        event_ids=(uuid.uuid4(), uuid.uuid4()),
        entries=(
            EntryReceipt("Bundle.entry[0]", "Observation", "accepted"),
            EntryReceipt("Bundle.entry[1]", None, "refused",
                         problems=(Note("Bundle.entry[1].resource.code", reason),),
                         warnings=(Note("Bundle.entry[1].resource.valueString", "x\ty"),)),
        ),
        warnings=(Note("OBX[2].5", reason),),
    )


@pytest.mark.parametrize("receipt", [
    _receipt(datetime(2026, 12, 2, 13, 0, tzinfo=UTC)),  # no fraction of a second
    _receipt(datetime(2026, 12, 2, 13, 0, 0, 120, tzinfo=UTC)),
    _receipt(datetime(2026, 12, 2, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))),
    _receipt(datetime.now(UTC), "Hämoglobin \u2028 \U0001f600 \"quoted\" \\ \x01 \x7f"),
    Receipt(uuid.uuid4(), "lab", "hl7v2", datetime.now(UTC), (), ()),
    # a warning that a fact is screened by no criterion carries its codes
    Receipt(uuid.uuid4(), "lab", "hl7v2", datetime.now(UTC), (), (),
            entries=(EntryReceipt("OBX[2]", "OBX", "accepted", warnings=(
                Note("OBX[2].3", "not screened", ("L|PLT",)),)),),
            warnings=(Note("OBX[2].3", "not screened", ("L|PLT", "http://loinc.org|1-8")),)),
])
def test_the_receipt_bytes_are_what_the_response_model_sent(receipt: Receipt) -> None:
    before = JSONResponse(ReceiptBody.of(receipt).model_dump(mode="json")).body
    assert receipt_json(receipt) == before
