"""The direct bulk path of ``trialwatch import`` (issue 13, bulk onboarding): batches of FHIR
Bulk Data NDJSON lines written into intake's database without the HTTP round trip.

Each batch is a FHIR ``collection`` Bundle (the same bytes ``trialwatch import`` posts to
``POST /fhir``) and goes through exactly what a posted one goes through: ``prepare`` (the one
normaliser, the identifier checks, the broker-size check, the receipt keys) and ``record``
(one transaction: receipt keys looked up, patients keyed, outbox rows and receipt written).
So a batch is idempotent (its content key), each entry is accepted or refused on its own, and
every accepted resource is in the outbox, durable, when ``deliver`` returns.

``prepare`` is the CPU-bound part (FHIR model validation ~200 us per resource bounds one
process at ~4,500 resources/s, issue 13 notes): with ``workers > 1`` batches are prepared in
that many worker processes (``concurrent.futures.ProcessPoolExecutor``) ahead of the one
writer, which records them in the order they were read, so per-patient order and the
importer's resume offsets stay as with one process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import multiprocessing
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any

from services.intake.adapters.messaging import broker_json
from services.intake.adapters.sql.database import WriteTurns, make_intake_engine
from services.intake.adapters.sql.group_commit import GroupCommit
from services.intake.adapters.trial_codes import TrialFileCodes
from services.intake.core.accept import Prepared, Submission, prepare, prepare_normalised, record
from services.intake.core.formats.fhir_r4 import NAME as FHIR_R4
from services.intake.core.formats.fhir_r4 import read_document
from services.intake.core.input_formats import MediaType, ReadContext
from services.intake.core.normalise import normalised_by
from services.intake.core.ports import ScreenedCodes
from services.intake.core.publish_limit import PublishLimit
from services.intake.core.reading import decode_text, json_object
from services.intake.core.refusals import Refusal
from services.intake.core.screening import with_code_warnings
from shared.infra.clock import utc_now
from shared.infra.local_codes import install_site_local_codes
from shared.infra.medication_codes import install_site_medication_codes
from shared.infra.sql_engine import make_sessionmaker
from shared.infra.unit_aliases import install_site_unit_aliases
from shared.settings import IntakeSettings, KafkaSettings

FHIR_JSON = MediaType(FHIR_R4, "utf-8")


@dataclass(frozen=True, slots=True)
class BulkAnswer:
    """What became of one batch, in the shape of intake's HTTP answer: ``status`` 202 with
    the receipt's ``entries`` (``replayed`` when intake already had it), or the refusal's
    status (400, 413, 422) with its ``errors`` (``{"path", "reason"}``) and ``title``."""

    status: int
    replayed: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    title: str = ""
    # batches given as lines (``prepare_lines``): (index, resourceType) of each line that is a
    # JSON object, in order; the Bundle's entries are these lines, the others were not read
    objects: tuple[tuple[int, str | None], ...] | None = None


@dataclass(frozen=True, slots=True)
class _Ready:
    """A prepared batch (or its refusal) as it comes back from a worker."""

    submission: Submission
    prepared: Prepared | None
    refusal: BulkAnswer | None
    objects: tuple[tuple[int, str | None], ...] | None = None


_LIMIT: PublishLimit | None = None
_SITE_MRN: frozenset[str] = frozenset()


def _start_worker() -> None:
    """A worker process reads inputs as the service does (site unit aliases and code
    crosswalk, broker limit, the site's MRN assigning authority)."""
    global _LIMIT, _SITE_MRN
    _SITE_MRN = IntakeSettings().mrn_authority()
    install_site_unit_aliases()
    install_site_local_codes()
    install_site_medication_codes()
    _LIMIT = PublishLimit(KafkaSettings().max_request_size, broker_json)


def _prepare(body: bytes, source_system: str, received_at: datetime) -> _Ready:
    """In a worker process (or the importer's thread): normalise and check one batch."""
    if _LIMIT is None:
        _start_worker()
    assert _LIMIT is not None
    submission = Submission(body=body, media=FHIR_JSON, client=source_system,
                            received_at=received_at, site_mrn_authority=_SITE_MRN)
    try:
        return _Ready(submission, prepare(submission, _LIMIT), None)
    except Refusal as refusal:
        return _Ready(submission, None, BulkAnswer(
            refusal.status, title=refusal.title,
            errors=[{"path": p.path, "reason": p.reason} for p in refusal.problems]))


def _prepare_lines(lines: list[bytes], source_system: str, received_at: datetime) -> _Ready:
    """In a worker process (or the importer's thread): parse each NDJSON line once, as intake
    parses a posted body (``reading.json_object``: UTF-8, decimals as sent, no NaN), and read
    the lines that are JSON objects as one collection Bundle through the one normaliser. Which
    lines those are comes back in ``objects``; the importer refuses the others by line."""
    if _LIMIT is None:
        _start_worker()
    assert _LIMIT is not None
    objects: list[tuple[int, str | None]] = []
    resources: list[dict[str, Any]] = []
    for index, raw in enumerate(lines):
        try:
            resource = json_object(decode_text(raw, "utf-8"))
        except Refusal:
            continue  # malformed JSON, or not an object
        kind = resource.get("resourceType")
        objects.append((index, kind if isinstance(kind, str) else None))
        resources.append(resource)
    # the body is not sent back: ``record`` does not read it
    submission = Submission(body=b"", media=FHIR_JSON, client=source_system,
                            received_at=received_at, site_mrn_authority=_SITE_MRN)
    if not resources:
        return _Ready(submission, None, BulkAnswer(202, objects=()), ())
    document = {"resourceType": "Bundle", "type": "collection",
                "entry": [{"resource": resource} for resource in resources]}
    context = ReadContext(source_system, received_at, site_mrn_authority=_SITE_MRN)
    try:
        normalised = normalised_by(lambda: read_document(document, context), FHIR_R4)
        return _Ready(submission, prepare_normalised(submission, normalised, _LIMIT), None,
                      tuple(objects))
    except Refusal as refusal:
        return _Ready(submission, None, BulkAnswer(
            refusal.status, title=refusal.title, objects=tuple(objects),
            errors=[{"path": p.path, "reason": p.reason} for p in refusal.problems]))


class BulkIntake:
    """Batches into intake's database at ``database_url`` as client ``source_system`` (the
    namespace of the patient ids, as the token's client name is over HTTP: use the name the
    site's live feed posts under, so its patients keep their surrogate keys).

    ``async with BulkIntake(...) as intake``: ``intake.prepare(body)`` starts preparing a
    batch (in a worker process when ``workers > 1``) and returns its future;
    ``await intake.deliver(future)`` records it and returns its ``BulkAnswer``, whose entries
    warn about each fact no active trial's criteria read, as a posted Bundle's receipt does:
    ``screened`` (default: the trial files intake reads, ``INTAKE_TRIALS_DIR``).
    Raises ``TrialFileError`` when a trial file cannot be compiled (as intake does not start)."""

    def __init__(self, database_url: str, source_system: str, *, workers: int = 1,
                 screened: ScreenedCodes | None = None) -> None:
        self._database_url = database_url
        self._source_system = source_system
        self._screened = screened
        self.workers = max(1, workers)
        # batches prepared before the oldest is recorded: enough to keep every worker busy
        self.ahead = 2 * self.workers if self.workers > 1 else 1
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._transaction: GroupCommit | None = None
        self._engine: Any = None
        self._limit = PublishLimit(KafkaSettings().max_request_size, broker_json)

    async def __aenter__(self) -> BulkIntake:
        install_site_unit_aliases()
        install_site_local_codes()
        install_site_medication_codes()
        if self._screened is None:
            self._screened = TrialFileCodes(IntakeSettings().trials_dir)
        self._engine = make_intake_engine(self._database_url)
        self._transaction = GroupCommit(make_sessionmaker(self._engine), utc_now,
                                        WriteTurns.for_url(self._database_url))
        if self.workers > 1:
            # forkserver, not fork: this process runs threads (aiosqlite, the event loop's
            # executor), and a child forked while one of them holds a lock hangs
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._transaction is not None:
            self._transaction.close()
        if self._engine is not None:
            await self._engine.dispose()

    def prepare(self, body: bytes) -> asyncio.Future[Any]:
        """Start preparing one batch (a collection Bundle's bytes); its future for ``deliver``."""
        work = functools.partial(_prepare, body, self._source_system, utc_now())
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, work)  # None: the default thread pool

    def prepare_lines(self, lines: list[bytes]) -> asyncio.Future[Any]:
        """Start preparing one batch of NDJSON lines, each parsed once (in the worker): the
        answer of ``deliver`` says in ``objects`` which lines were read (issue 13: the importer
        no longer parses every line to check it before intake parses it again)."""
        work = functools.partial(_prepare_lines, lines, self._source_system, utc_now())
        return asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def deliver(self, ready: Awaitable[Any]) -> BulkAnswer:
        """Record a prepared batch in one transaction; returns once it is committed."""
        done: _Ready = await ready
        if done.refusal is not None:
            return done.refusal
        assert done.prepared is not None
        assert self._transaction is not None
        prepared = done.prepared
        if self._screened is not None:
            # as intake's accept() does before recording a posted Bundle: the receipt names
            # each fact no active trial's criteria read (its warning carries its codes)
            prepared = replace(prepared, normalised=with_code_warnings(
                prepared.normalised, self._screened))
        acceptance = await record(done.submission, prepared, self._transaction, utc_now,
                                    self._limit)
        return BulkAnswer(202, replayed=acceptance.replayed,
                          entries=acceptance.receipt.details()["entries"],
                          objects=done.objects)
