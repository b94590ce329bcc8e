"""``kraken2mqtt plan --chart FILE.png``: prices, dispatches and planned power per device as a picture.

matplotlib is an optional extra (``pip install 'kraken2mqtt[chart]'``): the daemon never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .model import ActionKind, Plan

_SIGN = {ActionKind.DISCHARGE: -1.0}


class ChartUnavailable(RuntimeError):
    """matplotlib is not installed."""


def write_chart(plan: Plan, path: Path, *, tz: str = "Europe/London") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartUnavailable("--chart needs matplotlib: pip install 'kraken2mqtt[chart]'") from exc
    zone = ZoneInfo(tz)
    fig: Any
    fig, (prices, power) = plt.subplots(2, 1, sharex=True, figsize=(11, 6.5), height_ratios=(1, 1.4))
    starts = [s.start.astimezone(zone) for s in plan.slots]
    if starts:
        edges = [*starts, plan.slots[-1].end.astimezone(zone)]
        values = [s.import_p for s in plan.slots]
        prices.stairs(values, edges, baseline=None, color="tab:blue", label="import p/kWh")
        forecast = [s.import_p if s.forecast else float("nan") for s in plan.slots]
        prices.stairs(forecast, edges, baseline=None, color="tab:gray", linestyle=":", label="forecast")
        for s in plan.slots:
            if s.dispatch:
                for ax in (prices, power):
                    ax.axvspan(
                        s.start.astimezone(zone), s.end.astimezone(zone), color="tab:green", alpha=0.15
                    )
        prices.set_ylabel("p/kWh")
        prices.legend(loc="upper right", fontsize="small")
    for dp in plan.devices:
        if not dp.intervals:
            continue
        edges = [iv.start.astimezone(zone) for iv in dp.intervals] + [dp.intervals[-1].end.astimezone(zone)]
        kw = [_SIGN.get(iv.action.kind, 1.0) * iv.action.power_kw for iv in dp.intervals]
        power.stairs(kw, edges, label=dp.device_id, linewidth=1.5)
    power.axhline(0, color="black", linewidth=0.5)
    power.set_ylabel("planned kW (discharge < 0)")
    power.legend(loc="upper right", fontsize="small")
    power.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz=zone))  # type: ignore[no-untyped-call]
    prices.set_title(f"Plan from {plan.now.astimezone(zone):%a %d %b %H:%M} — shaded: dispatches (off-peak)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
