"""The real intake (build_app: its composition root, database and broker) names in its 202
receipt a result coded only in the lab's own codes (HL7 v2.5.1 2A.3.13 CWE, table 0396 ``L``)
that no active trial's criteria read, at ``OBX[2].3``; the LOINC-coded one beside it is read.
The same message with the site's code crosswalk (``CLINICAL_LOCAL_CODES_FILE``) installed at
start-up is read as LOINC 777-3: no warning, and the result carries the crosswalk's note.

Run in the suite's order after ``test_relay_leadership`` and ``test_site_scope``, this test
hung 3 of 3 (SQLite and PostgreSQL): a commit woke intake's idle outbox relay just as the
lifespan cancelled it, Python 3.11's ``asyncio.wait_for`` dropped the cancellation (CPython
gh-86296) and the relay polled on while the shutdown waited for it. ``running_intake`` now
also checks that intake's shutdown ends in bounded time with none of its tasks left."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.clinical.local_codes import use_site_crosswalk
from shared.settings import KafkaSettings
from tests.integration.intake.harness import HL7, LAB, migrate, running_intake, settings_for

pytestmark = pytest.mark.integration

ORU = "\r".join([
    "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01|M-UNSCREENED-1|P|2.5.1",
    "PID|1||MRN-UNSCREENED^^^CITY^MR||Roe^Jane||19900412|F",
    "OBR|1|ORD-U1|FIL-U1|58410-2^CBC^LN|||20261128080000+0000",
    "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
    "OBX|2|NM|PLT^Platelets^L||45|10*3/uL|150-400|L|||F|||20261128083000+0000",
]).encode()


async def test_the_receipt_names_a_local_code_no_criterion_reads_and_the_crosswalk_maps_it(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await migrate(database_url)
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        response = await intake.post("/hl7v2", headers=LAB | HL7, content=ORU)
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
        async with running_intake(settings_for(database_url), kafka_settings) as intake:
            response = await intake.post("/hl7v2", headers=LAB | HL7,
                                         content=ORU.replace(b"M-UNSCREENED-1", b"M-U-2"))
    finally:
        use_site_crosswalk({})
    assert response.status_code == 202, response.text
    warnings = response.json()["warnings"]
    assert not [w for w in warnings if "not screened" in w["reason"]]
    assert any(w["path"] == "OBX[2].3" and "site code crosswalk" in w["reason"]
               for w in warnings)


async def test_the_receipt_says_a_drug_coded_as_two_drugs_will_not_be_read(
    database_url: str, kafka_settings: KafkaSettings,
) -> None:
    """The real intake (its composition root's ``RegistryScreenedCodes``) names an RDE^O11
    whose RXE-2 give code is prednisone (RxNorm 8640) with hydroxychloroquine 200 MG Oral
    Tablet (979092) as its alternate identifier (HL7 v2.5.1 2A.3.13 CWE-4..6: the same
    concept): the engine keeps it unread (``drugs_disagree``), the receipt says so at RXE[1].2."""
    rde = "\r".join([
        "MSH|^~\\&|PHARM|HOSP|TW|TW|20261128090000+0000||RDE^O11^RDE_O11|M-DRUGS-1|P|2.5.1",
        "PID|1||MRN-DRUGS^^^CITY^MR||Roe^Jane||19900412|F",
        "ORC|RE|PL-D1^EHR|FL-D1^PHARM||CM||||20261101090000+0000",
        "RXE||8640^prednisone^RXN^979092^hydroxychloroquine 200 MG^RXN|5||mg^milligram^UCUM",
        "TQ1|1||Q24H||||20261101090000+0000|20261128090000+0000",
    ]).encode()
    await migrate(database_url)
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        response = await intake.post("/hl7v2", headers=LAB | HL7, content=rde)
    assert response.status_code == 202, response.text
    [warning] = [w for w in response.json()["warnings"] if "different drugs" in w["reason"]]
    assert warning["path"] == "RXE[1].2"
    assert "RxNorm 8640" in warning["reason"]
    assert "RxNorm 979092" in warning["reason"]
    assert "will not be read" in warning["reason"]
