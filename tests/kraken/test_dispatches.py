from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kraken2mqtt.kraken import dispatches, tariffs
from kraken2mqtt.kraken.dispatches import DispatchTracker
from kraken2mqtt.kraken.snapshot import Dispatch, DispatchState

T0 = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)


def _d(
    start_h: float, end_h: float, source: str | None = "smart-charge", location: str | None = None
) -> Dispatch:
    return Dispatch(
        start=T0 + timedelta(hours=start_h),
        end=T0 + timedelta(hours=end_h),
        delta_kwh=Decimal("-3.5"),
        source=source,
        location=location,
    )


def _at(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def _states(tr: DispatchTracker) -> list[tuple[float, str, bool]]:
    return [((d.start - T0).total_seconds() / 3600, d.state.value, d.held) for d in tr.dispatches]


def test_planned_started_completed_by_time_alone() -> None:
    tr = DispatchTracker()
    assert tr.update([_d(1, 2)], [], _at(0))
    assert _states(tr) == [(1, "planned", False)]
    assert tr.advance(_at(1))
    assert _states(tr) == [(1, "started", False)]
    assert tr.advance(_at(2))
    assert _states(tr) == [(1, "completed", False)]
    assert not tr.advance(_at(3))


def test_vanishing_just_before_start_is_kept_as_started() -> None:
    tr = DispatchTracker()
    tr.update([_d(1, 2)], [], _at(0))
    tr.update([], [], _at(1) - timedelta(minutes=2))  # gone 2 min before start
    assert _states(tr) == [(1, "planned", True)]
    tr.update([], [], _at(1.5))
    assert _states(tr) == [(1, "started", True)]
    assert dispatches.dispatching_now(tr.dispatches, _at(1.5))
    tr.update([], [], _at(2.1))
    assert _states(tr) == [(1, "completed", True)]
    assert not dispatches.dispatching_now(tr.dispatches, _at(2.1))


def test_vanishing_well_before_start_is_cancelled_and_ignored() -> None:
    tr = DispatchTracker()
    tr.update([_d(1, 2)], [], _at(0))
    tr.update([], [], _at(0.5))
    assert _states(tr) == [(1, "cancelled", False)]
    assert not dispatches.dispatching_now(tr.dispatches, _at(1.5))
    assert dispatches.next_start(tr.dispatches, _at(0.5)) is None


def test_vanishing_after_start_then_reported_completed() -> None:
    tr = DispatchTracker()
    tr.update([_d(1, 2)], [], _at(0))
    tr.update([], [], _at(1.2))
    tr.update([], [_d(1, 2, source=None, location="AT_HOME")], _at(2.2))
    (d,) = tr.dispatches
    assert d.state == DispatchState.COMPLETED and d.location == "AT_HOME"
    assert d.source == "smart-charge"  # remembered from the planned entry


def test_overlapping_dispatches_merge_for_signals() -> None:
    tr = DispatchTracker()
    tr.update([_d(1, 2), _d(1.5, 3), _d(4, 5)], [], _at(0))
    ws = dispatches.windows(tr.dispatches)
    assert [(w.start, w.end) for w in ws] == [(_at(1), _at(3)), (_at(4), _at(5))]
    assert dispatches.next_start(tr.dispatches, _at(1.6)) == _at(4)
    assert dispatches.edges(tr.dispatches) == [_at(1), _at(3), _at(4), _at(5)]
    assert dispatches.current_window(tr.dispatches, _at(2.5)) is not None


def test_out_of_order_input_and_empty() -> None:
    tr = DispatchTracker()
    assert not tr.update([], [], _at(0))
    tr.update([_d(4, 5), _d(1, 2)], [_d(-1, -0.5, None, "AT_HOME"), _d(-3, -2, None, "AT_HOME")], _at(0))
    assert [s[0] for s in _states(tr)] == [-3, -1, 1, 4]
    assert dispatches.next_start(tr.dispatches, _at(0)) == _at(1)
    assert not tr.update(
        [_d(1, 2), _d(4, 5)], [_d(-3, -2, None, "AT_HOME"), _d(-1, -0.5, None, "AT_HOME")], _at(0)
    )


def test_replanned_end_updates_and_completed_supersedes_overlap() -> None:
    tr = DispatchTracker()
    tr.update([_d(1, 2)], [], _at(0))
    tr.update([_d(1, 2.5)], [], _at(1.1))
    assert tr.dispatches[0].end == _at(2.5) and tr.dispatches[0].state == DispatchState.STARTED
    # re-planned start: the old entry vanishes after its start (held), the completed record replaces both
    tr.update([_d(1.2, 2.5)], [], _at(1.3))
    tr.update([], [_d(1, 2.5, None, "AT_HOME")], _at(3))
    assert _states(tr) == [(1, "completed", False)]


def test_history_pruned_after_48h() -> None:
    tr = DispatchTracker()
    tr.update([], [_d(-1, -0.5, None, "AT_HOME")], _at(0))
    tr.update([], [], _at(47))
    assert len(tr.dispatches) == 1
    tr.update([], [], _at(49))
    assert len(tr.dispatches) == 0


def test_off_peak_signal_and_adjusted_rate() -> None:
    account = {
        "number": "A",
        "properties": [
            {
                "id": "1",
                "electricityMeterPoints": [
                    {
                        "mpan": "1",
                        "direction": "IMPORT",
                        "agreements": [
                            {
                                "validFrom": "2025-01-01T00:00:00Z",
                                "tariff": {
                                    "__typename": "DayNightTariff",
                                    "productCode": "INTELLI-VAR",
                                    "dayRate": 28,
                                    "nightRate": 7,
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    # Intelligent because the account has a dispatch-capable device and the tariff a day/night shape.
    intelligent = tariffs.intelligent(tariffs.gb_tariffs(account, T0), dispatch_capable=True).import_
    tr = DispatchTracker()
    # a smart-charge dispatch at 19:00-20:00 (day rate) and a bump charge at 20:00-21:00
    tr.update([_d(-3, -2), _d(-2, -1, source="bump-charge")], [], _at(-4))
    assert dispatches.off_peak_now(intelligent, tr.dispatches, _at(-2.5))
    assert dispatches.dispatch_adjusted_rate(intelligent, tr.dispatches, _at(-2.5)) == Decimal("7")
    # the bump charge touching it is one dispatching window, but not billed off-peak
    assert dispatches.dispatching_now(tr.dispatches, _at(-1.5))
    assert not dispatches.off_peak_now(intelligent, tr.dispatches, _at(-1.5))
    assert dispatches.dispatch_adjusted_rate(intelligent, tr.dispatches, _at(-1.5)) == Decimal("28")
    assert dispatches.off_peak_now(intelligent, [], _at(2))  # the night window itself
    assert not dispatches.off_peak_now(None, tr.dispatches, _at(-2.5))
