from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.calendar import BusinessCalendar, WeeklyHours
from domain.durations import format_duration
from domain.sla import BREACH, ClockStatus, SlaClock, StepLevel, fraction_steps, offset_steps

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def resolution(budget: timedelta = HOUR) -> SlaClock:
    return SlaClock(name="resolution", budget=budget).start(T0)


def fire_due(clock: SlaClock, now: datetime) -> tuple[SlaClock, list[str]]:
    """Fires every step due by ``now`` one at a time, as the runner does; the names fired."""
    fired = []
    while (planned := clock.next_step(now)) is not None and planned.at <= now:
        clock = clock.fire(planned)
        fired.append(planned.step.name)
    return clock, fired


# --- the default ladder: fractions of the budget ---------------------------------------------------------------


def test_default_steps_remind_at_half_and_four_fifths_then_breach_then_escalate_at_twice() -> None:
    clock = resolution()
    assert [(step.name, step.level, clock.due_at(step)) for step in clock.ordered_steps()] == [
        ("remind_50", StepLevel.REMIND, T0 + 30 * MINUTE),
        ("remind_80", StepLevel.REMIND, T0 + 48 * MINUTE),
        (BREACH, StepLevel.BREACH, T0 + HOUR),
        ("escalate_200", StepLevel.ESCALATE, T0 + 2 * HOUR),
    ]
    assert clock.deadline_at() == T0 + HOUR


def test_steps_fire_once_each_in_order() -> None:
    clock = resolution()
    fired = []
    for minutes in (30, 48, 60, 120, 500):
        clock, now_fired = fire_due(clock, T0 + minutes * MINUTE)
        fired += now_fired
    assert fired == ["remind_50", "remind_80", BREACH, "escalate_200"]
    assert clock.next_step(T0 + 10 * HOUR) is None
    assert clock.breached
    assert clock.level == StepLevel.ESCALATE


def test_pausing_stops_consumption_and_resuming_continues_where_it_stopped() -> None:
    clock = resolution().pause(T0 + 20 * MINUTE)
    assert clock.consumed_at(T0 + 5 * HOUR) == 20 * MINUTE
    assert clock.next_step(T0 + 5 * HOUR) is None  # a paused clock fires nothing
    assert clock.deadline_at() is None

    resumed = clock.resume(T0 + 5 * HOUR)
    assert resumed.consumed_at(T0 + 5 * HOUR + 10 * MINUTE) == 30 * MINUTE
    planned = resumed.next_step(T0 + 5 * HOUR)
    assert planned is not None
    assert (planned.step.name, planned.at) == ("remind_50", T0 + 5 * HOUR + 10 * MINUTE)
    assert resumed.deadline_at() == T0 + 5 * HOUR + 40 * MINUTE


def test_a_budget_change_keeps_the_time_consumed() -> None:
    """Priority normal → urgent after 40 min: the urgent hour has 20 min left, not a fresh hour."""
    normal = resolution(budget=24 * HOUR)
    urgent = normal.set_budget(HOUR, T0 + 40 * MINUTE)
    assert urgent.consumed_at(T0 + 40 * MINUTE) == 40 * MINUTE
    assert urgent.deadline_at() == T0 + HOUR
    planned = urgent.next_step(T0 + 40 * MINUTE)
    assert planned is not None
    # 50 % (30 min) was passed by the change itself: it is due at once, at the change.
    assert (planned.step.name, planned.at) == ("remind_50", T0 + 40 * MINUTE)


def test_a_budget_cut_past_several_steps_fires_only_the_latest() -> None:
    clock = resolution(budget=24 * HOUR).set_budget(HOUR, T0 + 90 * MINUTE)
    planned = clock.next_step(T0 + 90 * MINUTE)
    assert planned is not None
    assert planned.step.name == BREACH
    assert [step.name for step in planned.skipped] == ["remind_50", "remind_80"]
    fired = clock.fire(planned)
    assert fired.fired == (BREACH,)
    assert set(fired.done) == {"remind_50", "remind_80", BREACH}


def test_a_late_start_fires_only_the_latest_due_step() -> None:
    """A clock started at T0 but first looked at 100 min later: the breach fires, the reminders don't."""
    planned = resolution().next_step(T0 + 100 * MINUTE)
    assert planned is not None
    assert (planned.step.name, planned.at) == (BREACH, T0 + HOUR)
    assert [step.name for step in planned.skipped] == ["remind_50", "remind_80"]


def test_a_new_generation_starts_over_with_every_step_pending_under_new_keys() -> None:
    clock, _ = fire_due(resolution(), T0 + 30 * MINUTE)
    clock, _ = fire_due(clock, T0 + 50 * MINUTE)
    assert clock.fired == ("remind_50", "remind_80")
    assert clock.key("remind_50") == "resolution:0:remind_50"

    transferred = clock.new_generation(T0 + 50 * MINUTE)
    assert transferred.generation == 1
    assert transferred.consumed_at(T0 + 50 * MINUTE) == timedelta()
    planned = transferred.next_step(T0 + 50 * MINUTE)
    assert planned is not None
    assert (planned.step.name, planned.at) == ("remind_50", T0 + 80 * MINUTE)
    assert planned.key == "resolution:1:remind_50"


def test_a_step_of_an_old_generation_cannot_be_fired_on_the_new_one() -> None:
    clock = resolution()
    planned = clock.next_step(T0)
    assert planned is not None
    with pytest.raises(ValueError, match="generation"):
        clock.new_generation(T0).fire(planned)


def test_a_stopped_clock_fires_nothing_and_keeps_what_it_consumed() -> None:
    clock = resolution().stop(T0 + 10 * MINUTE)
    assert clock.status is ClockStatus.STOPPED
    assert clock.next_step(T0 + 5 * HOUR) is None
    assert clock.consumed_at(T0 + 5 * HOUR) == 10 * MINUTE
    assert not clock.breached


def test_a_stopped_clock_remembers_the_deadline_it_ran_towards_also_once_past_it() -> None:
    """An order shows its ship deadline after the shipment, a late shipment included."""
    in_time = resolution().shift(30 * MINUTE).stop(T0 + 10 * MINUTE)
    assert in_time.deadline_at() is None
    assert in_time.last_deadline_at() == T0 + 90 * MINUTE
    late, _ = fire_due(resolution(), T0 + 3 * HOUR)
    assert late.stop(T0 + 3 * HOUR).last_deadline_at() == T0 + HOUR
    assert late.stop(T0 + 3 * HOUR).new_generation(T0 + 4 * HOUR).last_deadline_at() == T0 + 5 * HOUR


def test_resuming_with_the_deadline_kept_counts_the_pause_as_consumed() -> None:
    """A dropped pickup: the return deadline runs on where it stood, and what fell due meanwhile fires now."""
    paused = resolution().pause(T0 + 20 * MINUTE)
    kept = paused.resume(T0 + 30 * MINUTE, keep_deadline=True)
    assert kept.deadline_at() == T0 + HOUR
    assert kept.consumed_at(T0 + 30 * MINUTE) == 30 * MINUTE
    late = paused.resume(T0 + 90 * MINUTE, keep_deadline=True)
    planned = late.next_step(T0 + 90 * MINUTE)
    assert planned is not None
    assert (planned.step.name, planned.at) == (BREACH, T0 + HOUR)
    assert [step.name for step in planned.skipped] == ["remind_50", "remind_80"]
    assert resolution().resume(T0 + HOUR, keep_deadline=True) == resolution()  # only a paused clock resumes


def test_a_shift_moves_the_deadline_and_every_step_pending() -> None:
    clock = resolution().shift(30 * MINUTE)
    assert clock.deadline_at() == T0 + 90 * MINUTE
    planned = clock.next_step(T0)
    assert planned is not None
    assert planned.at == T0 + 60 * MINUTE


def test_a_calendar_change_keeps_the_time_consumed_and_counts_on_the_new_one_from_then() -> None:
    office = BusinessCalendar(timezone="UTC", hours=WeeklyHours(mon=(("08:00", "10:00"),), tue=(("08:00", "10:00"),)))
    clock = resolution(budget=3 * HOUR).set_calendar(office, T0 + HOUR)  # Monday 09:00 UTC, 1 h consumed
    assert clock.consumed_at(T0 + HOUR) == HOUR
    # Of the 2 h left, Monday's office hours hold one (09:00–10:00), Tuesday's the other (08:00–09:00).
    assert clock.deadline_at() == datetime(2026, 1, 6, 9, tzinfo=UTC)
    assert clock.consumed_at(datetime(2026, 1, 5, 20, tzinfo=UTC)) == 2 * HOUR


def test_the_whole_clock_survives_continue_as_new_as_json() -> None:
    office = BusinessCalendar(hours=WeeklyHours(mon=(("09:00", "18:00"),)), days_off=(date(2026, 1, 12),))
    clock, _ = fire_due(resolution().set_calendar(office, T0 + 10 * MINUTE).pause(T0 + 20 * MINUTE), T0 + HOUR)
    clock = clock.resume(T0 + 2 * HOUR).shift(MINUTE)
    carried = SlaClock.model_validate_json(clock.model_dump_json())
    assert carried == clock
    later = T0 + 30 * HOUR
    assert carried.consumed_at(later) == clock.consumed_at(later)
    assert carried.next_step(later) == clock.next_step(later)


@pytest.mark.parametrize(
    "bad",
    [
        {"budget": "PT0S"},
        {"budget": "PT1H", "steps": []},
        {
            "budget": "PT1H",
            "steps": [{"name": "x", "level": 0, "fraction": 0.5}, {"name": "x", "level": 1, "fraction": 1}],
        },
        {"budget": "PT1H", "steps": [{"name": "x", "level": 0}]},
        {"budget": "PT1H", "steps": [{"name": "x", "level": 0, "fraction": 0.5, "before": "PT1H"}]},
    ],
)
def test_a_clock_that_could_never_fire_sensibly_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SlaClock.model_validate({"name": "resolution", **bad})


def test_fraction_steps_name_and_level_by_position() -> None:
    assert [(step.name, step.level) for step in fraction_steps((2.0, 0.25, 1.0))] == [
        ("remind_25", StepLevel.REMIND),
        (BREACH, StepLevel.BREACH),
        ("escalate_200", StepLevel.ESCALATE),
    ]


# --- offsets before the deadline: domain/ladder.py's cases on the engine ---------------------------------------

DEADLINE = datetime(2026, 1, 4, 12, tzinfo=UTC)
LADDER = (timedelta(hours=4), timedelta(hours=24))


def ship_clock(started: datetime = DEADLINE - timedelta(hours=72)) -> SlaClock:
    """The order's ship clock: 72 h from payment, reminders 24 h and 4 h before."""
    return SlaClock(name="ship", budget=timedelta(hours=72), steps=offset_steps(LADDER)).start(started)


def test_offset_steps_fire_largest_offset_first_then_breach() -> None:
    clock = ship_clock()
    assert [(step.name, clock.due_at(step)) for step in clock.ordered_steps()] == [
        ("remind_24h", DEADLINE - timedelta(hours=24)),
        ("remind_4h", DEADLINE - timedelta(hours=4)),
        (BREACH, DEADLINE),
    ]


def test_offset_next_step_waits_for_the_first_reminder() -> None:
    planned = ship_clock().next_step(DEADLINE - timedelta(hours=72))
    assert planned is not None
    assert planned.step.name == "remind_24h"
    assert planned.skipped == ()


def test_offset_late_start_fires_only_the_latest_due_reminder() -> None:
    planned = ship_clock().next_step(DEADLINE - timedelta(hours=3))
    assert planned is not None
    assert planned.step.name == "remind_4h"
    assert [step.name for step in planned.skipped] == ["remind_24h"]


def test_offset_nothing_follows_the_breach() -> None:
    clock, fired = fire_due(ship_clock(), DEADLINE + timedelta(days=1))
    assert fired == [BREACH]
    assert clock.next_step(DEADLINE + timedelta(days=2)) is None


def test_offset_a_fired_reminder_is_not_planned_again() -> None:
    clock, fired = fire_due(ship_clock(), DEADLINE - timedelta(hours=23))
    assert fired == ["remind_24h"]
    planned = clock.next_step(DEADLINE - timedelta(hours=23))
    assert planned is not None
    assert planned.step.name == "remind_4h"


def test_offset_a_deadline_moved_later_plans_the_reminders_not_yet_sent_from_the_new_deadline() -> None:
    clock, fired = fire_due(ship_clock(), DEADLINE - timedelta(hours=23))
    assert fired == ["remind_24h"]
    moved = clock.shift(timedelta(days=2))
    planned = moved.next_step(DEADLINE - timedelta(hours=3))
    assert planned is not None
    assert planned.step.name == "remind_4h"
    assert planned.at == DEADLINE + timedelta(days=2) - timedelta(hours=4)
    assert moved.deadline_at() == DEADLINE + timedelta(days=2)


def test_offset_a_deadline_pulled_in_past_the_reminders_fires_only_the_breach() -> None:
    moved = ship_clock().shift(-timedelta(hours=48))
    planned = moved.next_step(DEADLINE - timedelta(hours=3))
    assert planned is not None
    assert planned.step.name == BREACH
    assert [step.name for step in planned.skipped] == ["remind_24h", "remind_4h"]


def test_offset_reminders_larger_than_the_budget_are_due_at_the_start() -> None:
    """A 3 h clock with a 24 h and a 4 h reminder: at its start only the 4 h reminder goes out."""
    clock = SlaClock(name="pay", budget=3 * HOUR, steps=offset_steps(LADDER)).start(T0)
    planned = clock.next_step(T0)
    assert planned is not None
    assert (planned.step.name, planned.at) == ("remind_4h", T0)
    assert [step.name for step in planned.skipped] == ["remind_24h"]


def ladder_plan(
    deadline: datetime, reminders: tuple[timedelta, ...], now: datetime, done: set[str]
) -> tuple[str, datetime, list[str]] | None:
    """What the retired reminder ladder planned (step at ``deadline - offset``; a late start fires only
    the latest due step), kept as the oracle the offset steps must agree with."""
    if BREACH in done:
        return None
    rungs = [
        (f"remind_{format_duration(offset, days=False)}", deadline - offset)
        for offset in sorted(set(reminders), reverse=True)
    ]
    pending = [(name, at) for name, at in [*rungs, (BREACH, deadline)] if name not in done]
    due = [(name, at) for name, at in pending if at <= now]
    if due:
        return due[-1][0], due[-1][1], [name for name, _ in due[:-1]]
    return pending[0][0], pending[0][1], []


@pytest.mark.parametrize(
    "reminders", [(), (timedelta(hours=1),), LADDER, (timedelta(hours=96), timedelta(hours=48), timedelta(minutes=30))]
)
@pytest.mark.parametrize("moved", [timedelta(), timedelta(hours=30), -timedelta(hours=40)])
def test_offset_steps_plan_exactly_what_the_ladder_planned(reminders: tuple[timedelta, ...], moved: timedelta) -> None:
    """Side by side over four days, looked at every 3 h, the deadline moved on day two: same steps, same
    skips, same times (a reminder before the start is due at the start, where the ladder had it earlier)."""
    started = DEADLINE - timedelta(hours=72)
    clock = SlaClock(name="ship", budget=timedelta(hours=72), steps=offset_steps(reminders)).start(started)
    deadline, done = DEADLINE, set[str]()
    for hours in range(0, 96, 3):
        now = started + timedelta(hours=hours)
        if hours == 36:
            deadline, clock = deadline + moved, clock.shift(moved)
        while True:
            old = ladder_plan(deadline, reminders, now, done)
            new = clock.next_step(now)
            assert (old is None) == (new is None)
            if old is None or new is None:
                break
            name, at, skipped = old
            assert (new.step.name, [step.name for step in new.skipped]) == (name, skipped)
            assert new.at == max(at, started)
            if at > now:
                break
            done.update((*skipped, name))
            clock = clock.fire(new)
