"""``trialwatch asyncapi``: the AsyncAPI document, generated from the wire contracts in code.

Each channel is declared once here with the pydantic model that travels on it, so the document
cannot drift from ``shared.contracts``: a test regenerates it and compares with docs/asyncapi.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.contracts import topics
from shared.contracts.events import (
    CoordinatorActed,
    DeadLetter,
    DecisionMade,
    EligibilityAlert,
    PatientEvent,
)

DEFAULT_OUT = Path("docs/asyncapi.json")


def specification_broker() -> KafkaBroker:
    broker = KafkaBroker(
        "kafka:9092",
        description="Apache Kafka (KRaft) in production; the embedded Tansu broker locally.",
    )

    @broker.subscriber(topics.PATIENT_EVENTS, group_id="trialwatch-evaluator",
                       title="evaluator consumes patient events",
                       description="Keyed by surrogate patient key; per-patient order holds.")
    async def evaluator_consumes(event: PatientEvent) -> None:
        """Re-evaluate every active trial for the patient; a merge moves a record's facts."""

    @broker.subscriber(topics.DECISIONS, group_id="trialwatch-audit",
                       title="audit consumes decisions")
    async def audit_consumes(event: DecisionMade) -> None:
        """Append the decision to the tamper-evident record (idempotent by decision_id)."""

    @broker.subscriber(topics.COORDINATOR_ACTIONS, group_id="trialwatch-audit-actions",
                       title="audit consumes coordinator actions")
    async def audit_keeps_actions(event: CoordinatorActed) -> None:
        """Keep the action append-only (idempotent by action_id)."""

    broker.publisher(topics.INTAKE_RAW, title="upstream systems publish raw FHIR/HL7 v2",
                     description="Bytes as posted over HTTP; header content-type says which.",
                     schema=bytes)
    broker.publisher(topics.PATIENT_EVENTS, title="intake publishes patient events",
                     schema=PatientEvent)
    broker.publisher(topics.DECISIONS, title="evaluator publishes decisions", schema=DecisionMade)
    broker.publisher(topics.ALERTS, title="evaluator publishes eligibility alerts",
                     description="Coordinators subscribe: newly-eligible / no-longer-eligible.",
                     schema=EligibilityAlert)
    broker.publisher(topics.COORDINATOR_ACTIONS, title="evaluator publishes coordinator actions",
                     description="Acknowledged, contacted, not a candidate, enrolled, "
                                 "re-identified: one event per action in the coordinator app.",
                     schema=CoordinatorActed)
    for source in (topics.INTAKE_RAW, topics.PATIENT_EVENTS, topics.DECISIONS,
                   topics.COORDINATOR_ACTIONS):
        broker.publisher(topics.dead_letter(source), title=f"dead letters of {source}",
                         schema=DeadLetter)
    return broker


def document() -> dict[str, object]:
    spec = AsyncAPI(specification_broker(), title="TrialWatch events", version="1.0.0",
                    description="Wire contracts between intake, evaluator and audit.")
    return json.loads(spec.to_specification().to_json())


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "asyncapi", help="write the AsyncAPI document of the events",
        description="Write the AsyncAPI 3 document of every topic, its events and their "
                    "schemas, generated from the code (the project keeps it in "
                    "docs/asyncapi.json).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write it ('-' for stdout; default {DEFAULT_OUT}, "
                             "relative to the current folder)")
    parser.set_defaults(func=_write)


def _write(args: argparse.Namespace) -> int:
    text = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    if str(args.out) == "-":
        print(text, end="")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out.absolute()}")
    return 0
