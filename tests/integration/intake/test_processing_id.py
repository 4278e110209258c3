"""INTAKE_HL7V2_PROCESSING_IDS through the real HTTP API and database (probe round 6): a
training message (HL7 v2.5.1 2.14.9.11 MSH-11 ``T``, table 0103) arriving after a production
platelet count of 8 must not reach the record with its 180 (which would make the vignette
patient eligible). By default (P) it is refused whole at MSH.11 and nothing of it is staged;
a site that sets ``P,T`` (a test deployment) reads it."""

from __future__ import annotations

import pytest

from tests.integration.intake.harness import HL7, LAB, api_without_broker, migrate
from tests.integration.intake.test_patient_identity import events

pytestmark = pytest.mark.integration


def oru(processing_id: str, control_id: str, platelets: str, sent: str) -> bytes:
    return ("\r".join([
        f"MSH|^~\\&|LIS|lab-system|TW|TW|{sent}+0000||ORU^R01|{control_id}|{processing_id}|2.5.1",
        "PID|1||MRN-V1^^^CITY^MR||Roe^Jane||19900412|F",
        f"OBR|1|||58410-2^CBC^LN|||{sent}+0000",
        f"OBX|1|NM|777-3^Platelets^LN||{platelets}|10*9/L|150-400||||F|||{sent}+0000",
    ]) + "\r").encode()


def platelet_values(staged: list[object]) -> list[float]:
    return [fact.value_quantity.value for event in staged
            for fact in getattr(event, "facts", ()) if fact.value_quantity]


async def test_a_training_message_after_a_production_count_is_refused_and_never_staged(
    database_url: str,
) -> None:
    await migrate(database_url)
    production = oru("P", "PROD-1", "8", "20261128080000")
    training = oru("T", "TRAIN-1", "180", "20261128090000")
    async with api_without_broker(database_url) as (client, _):
        accepted = await client.post("/hl7v2", headers=LAB | HL7, content=production)
        assert accepted.status_code == 202, accepted.text
        refused = await client.post("/hl7v2", headers=LAB | HL7, content=training)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{
            "path": "MSH.11",
            "reason": "processing id T (training, HL7 v2.5.1 table 0103) is not accepted by"
                      " this site; INTAKE_HL7V2_PROCESSING_IDS lists P"}]
    assert platelet_values(await events(database_url)) == [8]


async def test_a_site_accepting_a_test_feed_reads_the_training_message(
    database_url: str,
) -> None:
    await migrate(database_url)
    training = oru("T", "TRAIN-2", "180", "20261128090000")
    async with api_without_broker(database_url, hl7v2_processing_ids="P,T") as (client, _):
        accepted = await client.post("/hl7v2", headers=LAB | HL7, content=training)
        assert accepted.status_code == 202, accepted.text
    assert platelet_values(await events(database_url)) == [180]
