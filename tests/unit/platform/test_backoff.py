from __future__ import annotations

from shared.infra.backoff import Backoff


def test_a_backoff_after_thousands_of_failures_still_gives_the_capped_pause() -> None:
    # A database away for hours: 2**failures must not overflow into an exception.
    backoff = Backoff(first_s=0.1, max_s=5.0)
    backoff.failures = 5000
    assert backoff.next_delay_s == 5.0
