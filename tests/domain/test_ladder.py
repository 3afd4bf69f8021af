from datetime import UTC, datetime, timedelta

from domain.ladder import BREACH, next_step, steps

DEADLINE = datetime(2026, 1, 4, 12, tzinfo=UTC)
LADDER = (timedelta(hours=4), timedelta(hours=24))


def test_steps_fire_largest_offset_first_then_breach() -> None:
    assert [(s.name, s.at) for s in steps(DEADLINE, LADDER)] == [
        ("remind_24h", DEADLINE - timedelta(hours=24)),
        ("remind_4h", DEADLINE - timedelta(hours=4)),
        (BREACH, DEADLINE),
    ]


def test_next_step_waits_for_the_first_reminder() -> None:
    planned = next_step(DEADLINE, LADDER, DEADLINE - timedelta(hours=72), done=())
    assert planned is not None
    assert planned.step.name == "remind_24h"
    assert planned.skipped == ()


def test_a_late_start_fires_only_the_latest_due_reminder() -> None:
    planned = next_step(DEADLINE, LADDER, DEADLINE - timedelta(hours=3), done=())
    assert planned is not None
    assert planned.step.name == "remind_4h"
    assert [s.name for s in planned.skipped] == ["remind_24h"]


def test_nothing_follows_the_breach() -> None:
    assert next_step(DEADLINE, LADDER, DEADLINE + timedelta(days=1), done={BREACH}) is None


def test_a_fired_reminder_is_not_planned_again() -> None:
    planned = next_step(DEADLINE, LADDER, DEADLINE - timedelta(hours=23), done={"remind_24h"})
    assert planned is not None
    assert planned.step.name == "remind_4h"


def test_a_deadline_moved_later_plans_the_reminders_not_yet_sent_from_the_new_deadline() -> None:
    """A reminder already sent is not sent again (its key is taken); the others follow the new deadline."""
    moved = DEADLINE + timedelta(days=2)
    planned = next_step(moved, LADDER, DEADLINE - timedelta(hours=3), done={"remind_24h"})
    assert planned is not None
    assert planned.step.name == "remind_4h"
    assert planned.step.at == moved - timedelta(hours=4)
