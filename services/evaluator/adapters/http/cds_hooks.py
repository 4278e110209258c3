"""CDS Hooks 2.0 service: trial cards in the EHR when a clinician opens a patient's record or
selects an order.

- ``GET /cds-services``: discovery (CDS Hooks 2.0 "Discovery").
- ``POST /cds-services/trialwatch-patient-view``: the ``patient-view`` hook. The EHR names the
  patient by its own ``context.patientId``; intake turns that into the surrogate key through its
  audited look-up (no identifier is stored or logged here). Cards: one "info" card per trial the
  patient is eligible for, one per trial they are close to (at most ``CLOSE_UNKNOWN`` criteria
  still open, none failing) saying what is missing; nothing otherwise. Each card links to the
  coordinator app's patient page.
- ``POST /cds-services/trialwatch-order-select``: the ``order-select`` hook (CDS Hooks library,
  order-select 1.0: ``context.userId``, ``patientId``, ``selections`` = ids such as
  ``MedicationRequest/103`` of the orders just selected, ``draftOrders`` = a FHIR R4 Bundle of
  the session's unsigned orders). The selected orders are read by the one normaliser
  (``shared.clinical.fhir.normalise_fhir``) and, as if signed now, added to the patient's facts;
  the engine re-screens every trial the patient is eligible or close for, and a "warning" card
  names each trial and criterion the order would make the patient ineligible for (e.g. E11:
  rituximab starts a washout), or, for an eligible patient, each criterion it would leave
  undecided (the order makes a criterion impossible to check: eligibility is then lost until
  someone settles it). Nothing otherwise.

Security (CDS Hooks 2.0 "Trusting CDS Clients"): every call carries a JWT signed by the EHR
(``Authorization: Bearer``). It is verified with PyJWT against the keys configured for its
issuer (``EVALUATOR_CDS_ISSUERS``, a JSON object ``{"<iss>": {"jwks": "<JWKS URL or file>",
"source_system": "<intake client name of that EHR>"}}``), never against a key the token points
to: ``iss``, ``aud`` (this endpoint's URL), ``exp``, ``iat`` and ``jti`` are required; the
algorithms are the asymmetric ones the specification names (ES384, RS384) plus their 256/512
variants. A replayed ``jti`` is refused while it is still valid.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
import structlog
from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.evaluator.adapters.http.intake_answer import refused, unanswered
from services.evaluator.adapters.trial_text import trial_text
from services.evaluator.core.clock import Clock
from services.evaluator.core.ports import PatientStatusQueries, Screener, TrialStanding
from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, PatientFacts, ReadingNote
from shared.clinical.fhir import normalise_fhir
from shared.eligibility.decision import Decision, Outcome, Status, TrialRef
from shared.eligibility.readable import (
    asked_now,
    dates_in_text,
    evidence_phrase,
    needs,
    plain_words,
)
from shared.infra.clock import utc_now
from shared.infra.problem_error import Problem
from shared.infra.server import ParsedOnceRoute
from shared.sites import site_visible

log = structlog.get_logger(__name__)
SERVICE_ID = "trialwatch-patient-view"
ORDER_SELECT_ID = "trialwatch-order-select"
CLOSE_UNKNOWN = 2
ALGORITHMS = ["ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384", "PS256"]
LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An EHR trusted to call the hooks. ``sites``: the sites whose patients it gets cards for
    (None: every site), as a coordinator token's ``sites`` claim scopes a coordinator."""

    issuer: str
    jwks: str
    source_system: str
    sites: frozenset[str] | None = None


def trusted_issuers(configured: str) -> dict[str, TrustedIssuer]:
    """``EVALUATOR_CDS_ISSUERS`` read (``{iss: {"jwks", "source_system", "sites"?}}``); raises
    ValueError on a malformed value (start fails)."""
    raw = json.loads(configured or "{}")
    if not isinstance(raw, dict):
        raise ValueError("EVALUATOR_CDS_ISSUERS must be a JSON object keyed by issuer")
    return {iss: TrustedIssuer(iss, str(v["jwks"]), str(v["source_system"]),
                               frozenset(map(str, v["sites"])) if v.get("sites") else None)
            for iss, v in raw.items()}


class IssuerKeys:
    """One issuer's JWK Set (a JWKS URL or file), held by key id, read at most as often as
    below, so a token naming a key id nobody has (an attacker's random ``kid``) costs a dict
    look-up, never a fetch, a file read or a signature check per token:

    - a URL is fetched at first use, again on the next use once ``refresh_after_s`` passed,
      and on an unknown ``kid`` only when the last fetch is at least ``min_refresh_s`` old
      (an EHR that rotated its key is picked up within that time; its first tokens before it
      are refused 401 and retried by the client);
    - a file is read again when its modification time or size changed (one ``stat`` per token),
      never because of an unknown ``kid``.

    A fetch never blocks the event loop: it is awaited (``_fetch_jwks``: an async client, at
    most ``FETCH_DEADLINE_S`` in all, at most 1 MiB; a file's stat and read run in a worker
    thread), and the requests that need the set
    meanwhile await that one fetch (never a second one); every other request is served as
    usual. ``key_for`` gives the one key the token's ``kid`` names (no ``kid``: the set's
    first key, as before); the token's signature is checked against that key only. Raises
    ``jwt.InvalidKeyError`` for an unknown ``kid`` and ``jwt.PyJWKClientError`` /
    ``OSError`` when the set cannot be read."""

    def __init__(self, source: str, *, refresh_after_s: float = 300.0,
                 min_refresh_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str], Awaitable[str]] | None = None) -> None:
        self._source = source
        self._remote = source.startswith(("https://", "http://"))
        self._refresh_after_s, self._min_refresh_s = refresh_after_s, min_refresh_s
        self._clock = clock
        self._fetch = fetch or _fetch_jwks
        self._keys: dict[str | None, Any] = {}
        self._first: Any = None
        self._read_at: float | None = None
        self._file_seen: tuple[int, int] | None = None
        self._reading: asyncio.Future[None] | None = None
        self.reads = 0
        """How many times the set was fetched or read (a test's measure)."""

    async def key_for(self, kid: str | None) -> Any:
        await self._read_if_due()
        if kid is None and self._first is not None:
            return self._first
        found = self._keys.get(kid)
        if found is None and self._remote and self._read_at is not None \
                and self._clock() - self._read_at >= self._min_refresh_s:
            await self._read_once()
            found = self._keys.get(kid)
        if found is None:
            raise jwt.InvalidKeyError("no configured key has this kid")
        return found

    async def _read_if_due(self) -> None:
        if self._reading is not None or self._read_at is None:
            await self._read_once()  # a fetch under way (the first one too): its result
        elif self._remote:
            if self._clock() - self._read_at >= self._refresh_after_s:
                await self._read_once()
        elif await asyncio.to_thread(_file_state, self._source) != self._file_seen:
            await self._read_once()

    async def _read_once(self) -> None:
        """The read under way, else a new one; every caller awaits the same one (shielded: a
        caller that goes away cancels nothing the others wait for)."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read())
            self._reading.add_done_callback(self._read_done)
        await asyncio.shield(self._reading)

    def _read_done(self, reading: asyncio.Future[None]) -> None:
        self._reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved here too: no "never retrieved" warning

    async def _read(self) -> None:
        self._read_at = self._clock()  # first: a failing fetch is not retried per token
        self.reads += 1
        if self._remote:
            text = await self._fetch(self._source)
        else:
            self._file_seen, text = await asyncio.to_thread(_read_file, self._source)
        keys = jwt.PyJWKSet.from_json(text).keys
        self._keys = {key.key_id: key.key for key in keys if key.key_id is not None}
        self._first = keys[0].key if keys else None


def _file_state(path: str) -> tuple[int, int]:
    """(modification time in ns, size) of the JWKS file: what tells it changed."""
    stat = Path(path).stat()
    return stat.st_mtime_ns, stat.st_size


def _read_file(path: str) -> tuple[tuple[int, int], str]:
    """The JWKS file's state (``_file_state``) and its text, in a worker thread."""
    return _file_state(path), Path(path).read_text()


FETCH_DEADLINE_S = 10.0
"""The longest a JWK Set fetch may take in all (each read or connect: 5 s): an endpoint that
trickles its answer is given up, and the requests waiting for it are refused (401)."""
JWKS_MAX_BYTES = 1024 * 1024


async def _fetch_jwks(url: str) -> str:
    """The JWK Set at ``url`` (5 s per step, ``FETCH_DEADLINE_S`` in all, at most
    ``JWKS_MAX_BYTES``), awaited; raises ``jwt.PyJWKClientError``."""
    try:
        async with asyncio.timeout(FETCH_DEADLINE_S), httpx.AsyncClient(
                timeout=5.0, follow_redirects=False) as client, \
                client.stream("GET", url) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise jwt.PyJWKClientError("the JWK Set is larger than 1 MiB")
            return body.decode("utf-8")
    except (httpx.HTTPError, UnicodeDecodeError, TimeoutError) as error:
        raise jwt.PyJWKClientError(f"the JWK Set could not be fetched: "
                                   f"{type(error).__name__}") from None


class JwtVerifier:
    """Verifies the CDS Client's JWT against the keys of its configured issuer
    (``IssuerKeys``: read at most as often as it says, whatever ``kid`` tokens name)."""

    def __init__(self, issuers: dict[str, TrustedIssuer],
                 keys: Callable[[str], IssuerKeys] = IssuerKeys) -> None:
        self._issuers = issuers
        self._keys = {iss: keys(issuer.jwks) for iss, issuer in issuers.items()}
        self._seen: dict[str, float] = {}

    async def verify(self, token: str, audience: str) -> tuple[TrustedIssuer, dict[str, Any]]:
        """The issuer and claims; raises ``jwt.PyJWTError`` (with why) otherwise. Awaits the
        issuer's JWK Set when it must be fetched (``IssuerKeys``)."""
        unverified = jwt.decode(token, options={"verify_signature": False})
        issuer = self._issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise jwt.InvalidIssuerError("issuer not trusted")
        kid = jwt.get_unverified_header(token).get("kid")
        if kid is not None and not isinstance(kid, str):
            raise jwt.InvalidKeyError("the kid header is not a string")
        key = await self._keys[issuer.issuer].key_for(kid)
        claims = jwt.decode(
            token, key, algorithms=ALGORITHMS, audience=audience, issuer=issuer.issuer,
            leeway=LEEWAY_S, options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
        self._refuse_replay(str(claims["jti"]), float(claims["exp"]))
        return issuer, claims

    def _refuse_replay(self, jti: str, exp: float) -> None:
        now = utc_now().timestamp()
        self._seen = {k: e for k, e in self._seen.items() if e + LEEWAY_S > now}
        if jti in self._seen:
            raise jwt.InvalidTokenError("jti already used")
        self._seen[jti] = exp


class HookContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    userId: str = Field(max_length=200)
    patientId: str = Field(min_length=1, max_length=200)
    encounterId: str | None = Field(default=None, max_length=200)


class HookRequest(BaseModel):
    """A CDS Hooks 2.0 request (the fields this service reads; others are allowed)."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(max_length=64)
    hookInstance: str = Field(max_length=64)
    fhirServer: str | None = Field(default=None, max_length=500)
    context: HookContext


class OrderSelectContext(HookContext):
    """order-select context: ``selections`` name entries of ``draftOrders`` as ``Type/id``."""

    selections: list[str] = Field(min_length=1, max_length=100)
    draftOrders: dict[str, Any]


class OrderSelectRequest(HookRequest):
    context: OrderSelectContext


@dataclass(frozen=True, slots=True)
class OrderWarning:
    """A trial whose status the selected orders would worsen, and why: ``becomes`` is
    ``ineligible`` (a criterion would fail) or ``undetermined`` (an eligible patient would have a
    criterion that can no longer be checked)."""

    trial: TrialRef
    was: Status
    criteria: tuple[tuple[str, str], ...]  # (criterion id, what the order does), protocol order
    becomes: Status = Status.INELIGIBLE


def selected_orders(
    draft_orders: dict[str, Any], selections: Iterable[str], source_system: str, as_of: datetime,
) -> tuple[ClinicalFact, ...]:
    """The selected draft orders as facts, read by the one normaliser, as if signed at ``as_of``.

    ``draftOrders`` is a FHIR R4 Bundle of unsigned orders; the specification's examples send
    it without ``Bundle.type``, so an absent type is read as ``collection`` (each entry on its
    own, FHIR R4 Bundle.type). Only the entries named in ``selections`` are read (order-select:
    "decision support should focus on the selected orders"). A selected order is ``draft`` and
    usually undated; signed now, its first dose can be given at ``as_of`` at the earliest, so it
    is screened as an ``active`` use dosed at ``as_of`` (``effective`` start and end): a washout
    computed from it is a lower bound (later doses only extend it), and its notes say so.
    Order types the normaliser does not
    read (NutritionOrder, ServiceRequest ...) add nothing. Raises ``InvalidInput`` (paths and
    reasons) when a selected order cannot be read.
    """
    wanted = set(selections)
    entries = [e for e in draft_orders.get("entry") or ()
               if isinstance(e, dict) and isinstance(e.get("resource"), dict)
               and f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}" in wanted]
    if not entries:
        return ()
    bundle = {"resourceType": "Bundle", "type": draft_orders.get("type") or "collection",
              "entry": entries}
    result = normalise_fhir(bundle, source_system=source_system, received_at=as_of)
    problems = [p for entry in result.entries for p in entry.problems]
    if problems:
        raise InvalidInput(problems)
    signed = ReadingNote(path="draftOrders", reason="a draft order, screened as if signed now "
                                                    "with a first dose now")
    return tuple(
        fact.model_copy(update={"status": "active", "effective_start": as_of,
                                "effective_end": as_of, "notes": (signed,)})
        for update in result.updates for fact in update.facts
    )


def order_warnings(
    evaluate: Callable[[TrialRef, PatientFacts, datetime], Decision],
    current: Iterable[tuple[TrialRef, Status, int]], facts: PatientFacts,
    orders: tuple[ClinicalFact, ...], as_of: datetime, zone: tzinfo = UTC,
) -> list[OrderWarning]:
    """Trials the patient is eligible or close for (``current``: trial, status, criteria still
    unknown) that ``orders`` would make them ineligible for, or (eligible now) undetermined
    for: the same engine on the same facts at the same instant, with and without the orders
    (pure; ``evaluate`` is the screener's). A criterion is named when the orders make it fail,
    or make it unknown where it was decided."""
    if not orders:
        return []
    with_orders = PatientFacts(demographics=facts.demographics, facts=(*facts.facts, *orders))
    warnings = []
    for trial, now_status, unknown in current:
        if not (now_status is Status.ELIGIBLE
                or (now_status is Status.UNDETERMINED and unknown <= CLOSE_UNKNOWN)):
            continue
        before = evaluate(trial, facts, as_of)
        after = evaluate(trial, with_orders, as_of)
        worse = (after.status is Status.INELIGIBLE
                 or (after.status is Status.UNDETERMINED and before.status is Status.ELIGIBLE))
        if before.status is Status.INELIGIBLE or not worse:
            continue
        # what the orders did: a criterion now failing, or (becoming undetermined) now unknown
        moved_to = Outcome.FAIL if after.status is Status.INELIGIBLE else Outcome.UNKNOWN
        was = {c.id: c.outcome for c in before.criteria}
        text = trial_text(trial)
        year = as_of.astimezone(zone).year
        ordered = {o.fact_id for o in orders}
        criteria = []
        for c in after.criteria:
            if c.outcome is not moved_to or was.get(c.id) is moved_to:
                continue
            cited = [e for e in c.evidence if e.fact_id in ordered]
            said = "; ".join(dict.fromkeys(
                "this order: " + evidence_phrase(e, text.labels, zone, year, as_of)
                .replace("washout until", "washout until at least") for e in cited))
            summary = text.criteria[c.id].summary if c.id in text.criteria else c.id
            if moved_to is Outcome.UNKNOWN:
                wanted = "; ".join(dict.fromkeys(plain_words(dates_in_text(m, zone))
                                                 for m in asked_now(c)))
                said = "; ".join(x for x in (said, "could no longer be checked"
                                              + (f" (needs {wanted})" if wanted else "")) if x)
            criteria.append((c.id, f"{summary}: {said}" if said else summary))
        warnings.append(OrderWarning(trial=trial, was=before.status, criteria=tuple(criteria),
                                     becomes=after.status))
    return warnings


def router(patients: PatientStatusQueries, verifier: JwtVerifier, intake_url: str,
           intake_token: str, public_url: str, screener: Screener, clock: Clock,
           zone: str = "UTC") -> APIRouter:
    """The discovery endpoint and both hooks; ``zone`` is the site's (dates on cards)."""
    api = APIRouter(tags=["CDS Hooks"], route_class=ParsedOnceRoute)
    site_zone = ZoneInfo(zone)

    @api.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery() -> dict[str, Any]:
        return {"services": [{
            "hook": "patient-view", "id": SERVICE_ID, "title": "TrialWatch trial eligibility",
            "description": "Trials this patient is eligible for, or close to, with what is "
                           "missing; links to the coordinator's patient page.",
            "prefetch": {},
        }, {
            "hook": "order-select", "id": ORDER_SELECT_ID,
            "title": "TrialWatch: orders that would end trial eligibility",
            "description": "Warns when a selected order (e.g. a drug that starts a washout) "
                           "would make the patient ineligible for a trial they are eligible "
                           "or close for; names the trial and criterion.",
            "prefetch": {},
        }]}

    async def verified(request: Request, service_id: str) -> tuple[str, TrustedIssuer]:
        """The public base URL and the EHR whose JWT (aud = this service's URL) was verified."""
        base = (public_url or str(request.base_url)).rstrip("/")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem("cds-jwt-invalid", "a CDS Client JWT is required",
                          headers={"WWW-Authenticate": "Bearer"})
        try:
            issuer, _ = await verifier.verify(token.strip(),
                                              f"{base}/cds-services/{service_id}")
        except (jwt.PyJWTError, OSError, ValueError) as error:
            log.warning("cds hooks jwt refused", error=type(error).__name__)
            raise Problem("cds-jwt-invalid", "the CDS Client JWT is not valid",
                          headers={"WWW-Authenticate": "Bearer"}) from None
        return base, issuer

    async def visible(issuer: TrustedIssuer, key: str, hook: str) -> bool:
        """A patient of a site outside the issuer's ``sites`` gets no cards, exactly as an
        unknown patient (its existence is not confirmed); logged without PHI."""
        if site_visible(issuer.sites, await patients.patient_site(key)):
            return True
        log.warning("access_refused", reason="site_not_in_claims", status=200, route=hook,
                    client=issuer.issuer, role="cds-client", patient_key=key)
        return False

    @api.post(f"/cds-services/{ORDER_SELECT_ID}", summary="order-select: orders that end "
              "trial eligibility")
    async def order_select(request: Request, body: OrderSelectRequest) -> dict[str, Any]:
        base, issuer = await verified(request, ORDER_SELECT_ID)
        if body.hook != "order-select":
            raise Problem("wrong-hook", "this service answers order-select")
        now = clock()
        try:
            orders = selected_orders(body.context.draftOrders, body.context.selections,
                                     issuer.source_system, now)
        except InvalidInput as error:
            # the paths only: a normaliser reason can quote the order's values (a unit, a code)
            raise Problem("unreadable-order", "a selected order cannot be read "
                          "as a FHIR R4 resource at: "
                                + ", ".join(p.path for p in error.problems[:50])) from None
        if not orders:
            return {"cards": []}
        key = await _patient_key(intake_url, intake_token, issuer, body.context.patientId,
                                 "order-select")
        if key is None or not await visible(issuer, key, "order-select"):
            return {"cards": []}
        patient = await patients.screened_patient(key)
        warnings = order_warnings(screener.evaluate, patient.current, patient.facts, orders, now,
                                  site_zone)
        key = patient.patient_key
        return {"cards": [_warning_card(w, f"{base}/ui/patients/{key}/trials/{w.trial.id}", now)
                          for w in warnings]}

    @api.post(f"/cds-services/{SERVICE_ID}", summary="patient-view: trial cards")
    async def patient_view(request: Request, body: HookRequest) -> dict[str, Any]:
        base, issuer = await verified(request, SERVICE_ID)
        if body.hook != "patient-view":
            raise Problem("wrong-hook", "this service answers patient-view")
        key = await _patient_key(intake_url, intake_token, issuer, body.context.patientId)
        if key is None or not await visible(issuer, key, "patient-view"):
            return {"cards": []}
        rows = await patients.standings(key)
        cards = [card for r in rows
                 if (card := _card(r, f"{base}/ui/patients/{key}/trials/{r.trial_id}",
                                   site_zone))]
        return {"cards": cards}

    return api


def _warning_card(warning: OrderWarning, link: str, now: datetime) -> dict[str, Any]:
    """A "warning" card naming the trial and each criterion the order would fail."""
    title = trial_text(warning.trial).title
    was = "eligible" if warning.was is Status.ELIGIBLE else "close to eligible"
    ids = ", ".join(cid for cid, _ in warning.criteria)
    summary = (f"This order would end eligibility for trial {warning.trial.id} ({ids})"
               if warning.becomes is Status.INELIGIBLE else
               f"This order would leave eligibility for trial {warning.trial.id} undecided "
               f"({ids} could no longer be checked)")
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{link}#order-select#{now.isoformat()}")),
        "summary": summary[:140],
        "indicator": "warning",
        "detail": f"**{title}**: the patient is {was} now. If this order is signed:\n\n"
                  + "\n".join(f"- {cid} {said}" for cid, said in warning.criteria)
                  + "\n\nDiscuss with the study coordinator before signing.",
        "source": {"label": "TrialWatch"},
        "links": [{"label": "Open in TrialWatch", "url": link, "type": "absolute"}],
    }


async def _patient_key(intake_url: str, token: str, issuer: TrustedIssuer,
                       patient_id: str, hook: str = "patient-view") -> str | None:
    try:
        async with httpx.AsyncClient(timeout=3.0) as client:
            answer = await client.post(
                f"{intake_url}/patients/lookup",
                json={"source_system": issuer.source_system, "source_patient_id": patient_id,
                      "fhir_patient_id": True,
                      "reason": f"CDS Hooks {hook} from {issuer.issuer}"[:500]},
                headers={"Authorization": f"Bearer {token}"})
    except (httpx.HTTPError, httpx.InvalidURL) as error:  # busy: 503; not reachable: 502
        raise unanswered(error, "the patient look-up") from None
    if answer.status_code == status.HTTP_404_NOT_FOUND:
        return None
    if answer.status_code != status.HTTP_200_OK:
        raise refused(answer, "the patient look-up")
    return str(answer.json()["patient_key"])


def _card(row: TrialStanding, link: str, zone: tzinfo = UTC) -> dict[str, Any] | None:
    """An "info" card for an eligible or nearly eligible patient; None for anything else.

    The instants the engine writes into what is still needed are days in ``zone`` (the site's),
    as the coordinator app's worklist and patient page write the same items."""
    if row.decision is None:
        return None
    decision = row.decision
    title = trial_text(decision.trial).title
    if decision.status is Status.ELIGIBLE:
        summary = f"Eligible for trial {row.trial_id}"
        detail = f"**{title}**: every criterion is met. Contact the study coordinator."
    elif decision.status is Status.UNDETERMINED and row.unknown_criteria <= CLOSE_UNKNOWN:
        wanted = needs(decision)
        summary = f"Close to eligible for trial {row.trial_id}"
        detail = f"**{title}**: nothing excludes the patient; still needed:\n\n" + "\n".join(
            f"- {dates_in_text(n.item, zone)} (criteria {', '.join(n.unblocks)})" for n in wanted)
    else:
        return None
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{link}#{decision.as_of.isoformat()}")),
        "summary": summary[:140], "indicator": "info", "detail": detail,
        "source": {"label": "TrialWatch"},
        "links": [{"label": "Open in TrialWatch", "url": link, "type": "absolute"}],
    }
