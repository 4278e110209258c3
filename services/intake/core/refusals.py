"""Why intake refuses a submission, as the HTTP status and RFC 9457 problem it becomes.

The same refusals serve the raw Kafka topic, where they become the dead-letter reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.clinical.errors import InvalidInput, Problem
from shared.problems import problem_type


class Refusal(Exception):
    """Bad input: never a 5xx, never on Kafka."""

    status = 400
    slug = "bad-request"

    def __init__(self, detail: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems: tuple[Problem, ...] = tuple(problems)

    @property
    def title(self) -> str:
        """The problem type's title, the same for every refusal of this kind."""
        return problem_type(self.slug).title

    @property
    def type_uri(self) -> str:
        """``https://trialwatch.dev/problems/<slug>``, documented in docs/problems.md."""
        return problem_type(self.slug).uri

    def reason(self) -> str:
        """One line for a dead letter or a log: status, kind and the path of every problem.

        Never the detail or problem texts: they may quote the input (a unit, a code, a name),
        and dead letters and logs must not carry input excerpts (the refused message itself
        is kept in the dead letter's payload, which is PHI and access-restricted).
        """
        paths = ", ".join(p.path for p in self.problems[:50])
        return f"{self.status} {self.slug}" + (f" at {paths}" if paths else "")


class MalformedInput(Refusal):
    status = 400
    slug = "malformed-input"


class SiteNotAllowed(Refusal):
    """A raw-topic message whose ``trialwatch-site`` header names a site the raw listener is
    not allowed to stamp (``INTAKE_RAW_SITES``), or a header where no site is allowed."""

    status = 403
    slug = "site-not-allowed"


class SiteRequired(Refusal):
    """A raw-topic message without a ``trialwatch-site`` header where several sites are
    allowed: which one cannot be decided."""

    status = 422
    slug = "site-required"


class PayloadTooLarge(Refusal):
    status = 413
    slug = "payload-too-large"


class EventTooLarge(PayloadTooLarge):
    """An event built from the input would be larger than the broker's producer publishes
    (RFC 9110 15.5.14 413 Content Too Large: the server is unable to process content this
    large); each problem names the patient and both sizes."""

    slug = "event-too-large"


class UnsupportedMediaType(Refusal):
    status = 415
    slug = "unsupported-media-type"


class InvalidClinicalInput(Refusal):
    status = 422
    slug = "invalid-clinical-input"

    @classmethod
    def from_error(cls, error: InvalidInput) -> InvalidClinicalInput:
        count = len(error.problems)
        return cls(f"{count} problem{'s' * (count != 1)} in the input", error.problems)


class NormaliserDefect(InvalidClinicalInput):
    """The shared normaliser failed on this input with an unexpected exception: refused as
    unreadable (422, never a 5xx), and counted and logged by the adapter that received it
    (the error type only: the payload may carry PHI)."""

    def __init__(self, format_name: str, error_type: str) -> None:
        super().__init__("the normaliser could not read this input",
                         [Problem("$", f"unreadable input ({error_type})")])
        self.format_name = format_name
        self.error_type = error_type
