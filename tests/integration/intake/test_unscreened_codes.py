"""The real intake API over the real database names in its 202 receipt a result coded only in
the lab's own codes (HL7 v2.5.1 2A.3.13 CWE, table 0396 ``L``) that no active trial's criteria
read, at ``OBX[2].3``; the LOINC-coded one beside it is read. The same message with the site's
code crosswalk (``CLINICAL_LOCAL_CODES_FILE``) installed as the composition root installs it
is read as LOINC 777-3: no warning, and the result carries the crosswalk's note.

The receipt is answered before anything is published, so the app is the intake API and its
runtime over the real database and the real trial files (``TrialFileCodes``, as
``services.intake.bootstrap`` wires them), without the broker (as ``fuzz_api.fuzz_app``).
Started with the broker (``running_intake``), this test hung in the suite's order after
``test_relay_leadership``: intake's shutdown waited on its cancelled outbox relay (open)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.pool import NullPool

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.adapters.sql.database import make_intake_engine
from services.intake.adapters.sql.store import sql_unit_of_work
from services.intake.adapters.trial_codes import TrialFileCodes
from services.intake.bootstrap import utc_now
from shared.clinical.local_codes import use_site_crosswalk
from shared.infra.auth import TokenRegistry
from shared.infra.local_codes import install_site_local_codes
from shared.infra.sql_engine import make_sessionmaker
from tests.integration.intake.harness import HL7, LAB, migrate, settings_for

pytestmark = pytest.mark.integration

ORU = "\r".join([
    "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01|M-UNSCREENED-1|P|2.5.1",
    "PID|1||MRN-UNSCREENED^^^CITY^MR||Roe^Jane||19900412|F",
    "OBR|1|ORD-U1|FIL-U1|58410-2^CBC^LN|||20261128080000+0000",
    "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
    "OBX|2|NM|PLT^Platelets^L||45|10*3/uL|150-400|L|||F|||20261128083000+0000",
]).encode()


def intake_api(database_url: str) -> FastAPI:
    """The intake API and runtime over the real database and trial files, no broker."""
    settings = settings_for(database_url)
    engine = make_intake_engine(database_url, poolclass=NullPool)
    app = create_api()
    app.state.tokens = TokenRegistry.from_settings(settings)
    app.state.intake = IntakeRuntime(
        settings, sql_unit_of_work(make_sessionmaker(engine), utc_now), utc_now, lambda: None,
        screened=TrialFileCodes(settings.trials_dir))
    return app


async def post(app: FastAPI, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        return await client.post("/hl7v2", headers=LAB | HL7, content=body)


async def test_the_receipt_names_a_local_code_no_criterion_reads_and_the_crosswalk_maps_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await migrate(database_url)
    response = await post(intake_api(database_url), ORU)
    assert response.status_code == 202, response.text
    unscreened = [w for w in response.json()["warnings"] if "not screened" in w["reason"]]
    assert [w["path"] for w in unscreened] == ["OBX[2].3"]
    assert "CLINICAL_LOCAL_CODES_FILE" in unscreened[0]["reason"]
    # intake's source system is the submitting client: the harness's unnamed lab-system token
    # is named "lab-system-client" (shared.token_claims)
    sender = "lab-system-client"

    crosswalk = tmp_path / "codes.yaml"
    crosswalk.write_text(
        f"codes:\n  - {{source: {sender}, system: L, code: PLT, loinc: '777-3',"
        " by: 'lab informatics', why: 'LIS catalogue: PLT is the blood platelet count'}\n",
        "utf-8")
    monkeypatch.setenv("CLINICAL_LOCAL_CODES_FILE", str(crosswalk))
    try:
        install_site_local_codes()  # as services.intake.bootstrap does at start-up
        response = await post(intake_api(database_url), ORU.replace(b"M-UNSCREENED-1", b"M-U-2"))
    finally:
        use_site_crosswalk({})
    assert response.status_code == 202, response.text
    warnings = response.json()["warnings"]
    assert not [w for w in warnings if "not screened" in w["reason"]]
    assert any(w["path"] == "OBX[2].3" and "site code crosswalk" in w["reason"]
               for w in warnings)
