"""Intake on Kafka: the raw upstream topic subscription.

The raw upstream topic: each message is a submission, exactly as if it had been POSTed.

Headers: ``content-type`` (as for HTTP), ``source-system`` (the sender's name, the namespace
of its patient ids), optionally ``idempotency-key``, optionally ``format`` (an input
format's name, for a format read only when named, such as FHIR Subscription notifications;
by default the content type names the format), and optionally ``trialwatch-site``: the site
the patients belong to, one of ``INTAKE_RAW_SITES`` (chosen as for a lab token's sites claim:
``shared.infra.auth.submitting_site``; a site not allowed, or none named where several are,
goes to the raw dead letter). A redelivery after a crash publishes
nothing twice: the same content maps to the same receipt (see ``idempotency``).
What intake refuses goes to the dead-letter topic with the reason; a transient failure
(database away) backs off and raises, so the message is redelivered and nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from faststream.message.utils import encode_message

from services.intake.adapters import metrics
from services.intake.adapters.telemetry import count_refusal, log_acceptance
from services.intake.core.accept import DEFAULT_PUBLISH_LIMIT, Submission, accept
from services.intake.core.idempotency import IDEMPOTENCY_KEY_PATTERN
from services.intake.core.media import media_type
from services.intake.core.normalise import identifier_problem
from services.intake.core.ports import ScreenedCodes, UnitOfWork
from services.intake.core.publish_limit import PublishLimit
from services.intake.core.refusals import (
    MalformedInput,
    PayloadTooLarge,
    Refusal,
    SiteNotAllowed,
    SiteRequired,
)
from shared.clinical.hl7v2 import DEFAULT_PROCESSING_IDS
from shared.contracts.channels import INTAKE_RAW
from shared.contracts.topics import PATIENT_HOLDS, REIDENTIFICATIONS
from shared.infra.auth import Principal, Role, SiteChoiceRefused, submitting_site
from shared.infra.backoff import Backoff
from shared.infra.dead_letters import DeadLetters
from shared.infra.messaging import subscribe
from shared.infra.signing import EventSigner, SigningPublisher
from shared.settings import IntakeSettings, KafkaSettings

log = structlog.get_logger(__name__)

SITE_HEADER = "trialwatch-site"


class RawIntakeHandler:
    def __init__(
        self,
        transaction: UnitOfWork,
        dead_letters: DeadLetters,
        clock: Callable[[], datetime],
        *,
        default_source: str,
        max_body_bytes: int,
        on_accepted: Callable[[], None] = lambda: None,
        sender_zone: Callable[[str], tzinfo | None] = lambda source: None,
        publish_limit: PublishLimit = DEFAULT_PUBLISH_LIMIT,
        sites: frozenset[str] = frozenset(),
        screened: ScreenedCodes | None = None,
        site_mrn_authority: frozenset[str] = frozenset(),
        processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS,
    ) -> None:
        self._transaction = transaction
        self._site_mrn_authority = site_mrn_authority
        self._processing_ids = processing_ids
        self._screened = screened
        self._dead_letters = dead_letters
        self._clock = clock
        self._default_source = default_source
        self._max_body_bytes = max_body_bytes
        self._on_accepted = on_accepted
        self._sender_zone = sender_zone
        self._publish_limit = publish_limit
        self._sites = sites
        # Delays 0.2, 0.4, ... 5 s: the database is away, the message comes back.
        self._backoff = Backoff(first_s=0.2, max_s=5.0)

    async def handle(self, record: Any, headers: Mapping[str, str]) -> None:
        """``record`` is the aiokafka ConsumerRecord."""
        try:
            submission = self._submission(record, headers)
            acceptance = await accept(submission, self._transaction, self._clock,
                                      self._publish_limit, self._screened)
        except Refusal as refusal:
            await self._dead_letters.send(record, refusal.reason())
            count_refusal(refusal, channel="kafka", format_name="unknown")
            log.info("raw_refused", status=refusal.status, problem=refusal.slug,
                     partition=record.partition, offset=record.offset)
            return
        except Exception as error:
            log.warning("raw_transient_failure", error=type(error).__name__,
                        retry_in_s=self._backoff.next_delay_s)
            await self._backoff.pause()
            raise
        self._backoff.reset()
        outcome = "replayed" if acceptance.replayed else "accepted"
        metrics.SUBMISSIONS.labels("kafka", submission.media.format, outcome).inc()
        log_acceptance(acceptance, channel="kafka", client=submission.client)
        self._on_accepted()

    def _submission(self, record: Any, headers: Mapping[str, str]) -> Submission:
        media = media_type(headers.get("content-type"), headers.get("format"))
        body: bytes = record.value or b""
        if len(body) > self._max_body_bytes:
            raise PayloadTooLarge(f"the message is larger than {self._max_body_bytes} bytes")
        source = headers.get("source-system") or self._default_source
        if identifier_problem(source) is not None:
            raise MalformedInput("the source-system header is not a usable name")
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key is not None and not re.match(IDEMPOTENCY_KEY_PATTERN, idempotency_key):
            raise MalformedInput("the idempotency-key header must be 1-200 printable ASCII")
        return Submission(body=body, media=media, client=source, received_at=self._clock(),
                          idempotency_key=idempotency_key, sender_zone=self._sender_zone(source),
                          site_mrn_authority=self._site_mrn_authority,
                          processing_ids=self._processing_ids,
                          site=self._site(source, headers.get(SITE_HEADER)))

    def _site(self, source: str, named: str | None) -> str | None:
        """The site stamped on a raw message: the listener's allowed sites play the part of a
        lab token's sites claim, the ``trialwatch-site`` header the part of TrialWatch-Site."""
        listener = Principal(client=source, role=Role.LAB_SYSTEM, sites=self._sites)
        try:
            return submitting_site(listener, named)
        except SiteChoiceRefused as refused:
            if refused.status_code == 422:
                raise SiteRequired("several sites are allowed on the raw topic: name one in "
                                   "the trialwatch-site header") from None
            raise SiteNotAllowed("the trialwatch-site header names a site not allowed on the "
                                 "raw topic (INTAKE_RAW_SITES)") from None


def subscribe_raw(
    broker: KafkaBroker, kafka: KafkaSettings, settings: IntakeSettings, raw: RawIntakeHandler
) -> None:
    """Subscribe ``raw`` to the raw upstream topic (``channels.INTAKE_RAW``); offsets are
    committed only after the handler returns."""
    subscribe(broker, kafka, INTAKE_RAW, raw.handle, group_id=settings.raw_group_id)


def broker_json(document: Any) -> bytes:
    """A JSON document as the broker's publisher encodes it (FastStream: orjson when
    installed, else json.dumps), so intake measures events as they will be sent."""
    encoded, _ = encode_message(document, None)
    return encoded


def signing_publisher(broker: KafkaBroker, settings: IntakeSettings) -> SigningPublisher:
    """What intake's outbox relay publishes through: ``broker``, with every hold notice
    (``patient.holds.v1``) and every re-identification and look-up event
    (``intake.reidentifications.v1``) signed by intake's key (INTAKE_SIGNING_KEY_FILE, created
    0600 on first use with its public half beside it) when it is published: the first send, a
    relay retry and a broker refill alike. The evaluator acts on no notice it cannot verify
    (EVALUATOR_INTAKE_KEYS), audit appends no re-identification it cannot verify
    (AUDIT_INTAKE_KEYS); patient events pass through unchanged."""
    return SigningPublisher(broker, EventSigner.from_file(settings.signing_key_path()),
                            (PATIENT_HOLDS, REIDENTIFICATIONS))
