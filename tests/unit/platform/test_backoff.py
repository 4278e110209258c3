from __future__ import annotations

from shared.infra.backoff import Backoff


def test_a_backoff_after_thousands_of_failures_still_gives_the_capped_pause() -> None:
    # A database away for hours: 2**failures must not overflow into an exception.
    backoff = Backoff(first_s=0.1, max_s=5.0)
    backoff.failures = 5000
    assert backoff.next_delay_s == 5.0


def test_each_scheduled_attempt_doubles_the_pause_up_to_the_cap_and_a_success_resets_it() -> None:
    backoff = Backoff(first_s=0.5, max_s=3.0)
    assert [backoff.step() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.step() == 0.5
