"""The coordinator app's routes: sign-in, alerts (live), worklist, patient x trial, actions.

Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript; the one
script adds the live alert feed (Server-Sent Events) and confirmation of actions. Every asset
is served from ``/ui/static``: nothing is loaded from another origin.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from services.evaluator.adapters.alert_stream import AlertStream, until_live
from services.evaluator.adapters.http.intake_answer import refused, unanswered
from services.evaluator.adapters.http.ui.sessions import COOKIE, Session, SessionStore
from services.evaluator.adapters.http.ui.views import (
    confirmation_words,
    patient_context,
    unmet,
    worklist_views,
)
from services.evaluator.adapters.trial_text import trial_name, trial_text
from services.evaluator.core.clock import Clock
from services.evaluator.core.coordination import RANKING
from services.evaluator.core.ports import CoordinatorDesk
from shared.contracts.envelope import REASON_MAX_LENGTH
from shared.contracts.events import CoordinatorActionKind, EnrolmentConfirmation
from shared.eligibility.decision import Outcome, Status, TrialRef
from shared.eligibility.readable import (
    UNIDENTIFIED_MEDICATION_HINT,
    deceased,
    human_date,
    human_time,
    machine_time,
    need_groups,
    need_words,
    status_words,
)
from shared.infra.auth import Principal, Role, TokenRegistry, refuse, require_site
from shared.infra.problem_error import Problem
from shared.infra.server import ParsedOnceRoute

HERE = Path(__file__).parent
HEARTBEAT_S = 15.0
# A coordinator's reason (an action's, a re-identification's) is at most 500 characters: what
# intake's access log keeps for a re-identification (ReidentifyRequest.reason), and the bound
# of the action's reason wherever it is stored or published.
REASON_MAX = REASON_MAX_LENGTH
TOKEN_MAX = 500  # a bearer token (shared.infra.auth tokens are ~30 characters)
NEXT_MAX = 2000  # a page of the app to return to
MISSING_MAX = 200  # a worklist filter: the name of a missing element
NextPage = Annotated[str, Query(max_length=NEXT_MAX)]
TrialFilter = Annotated[str | None, Query(max_length=64, description="only this trial")]
APP_ROLES = (Role.COORDINATOR, Role.ADMIN)
ACTIONS: dict[str, CoordinatorActionKind] = {
    "contacted": "contacted", "not-a-candidate": "not-a-candidate", "enrolled": "enrolled",
}
# the badge an alert's kind shows before its headline (alerts page, patient page)
ALERT_BADGES = {
    "newly-eligible": "Now eligible", "no-longer-eligible": "No longer eligible",
    "closed": "Trial closed",
}
ACTION_WORDS = {
    "acknowledged": "Alert acknowledged", "contacted": "Patient contacted",
    "not-a-candidate": "Not a candidate", "enrolled": "Enrolled", "reidentified": "Re-identified",
}


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""


class OneTimeReveals:
    """A re-identification's answer between its POST and the page it redirects to
    (Post/Redirect/Get, RFC 9110 15.4.4 303 See Other): kept in this process's memory only,
    for the session that asked (``owner``: its CSRF token, a per-session secret) and the one
    patient and trial, for ``ttl`` at most, and handed out once: the page after the redirect
    shows it, a reload or a second tab does not (asking again is a new, audited look-up).
    The identifier never goes into a URL, a cookie or the database. At most ``limit`` are
    held (the oldest dropped first). Behind several evaluators without sticky sessions the
    page may be served by another process: it then shows no identity (never another's)."""

    def __init__(self, ttl: timedelta = timedelta(seconds=60), limit: int = 1000) -> None:
        self._ttl, self._limit = ttl, limit
        self._held: dict[tuple[str, str, str], tuple[datetime, dict[str, Any]]] = {}

    def keep(self, owner: str, patient_key: str, trial_id: str, identity: dict[str, Any],
             now: datetime) -> None:
        """Hold ``identity`` for the next :meth:`take` of this owner, patient and trial."""
        self._held = {k: v for k, v in self._held.items() if v[0] > now}
        while len(self._held) >= self._limit:
            del self._held[next(iter(self._held))]
        self._held[(owner, patient_key, trial_id)] = (now + self._ttl, identity)

    def take(self, owner: str, patient_key: str, trial_id: str,
             now: datetime) -> dict[str, Any] | None:
        """The identity held for this owner, patient and trial, removed; None when there is
        none or it expired."""
        held = self._held.pop((owner, patient_key, trial_id), None)
        return held[1] if held is not None and held[0] > now else None


def mount(
    app: Any, desk: CoordinatorDesk, store: SessionStore, alerts: AlertStream, clock: Clock, *,
    zone: str, ttl_s: int, intake_url: str,
) -> None:
    """Add the app's routes and its static files to ``app`` under ``/ui``."""
    site_zone = ZoneInfo(zone)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = lambda instant: _time_tag(instant, human_time(instant,
                                                                                 site_zone))
    templates.env.filters["day"] = lambda instant: _time_tag(instant, human_date(instant,
                                                                                site_zone))
    templates.env.filters["status"] = status_words
    templates.env.filters["confirmation"] = confirmation_words
    templates.env.filters["trial_name"] = trial_name
    templates.env.filters["detail"] = _detail
    templates.env.filters["need_groups"] = need_groups
    templates.env.filters["need_words"] = need_words
    templates.env.globals["action_words"] = ACTION_WORDS
    templates.env.globals["alert_badges"] = ALERT_BADGES
    templates.env.globals["unidentified_hint"] = UNIDENTIFIED_MEDICATION_HINT
    templates.env.globals["worklist_ranking"] = RANKING
    ui = APIRouter(prefix="/ui", include_in_schema=False, route_class=ParsedOnceRoute)
    reveals = OneTimeReveals()

    async def current(request: Request) -> Session:
        registry: TokenRegistry = request.app.state.tokens

        def coordinator(token: str) -> Principal | None:
            principal = registry.authenticate(token)
            return principal if principal is not None and principal.role in APP_ROLES else None

        session = await store.find(request.cookies.get(COOKIE), clock(), coordinator)
        if session is None:
            raise SignInRequired
        return session

    async def checked(request: Request, csrf: str) -> Session:
        session = await current(request)
        if not session.csrf_matches(csrf):
            raise Problem("form-expired", "this form has expired: reload the page")
        return session

    async def trials(session: Session) -> tuple[TrialRef, ...]:
        """The active trials this coordinator's token claims (shared.infra.auth)."""
        active = await desk.active_trials()
        return tuple(t for t in active if session.principal.may_see_trial(t.id))

    async def trial_or_404(session: Session, trial_id: str) -> TrialRef:
        """An unknown trial and a trial outside the token's claims look the same: absent."""
        for trial in await trials(session):
            if trial.id == trial_id:
                return trial
        raise Problem("trial-not-found", "no active trial with this id is open to you")

    async def stopped_page(request: Request, session: Session, trial_id: str,
                           patient_key: str | None = None) -> Response | None:
        """The page of a trial this coordinator may see that is no longer screened
        (deactivated or retired): when, by whom and why, that screening stopped, and where
        its decisions are (the audit service). 410 Gone for a retired trial (never screened
        again), 404 for a deactivated one (it may be activated again). None when the trial
        is screened, unknown, or outside the token's claims (those stay plain 404s). A
        patient of another site is absent first (``patient_or_404``)."""
        if not session.principal.may_see_trial(trial_id) or any(
                t.id == trial_id for t in await trials(session)):
            return None
        if patient_key is not None:
            await patient_or_404(request, session, patient_key)
            patient_key = await desk.survivor(patient_key)
        stop = await desk.trial_stop(trial_id, patient_key)
        if stop is None:
            return None
        response = page(request, "stopped.html", session, trials=await trials(session),
                        stop=stop, patient_key=patient_key)
        response.status_code = (status.HTTP_410_GONE if stop.retired
                                else status.HTTP_404_NOT_FOUND)
        return response

    async def patient_or_404(request: Request, session: Session, patient_key: str) -> None:
        """A patient of a site outside the token's ``sites`` claim looks absent: 404, logged as
        ``site_not_in_claims`` (surrogate key only). A merged record is judged by the site of
        the record it lives on in, before any redirect names that record."""
        if session.principal.every_site:
            return
        site = await desk.patient_site(await desk.survivor(patient_key))
        require_site(request, session.principal, site, patient_key)

    def page(request: Request, name: str, session: Session, **context: Any) -> HTMLResponse:
        response = templates.TemplateResponse(request, name, {
            "who": session.principal, "csrf": session.csrf, "zone": zone, **context})
        response.headers["cache-control"] = "no-store"
        return response

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, _: SignInRequired) -> Response:
        if request.headers.get("accept", "").startswith("text/event-stream"):
            return Response(status_code=status.HTTP_401_UNAUTHORIZED)
        return RedirectResponse(f"/ui/sign-in?next={request.url.path}", status.HTTP_303_SEE_OTHER)

    @ui.get("/")
    async def home(request: Request) -> Response:
        await current(request)
        return RedirectResponse("/ui/alerts", status.HTTP_303_SEE_OTHER)

    @ui.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_form(request: Request, next: NextPage = "/ui/alerts") -> HTMLResponse:
        return templates.TemplateResponse(request, "sign_in.html",
                                          {"next": _local(next), "error": None})

    @ui.post("/sign-in")
    async def sign_in(
        request: Request, token: Annotated[str, Form(max_length=TOKEN_MAX)],
        next: Annotated[str, Form(max_length=NEXT_MAX)] = "/ui/alerts",
    ) -> Response:
        _same_origin(request)
        registry: TokenRegistry = request.app.state.tokens
        principal = registry.authenticate(token.strip())
        if principal is None or principal.role not in APP_ROLES:
            error = ("this token is not a coordinator's" if principal is not None
                     else "unknown token")
            return templates.TemplateResponse(request, "sign_in.html",
                                              {"next": _local(next), "error": error},
                                              status_code=status.HTTP_403_FORBIDDEN
                                              if principal else status.HTTP_401_UNAUTHORIZED)
        session_id, _ = await store.open(principal, token.strip(), clock())
        response = RedirectResponse(_local(next), status.HTTP_303_SEE_OTHER)
        response.set_cookie(COOKIE, session_id, max_age=ttl_s, path="/ui", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        return response

    @ui.post("/sign-out")
    async def sign_out(request: Request, csrf: Annotated[str, Form()]) -> Response:
        await checked(request, csrf)
        await store.close(request.cookies.get(COOKIE))
        response = RedirectResponse("/ui/sign-in", status.HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    @ui.get("/alerts", response_class=HTMLResponse)
    async def alert_page(request: Request, trial: TrialFilter = None) -> HTMLResponse:
        session = await current(request)
        active = await trials(session)
        if trial is not None:
            await trial_or_404(session, trial)
        rows = await desk.alerts(trial, session.principal.site_scope)
        rows = [r for r in rows if session.principal.may_see_trial(r.trial_id)]
        return page(request, "alerts.html", session, trials=active, trial=trial, alerts=rows)

    @ui.get("/alerts/stream")
    async def alert_feed(request: Request, trial: TrialFilter = None) -> StreamingResponse:
        session = await current(request)
        return StreamingResponse(_live(alerts, trial, site_zone, session),
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @ui.post("/alerts/{alert_id}/acknowledge")
    async def acknowledge(request: Request, alert_id: str, csrf: Annotated[str, Form()],
                          back: Annotated[str, Form(max_length=NEXT_MAX)] = "/ui/alerts"
                          ) -> Response:
        session = await checked(request, csrf)
        done = await desk.acknowledge(alert_id, session.principal.client, clock(),
                                      session.principal.may_see_trial,
                                      session.principal.site_scope)
        if done.other_site_patient is not None:  # as an unknown alert, logged (surrogate key)
            raise refuse(request, session.principal, status.HTTP_404_NOT_FOUND,
                         "site_not_in_claims", "no such alert", slug="alert-not-found",
                         patient_key=done.other_site_patient[:64])
        if not done.recorded:
            raise Problem("alert-not-found", "no such alert")
        return RedirectResponse(_local(back), status.HTTP_303_SEE_OTHER)

    @ui.get("/trials/{trial_id}/worklist", response_class=HTMLResponse)
    async def worklist_page(
        request: Request, trial_id: str,
        missing: Annotated[str | None, Query(max_length=MISSING_MAX)] = None,
    ) -> Response:
        session = await current(request)
        stopped = await stopped_page(request, session, trial_id)
        if stopped is not None:
            return stopped
        trial = await trial_or_404(session, trial_id)
        rows, items = await worklist_views(desk, trial.id, missing,
                                           sites=session.principal.site_scope, zone=site_zone)
        return page(request, "worklist.html", session, trials=await trials(session), trial=trial,
                    title=trial_text(trial).title, rows=rows, items=items, missing=missing)

    @ui.get("/patients/{patient_key}/trials/{trial_id}", response_class=HTMLResponse)
    async def patient_page(request: Request, patient_key: str, trial_id: str) -> Response:
        session = await current(request)
        stopped = await stopped_page(request, session, trial_id, patient_key)
        if stopped is not None:
            return stopped
        await trial_or_404(session, trial_id)
        await patient_or_404(request, session, patient_key)
        survivor = await desk.survivor(patient_key)
        if survivor != patient_key:  # merged into another record: its page has it all
            return RedirectResponse(f"/ui/patients/{survivor}/trials/{trial_id}",
                                    status.HTTP_303_SEE_OTHER)
        view = await desk.pair_view(patient_key, trial_id)
        if view is None or view.decision is None:
            raise Problem("patient-not-screened",
                          "this patient has not been screened for this trial")
        identity = reveals.take(session.csrf, patient_key, trial_id, clock())
        return page(request, "patient.html", session, trials=await trials(session),
                    **patient_context(view.decision, site_zone), view=view, identity=identity)

    @ui.post("/patients/{patient_key}/trials/{trial_id}/actions")
    async def take_action(
        request: Request, patient_key: str, trial_id: str, csrf: Annotated[str, Form()],
        action: Annotated[str, Form(max_length=32)],
        reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
        confirm_decision: Annotated[str, Form(max_length=36)] = "",
    ) -> Response:
        """Record a coordinator action, then 303 to the patient's page. "Enrolled" on a
        latest decision that is not eligible is recorded only with ``confirm_decision`` equal
        to that decision's id (the page's confirmation, naming the criteria that fail or are
        unknown), and its event carries the decision confirmed against; without it (or
        confirming an older decision) 409 ``enrolment-unconfirmed`` naming those criteria."""
        session = await checked(request, csrf)
        await trial_or_404(session, trial_id)
        await patient_or_404(request, session, patient_key)
        kind = ACTIONS.get(action)
        if kind is None:
            raise Problem("unknown-action",
                          "the action field must be one of: " + ", ".join(ACTIONS))
        if kind == "not-a-candidate" and not reason.strip():
            raise Problem("reason-required", "say why the patient is not a candidate")
        pair = await desk.pair_view(patient_key, trial_id)
        if pair is None:
            raise Problem("patient-not-screened", "not screened for this trial")
        if kind in ("contacted", "enrolled") and pair.decision is not None \
                and deceased(pair.decision):
            raise Problem("patient-deceased",
                          "the patient is recorded as deceased: not contacted or enrolled")
        confirmed = None
        if kind == "enrolled" and pair.decision is not None \
                and pair.decision.status is not Status.ELIGIBLE:
            criteria = unmet(pair.decision)
            if pair.decision_id is None or confirm_decision != pair.decision_id:
                # one sentence (the app's problem page shows a string detail, not a list)
                raise Problem("enrolment-unconfirmed", (
                    f"TrialWatch has not found this patient eligible "
                    f"({pair.decision.status.value}): enrolling needs the patient page's "
                    f"confirmation of the latest decision, whose criteria "
                    + "; ".join(f"{cid}{' ' + label if label else ''}: "
                                f"{'fails' if outcome is Outcome.FAIL else 'unknown'}"
                                for cid, label, outcome in criteria)
                    + " (nothing was recorded)"))
            confirmed = EnrolmentConfirmation(
                decision_id=UUID(pair.decision_id),
                status="ineligible" if pair.decision.status is Status.INELIGIBLE
                else "undetermined",
                failing=tuple(c for c, _, o in criteria if o is Outcome.FAIL),
                unknown=tuple(c for c, _, o in criteria if o is Outcome.UNKNOWN))
        if not await desk.act(patient_key, trial_id, kind, session.principal.client, clock(),
                              reason.strip() or None, confirmed):
            raise Problem("patient-not-screened", "not screened for this trial")
        return RedirectResponse(f"/ui/patients/{patient_key}/trials/{trial_id}",
                                status.HTTP_303_SEE_OTHER)

    @ui.post("/patients/{patient_key}/trials/{trial_id}/reidentify")
    async def reidentify(
        request: Request, patient_key: str, trial_id: str, csrf: Annotated[str, Form()],
        reason: Annotated[str, Form(max_length=REASON_MAX)],
    ) -> Response:
        """Ask intake who the patient is (intake logs it under the coordinator's name), record
        the action (published, kept by audit), then 303 to the patient's page, which shows
        the answer once (:class:`OneTimeReveals`): a reload of that page asks nothing again
        and shows no identity."""
        session = await checked(request, csrf)
        await trial_or_404(session, trial_id)
        await patient_or_404(request, session, patient_key)
        if len(reason.strip()) < 8:
            raise Problem("reason-required",
                          "state why you need the patient's identity (8 characters or more)")
        # a patient never screened for this trial is absent here: intake is not asked (it
        # would log a re-identification of a key the coordinator could only have made up)
        screened = await desk.pair_view(patient_key, trial_id)
        if screened is None or screened.decision is None:
            raise Problem("patient-not-screened", "not screened for this trial")
        identity = await _reidentify(intake_url, session.token, patient_key, trial_id,
                                     reason.strip())
        view = await desk.reidentified(patient_key, trial_id, session.principal.client, clock(),
                                       reason.strip())
        if view is None or view.decision is None:
            raise Problem("patient-not-screened", "not screened for this trial")
        reveals.keep(session.csrf, patient_key, trial_id, identity, clock())
        return RedirectResponse(
            f"/ui/patients/{quote(patient_key, safe='')}/trials/{quote(trial_id, safe='')}",
            status.HTTP_303_SEE_OTHER)

    app.include_router(ui)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")


async def _reidentify(intake_url: str, token: str, patient_key: str, trial_id: str,
                      reason: str) -> dict[str, Any]:
    """Intake's audited endpoint, called with the coordinator's own token (intake logs who).

    ``identifier_system`` is the FHIR Identifier.system sent with the identifier (its
    assigning authority's namespace), as received, or None when the sender gave none;
    ``identifiers`` every (system, value) the sender gave for the patient."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.post(
                # the key is one path segment, whatever it holds ("..", "/", NUL, CR LF)
                f"{intake_url}/patients/{quote(patient_key, safe='')}/reidentify",
                json={"trial": trial_id, "reason": reason},
                headers={"Authorization": f"Bearer {token}"})
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise unanswered(error, "the re-identification") from None
    if answer.status_code != 200:
        raise refused(answer, "the re-identification")
    body = answer.json()
    system = body.get("identifier_system")
    return {"source_system": str(body["source_system"]),
            "source_patient_id": str(body["source_patient_id"]),
            "identifier_system": str(system) if system else None,
            "identifiers": [(str(i["system"]), str(i["value"]))
                            for i in body.get("identifiers") or ()]}


async def _live(alerts: AlertStream, trial: str | None, zone: ZoneInfo,
                session: Session) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    async with alerts.subscribe() as queue:
        async for beat in until_live(alerts, HEARTBEAT_S):
            yield beat
        yield ": connected\n\n"
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    raised = await queue.get()
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            wanted = trial is None or raised.trial.id == trial
            if wanted and session.principal.may_see_trial(raised.trial.id) \
                    and session.principal.may_see_site(raised.site):
                data = {
                    "alert_id": str(raised.event_id), "kind": raised.alert,
                    "trial_id": raised.trial.id,
                    "trial_name": trial_name(raised.trial.id, raised.trial.version),
                    "patient_key": raised.patient_key,
                    "headline": _detail(raised.headline),
                    "when": human_time(raised.occurred_at, zone),
                    "datetime": machine_time(raised.occurred_at),
                }
                yield f"event: alert\nid: {raised.event_id}\ndata: {json.dumps(data)}\n\n"


def _time_tag(instant: Any, said: str) -> Markup:
    """``<time datetime="2024-12-01T08:26:15Z">1 Dec 2024, 09:26 CET</time>``: the words a
    person reads, the machine value beside them (HTML "time" element)."""
    return Markup('<time datetime="{}">{}</time>').format(machine_time(instant), said)


_LEADS = ("now eligible", "no longer eligible", "eligible", "ineligible", "undetermined")


def _detail(headline: str) -> str:
    """The headline without its lead ("now eligible:", "undetermined:"), which the page shows
    as a badge or in its status column."""
    lead, colon, rest = headline.partition(": ")
    if colon and lead in _LEADS:
        return rest
    return "" if headline in _LEADS else headline


def _local(target: str) -> str:
    """Only a path inside the app: never an open redirect to another site."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/alerts"


def _same_origin(request: Request) -> None:
    """Sign-in is the one form without a session token: refuse a cross-site post outright.

    ``Origin: null`` (RFC 6454 section 7.3: an opaque origin, what a sandboxed iframe, a
    data: URL or a cross-origin redirect sends) is never this app's origin: refused like any
    other site's (issue 14). No Origin at all (a non-browser client) is left to the form.
    """
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise Problem("cross-site-sign-in", "cross-site sign-in refused")
