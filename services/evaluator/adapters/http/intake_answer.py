"""What the evaluator answers when intake does not give the look-up it asked for.

The CDS Hooks service and the coordinator app ask intake for a surrogate key (``POST
/patients/lookup``) or an identity (``POST /patients/{key}/reidentify``). When intake does not
answer, the evaluator answers for it, and says which of two things happened:

- **busy** (``intake-busy``, 503 with ``Retry-After``): intake is up but did not answer within
  the evaluator's time-out, or itself answered 503 (its storage cannot take the access-log
  entry now) or 429. RFC 9110 15.6.4: 503 "the server is currently unable to handle the request
  due to a temporary overload ... which will likely be alleviated after some delay", and
  ``Retry-After`` (10.2.3) says when to try again. CDS Hooks 1.0 ("Error handling"): the EHR
  treats any error as no cards, so the 503 costs the clinician nothing more than the 502 did,
  and tells a client that retries the truth.
- **failed** (``intake-lookup-failed``, 502): intake cannot be reached (connection refused,
  an invalid URL) or gave an answer that is not one of its documented ones.
"""

from __future__ import annotations

import httpx

from shared.infra.problem_error import Problem

RETRY_AFTER_S = 5
"""Seconds a client is told to wait after ``intake-busy``: the time-outs are 3 s (CDS Hooks)
and 5 s (re-identification), so a busy intake has had a little more than one time-out's worth
of time to drain its queue."""

_BUSY_STATUSES = frozenset({429, 503})


def unanswered(error: Exception, what: str) -> Problem:
    """The problem to raise when the request to intake for ``what`` ("the patient look-up")
    raised ``error`` (an ``httpx.HTTPError`` or ``httpx.InvalidURL``): ``intake-busy`` for a
    time-out, ``intake-lookup-failed`` otherwise. Only the error's type is named."""
    if isinstance(error, httpx.TimeoutException):
        return Problem("intake-busy",
                       f"intake did not answer {what} within the time-out "
                       f"({type(error).__name__}); nothing was shown",
                       {"Retry-After": str(RETRY_AFTER_S)})
    return Problem("intake-lookup-failed",
                   f"intake did not answer {what} ({type(error).__name__})")


def refused(answer: httpx.Response, what: str) -> Problem:
    """The problem to raise when intake answered ``what`` with an unexpected status:
    ``intake-busy`` (with intake's own ``Retry-After`` when it is a number of seconds) for 429
    and 503, ``intake-lookup-failed`` for anything else."""
    if answer.status_code in _BUSY_STATUSES:
        given = answer.headers.get("Retry-After", "")
        wait = given if given.isdigit() and len(given) <= 6 else str(RETRY_AFTER_S)
        return Problem("intake-busy",
                       f"intake could not take {what} now ({answer.status_code}); "
                       "nothing was shown", {"Retry-After": wait})
    return Problem("intake-lookup-failed", f"intake refused {what} ({answer.status_code})")
