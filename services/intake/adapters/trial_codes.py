"""The codes the active trials' criteria read: intake's ``ScreenedCodes``.

Intake shares no table with the evaluator. It starts from the trial files the evaluator
screens by default: the newest version of each trial in ``INTAKE_TRIALS_DIR`` (empty: the
trials shipped in ``shared/trials``, as ``EVALUATOR_TRIALS_DIR``), and then follows the
evaluator's trial registry live through ``trials.screening.v1`` (``TrialScreening``: per trial
id, the version screened now and the codes its criteria read, or none when deactivated or
retired), read from the beginning with no consumer group, the newest record of each trial
winning (``RegistryScreenedCodes`` and ``follow_registry``). So a version uploaded and
activated with ``POST /trials`` / ``trialwatch trials`` is screened in receipts within moments,
with no restart, and a retired trial's codes stop counting as screened.

Any local client can produce onto the topic, so a record is applied only when a trusted
evaluator key signed it (``INTAKE_EVALUATOR_KEYS``; ``shared.infra.signing.TrustedKeys``, the
evaluator signs each record when it publishes it, as it signs decisions for audit). A record
unsigned, signed by another or a retired key, or altered after signing is refused: logged at
warning level with partition, offset, refusal kind and key id (never its content) and not
applied, so it cannot make a code count as screened or stop counting.

Until the first record of a trial arrives (the broker away, an evaluator that has not started
yet), its folder file decides, as before: receipts may then name a code only a registry
version reads as "not screened" (a warning too many), or miss one for a trial the registry
stopped (a warning missing). These are receipt warnings only; no decision reads them.

What a trial reads is what its criteria's ``requirements`` name (``shared.eligibility.reads``:
value-set concepts, each score's inputs), matched as the engine matches them
(``shared.eligibility.index.Readable``: exact codes, ICD-10-CM code families, the project
CodeSystem of clinician facts read whole; RxNorm products through their ingredients).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog
from pydantic import ValidationError

from shared.clinical.codes import RXNORM
from shared.clinical.facts import ClinicalFact, Coding, FactKind, ReadingNote
from shared.clinical.medication_codes import INGREDIENT_SYSTEM
from shared.contracts.events import TrialScreening
from shared.contracts.signatures import event_digest
from shared.contracts.topics import TRIAL_SCREENING
from shared.eligibility.index import Readable, drugs_disagree, readable_codes
from shared.eligibility.loader import TRIALS_DIR, list_trials, load_trial_file
from shared.eligibility.reads import ReadCodes, trial_concepts, trial_read_codes
from shared.eligibility.reference_tables import TW_SYSTEM, Tables, load_tables
from shared.infra.backoff import Backoff
from shared.infra.kafka import groupless_consumer
from shared.infra.signing import TrustedKeys
from shared.settings import KafkaSettings

__all__ = ["RegistryScreenedCodes", "TrialFileCodes", "follow_registry", "trial_concepts",
           "verified"]

log = structlog.get_logger(__name__)


class TrialFileCodes:
    """``ScreenedCodes`` of the newest version of each trial in ``directory``; raises
    (``TrialFileError``) when a trial file cannot be compiled, so intake does not start."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or TRIALS_DIR
        trials = [load_trial_file(directory / trial_id / f"{versions[-1]}.yaml")
                  for trial_id, versions in list_trials(directory).items()]
        self._tables: Tables | None = trials[0].tables if trials else None
        # the tables a medication's codings are resolved through (``drugs_disagree``)
        self._drug_tables: Tables = self._tables or load_tables()
        self.by_trial: dict[str, ReadCodes] = {t.id: trial_read_codes(t) for t in trials}
        self._readable = _readable(self.by_trial)
        self.trial_ids = tuple(t.id for t in trials)

    def reads(self, kind: FactKind, codes: tuple[Coding, ...]) -> bool:
        return _reads(self._readable, self._tables, kind, codes)

    def drugs_disagree(self, fact: ClinicalFact) -> ReadingNote | None:
        return _drugs_disagree(self._drug_tables, fact)


class RegistryScreenedCodes:
    """``ScreenedCodes`` that follow the evaluator's registry: the folder's trials
    (``TrialFileCodes``) until ``apply`` is given a trial's ``TrialScreening`` record, then that
    record's codes (none when the trial is not active). Of two records of one trial the one
    with the later ``at`` (a tie: the later applied) is kept, so a state re-staged by an
    evaluator's start never undoes a newer change."""

    def __init__(self, directory: Path | None = None) -> None:
        folder = TrialFileCodes(directory)
        self._tables: Tables = folder._tables or load_tables()
        self._by_trial: dict[str, ReadCodes] = dict(folder.by_trial)
        self._at: dict[str, datetime] = {}
        self._readable = _readable(self._by_trial)
        self.records = 0

    @property
    def trial_ids(self) -> tuple[str, ...]:
        """The trials read now (those whose state is active or that only the folder names)."""
        return tuple(sorted(t for t, codes in self._by_trial.items()
                            if codes.keys or codes.prefixes))

    def apply(self, record: TrialScreening) -> bool:
        """Take one record of the topic; False when an older record than the one kept."""
        kept = self._at.get(record.trial_id)
        if kept is not None and record.at < kept:
            return False
        self._at[record.trial_id] = record.at
        self._by_trial[record.trial_id] = ReadCodes(
            tuple(record.codes),
            tuple(tuple(p.split("|", 1)) for p in record.prefixes),  # type: ignore[misc]
        )
        # a new object, swapped in whole: a submission read meanwhile sees one state or the other
        self._readable = _readable(self._by_trial)
        self.records += 1
        return True

    def reads(self, kind: FactKind, codes: tuple[Coding, ...]) -> bool:
        return _reads(self._readable, self._tables, kind, codes)

    def drugs_disagree(self, fact: ClinicalFact) -> ReadingNote | None:
        return _drugs_disagree(self._tables, fact)


def _drugs_disagree(tables: Tables, fact: ClinicalFact) -> ReadingNote | None:
    """The engine's own check (``shared.eligibility.index.drugs_disagree``) with the inputs the
    engine gives it: the tables' product roll-up and every drug value set of the tables
    (``readable_codes``), not only the codes the active trials read."""
    return drugs_disagree(fact, tables.product_ingredients, readable_codes(tables))


def _readable(by_trial: dict[str, ReadCodes]) -> Readable:
    return Readable([codes.as_concept(trial) for trial, codes in by_trial.items()],
                    (TW_SYSTEM,))


def _reads(readable: Readable, tables: Tables | None, kind: FactKind,
           codes: tuple[Coding, ...]) -> bool:
    for coding in codes:
        if readable(coding.system, coding.code):
            return True
        if coding.system == INGREDIENT_SYSTEM and readable(RXNORM, coding.code):
            return True  # an ingredient the site medication crosswalk listed
        if kind is FactKind.MEDICATION and coding.system == RXNORM and tables:
            ingredients = tables.product_ingredients.get(coding.code, ())
            if any(readable(RXNORM, ingredient) for ingredient in ingredients):
                return True
    return False


async def follow_registry(codes: RegistryScreenedCodes, kafka: KafkaSettings,
                          keys: TrustedKeys) -> None:
    """Keep ``codes`` following ``trials.screening.v1`` for the life of the process: every
    partition from the beginning (no consumer group: every intake process reads it all), then
    as records arrive; reconnects after a broker outage and reads it all again. A record that
    is not a ``TrialScreening``, or that no key of ``keys`` signed (``verified``), is logged
    (partition, offset; no content) and skipped."""
    backoff = Backoff(first_s=0.5, max_s=10.0)
    while True:
        try:
            await _follow(codes, kafka, keys, on_connected=backoff.reset)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("trial registry feed interrupted", error=type(error).__name__)
            await backoff.pause()


def verified(value: bytes, keys: TrustedKeys, *, partition: int,
             offset: int) -> TrialScreening | None:
    """The record ``value`` as a ``TrialScreening`` when it is one and a trusted evaluator key
    (``keys``; a retired key is refused) signed it, the digest taken over the record's own
    JSON (``event_digest``), not a re-dump; else None, logged with ``partition`` and
    ``offset``, the refusal kind and key id, never the record's content."""
    try:
        event = TrialScreening.model_validate_json(value)
    except ValidationError:
        log.warning("unreadable trial screening record skipped",
                    partition=partition, offset=offset)
        return None
    refusal = keys.refusal(event.signature, event_digest(json.loads(value)))
    if refusal is not None:
        log.warning("trial screening record refused: not signed by a trusted evaluator key",
                    partition=partition, offset=offset, refusal=refusal.kind,
                    key_id=refusal.key_id)
        return None
    return event


async def _follow(codes: RegistryScreenedCodes, kafka: KafkaSettings, keys: TrustedKeys,
                  on_connected: Callable[[], None]) -> None:
    async with groupless_consumer(TRIAL_SCREENING, kafka, start_at="earliest",
                                  on_connected=on_connected) as consumer:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    event = verified(record.value or b"", keys, partition=tp.partition,
                                     offset=record.offset)
                    if event is not None and codes.apply(event):
                        log.info("trial screening followed", trial=event.trial_id,
                                 version=event.version, state=event.state,
                                 codes=len(event.codes) + len(event.prefixes))
