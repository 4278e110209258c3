"""``trialwatch import``: onboard a site's history from FHIR Bulk Data NDJSON files.

The input is what a FHIR Bulk Data ``$export`` writes (HL7 FHIR Bulk Data Access IG, "Bulk
Data Output File Format"): newline-delimited JSON, one FHIR resource per line, one file per
resource type (``Patient.ndjson``, ``Observation.ndjson`` ...). Each batch of lines is posted
to a running intake as a FHIR ``collection`` Bundle, so every resource goes through intake's
validation and the one shared normaliser exactly as a live feed does; each entry is accepted
or refused on its own, and every refused line is written to the report with its file, line
number and the paths of its problems (never its values: they are PHI).

Resumable: after each batch intake acknowledged (202 = durable), the byte offset reached in
that file is saved to the state file; a killed import started again continues from there.
Idempotent: a batch sent twice (the one in flight when the import was killed, or a re-run
with ``--restart``) is recognised by intake by its resources' ids and versions and publishes
nothing new. ``Patient`` files go first, so demographics arrive before results.

Direct path (``--database-url``, issue 13): the same batches go straight into intake's
database (``services.intake.admin.BulkIntake``: the same normaliser, checks and transaction
as a posted Bundle, one transaction per batch, without HTTP), prepared in ``--workers``
processes ahead of the one writer when there are enough lines; batches are still recorded,
and their offsets saved, in file order. There each line is parsed once, in the worker, by the
parser intake reads a posted body with; the worker says which lines were JSON objects, and the
importer refuses the others by line (over HTTP the importer checks each line before posting,
so one malformed line does not make its whole batch unreadable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

import httpx
from tqdm import tqdm

from shared.clinical.fhir import MAX_BUNDLE_ENTRIES

_MAX_BATCH_BYTES = 4 * 1024 * 1024  # below intake's default 5 MiB body limit
_RETRIES = 8
_MIN_BATCHES_PER_WORKER = 2


class ImportAborted(Exception):
    """Intake refused the import as a whole (token, role) or stayed unreachable."""


@dataclass
class Tally:
    lines: int = 0
    accepted: int = 0
    refused: int = 0
    ignored: int = 0
    replayed_batches: int = 0
    skipped_lines: int = 0
    already_had: int = 0
    # accepted facts no active trial's criteria read, per code ('system|code'), from the
    # receipts' warnings (intake's ScreenedCodes); a fact with two codings counts under each
    unscreened: Counter[str] = field(default_factory=Counter)
    unscreened_facts: int = 0
    # resources intake ignored (a type TrialWatch does not read: Immunization ...), per
    # resourceType, so the summary names what was not screened, not only how many
    ignored_types: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Line:
    path: Path
    number: int  # 1-based, as an editor shows it
    end_offset: int  # byte offset just after this line
    raw: bytes
    resource_type: str | None = None


@dataclass
class ImportState:
    """Byte offset acknowledged per file (resolved path), saved atomically."""

    path: Path
    offsets: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, restart: bool) -> ImportState:
        if restart or not path.exists():
            return cls(path)
        return cls(path, {k: int(v) for k, v in json.loads(path.read_text()).items()})

    def save(self) -> None:
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.offsets, indent=1, sort_keys=True))
        os.replace(temporary, self.path)


def ndjson_files(paths: list[Path]) -> list[Path]:
    """Every ``*.ndjson`` named or inside a named folder; Patient files first."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob("*.ndjson")) if path.is_dir() else [path]
    return sorted(dict.fromkeys(p.resolve() for p in found),
                  key=lambda p: (not p.name.startswith("Patient"), p.name))


def read_lines(path: Path, start: int) -> Iterator[Line]:
    with path.open("rb") as handle:
        handle.seek(start)
        offset = start
        number = 1 + (_count_lines(path, start) if start else 0)
        for raw in handle:
            offset += len(raw)
            if raw.strip():
                yield Line(path, number, offset, raw.strip())
            number += 1


def _count_lines(path: Path, end: int) -> int:
    with path.open("rb") as handle:
        return handle.read(end).count(b"\n")


def count_resources(files: list[Path]) -> int:
    total = 0
    for path in files:
        with path.open("rb") as handle:
            total += sum(1 for raw in handle if raw.strip())
    return total


def batches(lines: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    weight = 0
    for line in lines:
        if batch and (len(batch) >= size or weight + len(line.raw) > _MAX_BATCH_BYTES):
            yield batch
            batch, weight = [], 0
        batch.append(line)
        weight += len(line.raw) + 16
    if batch:
        yield batch


def bundle_of(lines: list[Line]) -> bytes:
    """A FHIR R4 collection Bundle of the lines' resources, byte for byte as exported."""
    entries = b",".join(b'{"resource":' + line.raw + b"}" for line in lines)
    return b'{"resourceType":"Bundle","type":"collection","entry":[' + entries + b"]}"


class Answer(Protocol):
    """What intake made of one batch: ``status`` 202 with the receipt's ``entries``
    (``replayed`` when it already had them), or 400/413/415/422 with ``errors``."""

    @property
    def status(self) -> int: ...
    @property
    def replayed(self) -> bool: ...
    @property
    def entries(self) -> list[dict[str, Any]]: ...
    @property
    def errors(self) -> list[dict[str, str]]: ...
    @property
    def title(self) -> str: ...
    @property
    def objects(self) -> tuple[tuple[int, str | None], ...] | None: ...


class Link(Protocol):
    """How batches reach intake: ``prepare`` starts one (a collection Bundle's bytes),
    ``deliver`` returns once intake made it durable (or refused it). ``ahead``: how many
    batches may be prepared before the oldest is delivered."""

    ahead: int

    def prepare(self, body: bytes) -> Awaitable[Any]: ...
    async def deliver(self, prepared: Awaitable[Any]) -> Answer: ...


@runtime_checkable
class LineLink(Link, Protocol):
    """A link that parses the lines itself (the direct path: each line parsed once, in a
    worker): ``prepare_lines`` starts a batch of raw lines, and the answer's ``objects`` says
    which of them were JSON objects (their index and resourceType), in order; the Bundle's
    entries are those lines."""

    def prepare_lines(self, lines: list[bytes]) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    replayed: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    title: str = ""
    objects: tuple[tuple[int, str | None], ...] | None = None


class HttpLink:
    """Batches posted to a running intake's ``POST /fhir``, one at a time."""

    ahead = 0

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    def prepare(self, body: bytes) -> Awaitable[Any]:
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        done.set_result(body)
        return done

    async def deliver(self, prepared: Awaitable[Any]) -> Answer:
        response = await self._post(await prepared)
        if response.status_code == 202:
            return HttpAnswer(202, response.headers.get("Idempotent-Replayed") == "true",
                              response.json().get("entries", []))
        if response.status_code in (400, 413, 415, 422):
            try:
                errors = response.json().get("errors", [])
            except ValueError:
                errors = []
            return HttpAnswer(response.status_code, errors=errors,
                              title=_problem_title(response))
        raise ImportAborted(f"intake answered {response.status_code}: "
                            f"{_problem_title(response)}")

    async def _post(self, body: bytes) -> httpx.Response:
        delay = 0.5
        for attempt in range(_RETRIES):
            try:
                response = await self._client.post(
                    "/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
            except httpx.TransportError as error:
                if attempt == _RETRIES - 1:
                    raise ImportAborted(f"intake is unreachable ({type(error).__name__})") from None
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                if attempt == _RETRIES - 1:
                    return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")


class Importer:
    """Sends batches to intake and records what became of every line."""

    def __init__(self, link: Link, state: ImportState, report: TextIO,
                 tally: Tally, progress: tqdm[Any] | None = None) -> None:
        self._link = link
        self._state = state
        self._report = report
        self._tally = tally
        self._progress = progress

    async def import_file(self, path: Path, batch_size: int) -> None:
        start = self._state.offsets.get(str(path), 0)
        if start:
            skipped = _count_resources_before(path, start)
            self._tally.skipped_lines += skipped
            self._advance(skipped)
        # batches prepared ahead (in worker processes on the direct path) are still
        # delivered, and their offsets saved, in file order: a kill loses no line
        window: deque[tuple[list[Line], list[Line] | None, Awaitable[Any] | None]] = deque()
        lines_link = self._link if isinstance(self._link, LineLink) else None
        try:
            for batch in batches(read_lines(path, start), batch_size):
                if lines_link is not None:  # it parses each line once, itself
                    window.append((batch, None,
                                   lines_link.prepare_lines([line.raw for line in batch])))
                    continue
                kept = self._well_formed(batch)
                window.append((batch, kept, self._link.prepare(bundle_of(kept)) if kept
                               else None))
                while len(window) > self._link.ahead:
                    await self._finish(path, *window.popleft())
            while window:
                await self._finish(path, *window.popleft())
        finally:
            for _, _, pending in window:
                if isinstance(pending, asyncio.Future):
                    pending.cancel()

    async def _finish(self, path: Path, batch: list[Line], kept: list[Line] | None,
                      prepared: Awaitable[Any] | None) -> None:
        if kept is None:  # prepared from the raw lines: the answer says which were read
            assert prepared is not None
            answer = await self._link.deliver(prepared)
            kept = self._objects(batch, answer.objects or ())
            if kept:
                await self._answered(kept, answer)
        elif prepared is not None:
            await self._send(kept, prepared)
        self._state.offsets[str(path)] = batch[-1].end_offset
        self._state.save()
        self._advance(len(batch))

    def _well_formed(self, batch: list[Line]) -> list[Line]:
        """Lines that are JSON objects; the others are refused here, with their line."""
        kept = []
        for line in batch:
            self._tally.lines += 1
            try:
                resource = json.loads(line.raw, parse_constant=_not_json)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply
                resource = None
            if isinstance(resource, dict):
                kind = resource.get("resourceType")
                kept.append(replace(line, resource_type=kind if isinstance(kind, str) else None))
            else:
                self._refuse(line, "$", "not a JSON object (NDJSON: one resource per line)")
        return kept

    def _objects(self, batch: list[Line], objects: tuple[tuple[int, str | None], ...]
                 ) -> list[Line]:
        """The lines a line link read as JSON objects (with their resourceType); the others
        are refused here, with their line, as ``_well_formed`` refuses them."""
        read = dict(objects)
        kept = []
        for index, line in enumerate(batch):
            self._tally.lines += 1
            if index in read:
                kept.append(replace(line, resource_type=read[index]))
            else:
                self._refuse(line, "$", "not a JSON object (NDJSON: one resource per line)")
        return kept

    async def _send(self, batch: list[Line], prepared: Awaitable[Any] | None = None) -> None:
        if not batch:
            return
        answer = await self._link.deliver(
            prepared if prepared is not None else self._link.prepare(bundle_of(batch)))
        await self._answered(batch, answer)

    async def _answered(self, batch: list[Line], answer: Answer) -> None:
        """Record what intake made of ``batch`` (its lines in the Bundle's entry order);
        a problem of the whole batch splits it and sends the halves again."""
        if answer.status == 202:
            entries = answer.entries
            if answer.replayed:
                self._tally.replayed_batches += 1
                if not _describes(entries, batch):
                    # intake already had everything readable in this batch (its content key
                    # covers what is read); the original receipt describes another batch
                    self._tally.already_had += len(batch)
                    return
            self._record(batch, entries)
        else:
            entries = _problem_entries(answer)
            if len(batch) > 1 and any(_entry_index(e["path"]) is None for e in entries):
                # a problem of the whole batch (a malformed line, one patient's history too
                # large for one event, an unusable patient identifier): split to find the
                # lines it belongs to, so no other line is refused with them
                half = len(batch) // 2
                await self._send(batch[:half])
                await self._send(batch[half:])
            else:
                self._record(batch, entries)

    def _record(self, batch: list[Line], entries: list[dict[str, Any]]) -> None:
        by_index = {_entry_index(e.get("path", "")): e for e in entries}
        for index, line in enumerate(batch):
            entry = by_index.get(index, by_index.get(None))
            outcome = entry.get("outcome", "refused") if entry else "refused"
            if outcome == "accepted":
                self._tally.accepted += 1
                self._unscreened(entry)
            elif outcome == "ignored":
                self._tally.ignored += 1
                kind = (entry or {}).get("resource_type") or line.resource_type
                self._tally.ignored_types[kind if isinstance(kind, str) else "(no type)"] += 1
            else:
                problems = (entry or {}).get("problems") or [{"path": "$", "reason": "refused"}]
                for problem in problems:
                    self._refuse(line, _local_path(problem.get("path", "$"), index),
                                 str(problem.get("reason", "")))
                self._tally.refused += 1

    def _unscreened(self, entry: dict[str, Any] | None) -> None:
        """Count the codes of each fact the receipt says no active trial screens (a warning
        with ``codes``, ``services.intake.core.screening``); only codes, never a patient."""
        for warning in (entry or {}).get("warnings") or ():
            codes = warning.get("codes") if isinstance(warning, dict) else None
            if codes:
                self._tally.unscreened_facts += 1
                self._tally.unscreened.update(str(code) for code in codes)

    def _refuse(self, line: Line, path: str, reason: str) -> None:
        self._report.write(f"{line.path.name}\t{line.number}\t{path}\t{reason}\n")
        if reason.startswith("not a JSON object"):
            self._tally.refused += 1

    def _advance(self, count: int) -> None:
        if self._progress is not None:
            self._progress.update(count)
            self._progress.set_postfix(accepted=self._tally.accepted,
                                       refused=self._tally.refused, refresh=False)


def _describes(entries: list[dict[str, Any]], batch: list[Line]) -> bool:
    """Whether a receipt's entries are this batch's, entry by entry."""
    return len(entries) == len(batch) and all(
        _entry_index(e.get("path", "")) == i and e.get("resource_type") == line.resource_type
        for i, (e, line) in enumerate(zip(entries, batch, strict=True)))


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _count_resources_before(path: Path, end: int) -> int:
    with path.open("rb") as handle:
        return sum(1 for raw in handle.read(end).splitlines() if raw.strip())


def _entry_index(path: str) -> int | None:
    """``Bundle.entry[3]`` -> 3; anything else (a whole-input problem) -> None."""
    prefix = "Bundle.entry["
    if path.startswith(prefix) and "]" in path:
        number = path[len(prefix):path.index("]")]
        return int(number) if number.isdigit() else None
    return None


def _local_path(path: str, index: int) -> str:
    """A problem path inside the entry, relative to the line's resource."""
    prefix = f"Bundle.entry[{index}].resource"
    return path[len(prefix):].lstrip(".") or "$" if path.startswith(prefix) else path


def _problem_entries(answer: Answer) -> list[dict[str, Any]]:
    """A refused batch's problems, grouped per entry as a receipt's would be."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for error in answer.errors:
        index = _entry_index(error.get("path", ""))
        key = f"Bundle.entry[{index}]" if index is not None else ""
        grouped.setdefault(key, []).append(error)
    if not grouped:
        grouped[""] = [{"path": "$", "reason": f"{answer.status} {answer.title}"}]
    return [{"path": key, "outcome": "refused", "problems": problems}
            for key, problems in grouped.items()]


def _problem_title(response: httpx.Response) -> str:
    try:
        return str(response.json().get("title", response.reason_phrase))
    except ValueError:
        return response.reason_phrase



async def run_import(
    files: list[Path],
    client: httpx.AsyncClient | Link,
    state: ImportState,
    report: TextIO,
    *,
    batch_size: int = 500,
    show_progress: bool = True,
) -> Tally:
    """Import every file in order through ``client`` (an HTTP client of a running intake, or
    a direct ``Link`` such as ``services.intake.admin.BulkIntake``); returns the counts.
    Raises ``ImportAborted``."""
    tally = Tally()
    total = count_resources(files)
    link = HttpLink(client) if isinstance(client, httpx.AsyncClient) else client
    with tqdm(total=total, unit="res", desc="import", disable=not show_progress,
              file=sys.stderr, smoothing=0.1) as progress:
        importer = Importer(link, state, report, tally, progress)
        for path in files:
            progress.set_description(path.name)
            await importer.import_file(path, batch_size)
    return tally


def _batch_size(text: str) -> int:
    """``--batch``: 1 to ``MAX_BUNDLE_ENTRIES`` resources per posted Bundle."""
    size = int(text)
    if not 1 <= size <= MAX_BUNDLE_ENTRIES:
        raise argparse.ArgumentTypeError(f"{size} resources per Bundle: give 1 to "
                                         f"{MAX_BUNDLE_ENTRIES:,} (intake reads at most that many)")
    return size


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import", help="onboard history from FHIR Bulk Data NDJSON files into a running intake",
        description="Post FHIR Bulk Data NDJSON ($export output: one resource per line, one "
                    "file per type) to a running intake in batches, through the one normaliser. "
                    "Resumable after a kill (the state file keeps the offset reached in each "
                    "file); idempotent on re-run. Refused lines are listed in the report with "
                    "file, line and problem paths.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="NDJSON files or folders of them")
    parser.add_argument("--intake-url", default="http://127.0.0.1:8081",
                        help="intake's base URL (default http://127.0.0.1:8081)")
    parser.add_argument("--token", default=os.environ.get("TRIALWATCH_TOKEN"),
                        help="a lab-system bearer token (default $TRIALWATCH_TOKEN)")
    parser.add_argument("--site", default=None,
                        help="which of the token's claimed sites the history is from, sent as "
                             "the TrialWatch-Site header (needed when the token claims several; "
                             "deploy/SECURITY.md \"Site scope\")")
    parser.add_argument("--batch", type=_batch_size, default=500,
                        help="resources per posted Bundle (default 500, at most "
                             f"{MAX_BUNDLE_ENTRIES:,}, what intake reads in one Bundle)")
    parser.add_argument("--state", type=Path, default=Path("trialwatch-import.state.json"),
                        help="where the offsets reached are kept (default "
                             "./trialwatch-import.state.json)")
    parser.add_argument("--report", type=Path, default=Path("trialwatch-import.refused.tsv"),
                        help="refused lines: file, line, path, reason (default "
                             "./trialwatch-import.refused.tsv)")
    parser.add_argument("--database-url", default=None,
                        help="write straight into intake's database at this URL (e.g. "
                             "$INTAKE_DATABASE_URL) instead of posting to --intake-url: the "
                             "same normaliser and checks, one transaction per batch, no HTTP")
    parser.add_argument("--source-system", default=None,
                        help="with --database-url: the client name the site's feed posts "
                             "under (the namespace of its patient ids; over HTTP it is the "
                             "token's client)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="with --database-url: processes that read and check batches "
                             "(default: the CPUs, at most 4); one when there are fewer than "
                             f"{_MIN_BATCHES_PER_WORKER} batches per worker")
    parser.add_argument("--restart", action="store_true",
                        help="ignore the state file and send everything again (intake "
                             "recognises what it already has)")
    parser.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    if args.database_url and args.site:
        print("error: --site is read from a lab token's claims over HTTP; the direct path "
              "(--database-url) has no token and stamps no site", file=sys.stderr)
        return 2
    if args.database_url and not args.source_system:
        print("error: --database-url needs --source-system (the client name the site's feed "
              "posts under, so its patients keep their surrogate keys)", file=sys.stderr)
        return 2
    if not args.token and not args.database_url:
        print("error: pass --token or set TRIALWATCH_TOKEN (a lab-system token; after "
              "`trialwatch run`: TRIALWATCH_TOKEN=$(trialwatch dev-token lab-system))",
              file=sys.stderr)
        return 2
    files = ndjson_files(args.paths)
    missing = [str(p) for p in files if not p.is_file()]
    if not files or missing:
        print(f"error: no NDJSON file at {', '.join(missing) or 'the given paths'}",
              file=sys.stderr)
        return 2
    state = ImportState.load(args.state, args.restart)
    started = time.perf_counter()
    try:
        tally = asyncio.run(_run(args, files, state))
    except ImportAborted as error:
        print(f"error: {error}; run the same command again to resume", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    sent = tally.lines
    print(f"{sent} resources sent in {seconds:.1f} s ({sent / seconds if seconds else 0:.0f} "
          f"resources/s): {tally.accepted} accepted, {tally.refused} refused, "
          f"{tally.ignored} ignored (types TrialWatch does not read); "
          f"{tally.already_had} in batches intake already had whole; "
          f"{tally.skipped_lines} already imported before a restart")
    if tally.refused:
        print(f"refused lines (file, line, path, reason): {args.report}")
    for line in ignored_summary(tally):
        print(line)
    for line in unscreened_summary(tally):
        print(line)
    return 0


_SHOWN_UNSCREENED = 20


def ignored_summary(tally: Tally) -> list[str]:
    """The summary's line naming each resource type intake ignored (a type TrialWatch does not
    read, e.g. Immunization: nothing in it is screened) with its count, most frequent
    first; no line when none was ignored. Types only, never a patient."""
    if not tally.ignored_types:
        return []
    ranked = sorted(tally.ignored_types.items(), key=lambda item: (-item[1], item[0]))
    return ["not screened (resource types TrialWatch does not read, nothing in them is"
            " screened): " + ", ".join(f"{kind} {count}" for kind, count in ranked)]


def unscreened_summary(tally: Tally) -> list[str]:
    """The summary's lines on what was accepted but is screened by no active trial's criteria
    (intake's receipt warning "accepted but not screened by any criterion"): how many
    resources, and each code (``system|code``) with how many, most frequent first (at most
    ``_SHOWN_UNSCREENED``); no line when every code is screened. Codes only, never a patient:
    the counts come from the receipts' warnings' ``codes``."""
    if not tally.unscreened:
        return []
    ranked = sorted(tally.unscreened.items(), key=lambda item: (-item[1], item[0]))
    lines = [f"{tally.unscreened_facts} accepted resources carry codes no active trial's "
             "criteria read (the trials intake screens against, INTAKE_TRIALS_DIR), so none "
             "of them is screened; map the sender's codes (CLINICAL_LOCAL_CODES_FILE for "
             "results and conditions, CLINICAL_MEDICATION_CODES_FILE for drugs) or send "
             "standard codes. Codes (system|code: resources):"]
    lines += [f"  {code}: {count}" for code, count in ranked[:_SHOWN_UNSCREENED]]
    if len(ranked) > _SHOWN_UNSCREENED:
        lines.append(f"  ... and {len(ranked) - _SHOWN_UNSCREENED} more codes")
    return lines


def workers_for(lines: int, batch_size: int, workers: int) -> int:
    """Worker processes worth starting for ``lines`` lines: each must get a few batches,
    else starting the processes costs more than it saves."""
    batches_total = -(-lines // max(1, batch_size))
    return max(1, min(workers, batches_total // _MIN_BATCHES_PER_WORKER))


async def _run(args: argparse.Namespace, files: list[Path], state: ImportState) -> Tally:
    if getattr(args, "database_url", None):
        from services.intake.admin import BulkIntake  # the service's side, only when direct

        workers = workers_for(count_resources(files), args.batch, args.workers)
        async with BulkIntake(args.database_url, args.source_system,
                              workers=workers) as intake:
            with args.report.open("a", encoding="utf-8") as report:
                return await run_import(files, intake, state, report, batch_size=args.batch)
    headers = {"Authorization": f"Bearer {args.token}"}
    if args.site:
        headers["TrialWatch-Site"] = args.site
    async with httpx.AsyncClient(base_url=args.intake_url, headers=headers,
                                 timeout=300) as client:
        with args.report.open("a", encoding="utf-8") as report:
            return await run_import(files, client, state, report, batch_size=args.batch)
