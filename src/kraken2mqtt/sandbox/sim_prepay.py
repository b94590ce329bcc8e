"""The prepay meter's credit: spent at the current price, topped up automatically when it runs low."""

from __future__ import annotations

from datetime import datetime

from kraken2mqtt.plan_inputs import currency_of
from kraken2mqtt.sandbox.sim_account import SimAccount, SimAutoTopupTrigger, SimPrepayBalance
from kraken2mqtt.sandbox.sim_events import WorldEvent


class SimPrepay:
    """Credit of the account's (first) prepay balance. Below ``low_credit_pence`` an auto top-up adds the
    amount of the active balance-triggered payment schedule (what ``updateAutoTopUpAmount`` changes), else
    of the current auto top-up config, and records an auto top-up trigger."""

    def __init__(self, account: SimAccount, low_credit_pence: int = 500) -> None:
        self.account = account
        self.low_credit_pence = low_credit_pence
        bal = self.balance
        self.credit: float | None = None if bal is None else float(bal.credit_pence)
        self.top_ups = 0

    @property
    def balance(self) -> SimPrepayBalance | None:
        return next(iter(self.account.prepay_balances.values()), None)

    def spend(self, pence: float) -> None:
        if self.credit is not None:
            self.credit -= pence

    def top_up(self, t: datetime) -> WorldEvent | None:
        if self.credit is None or self.credit >= self.low_credit_pence:
            return None
        acc, today = self.account, t.date()
        schedules = [
            s
            for s in acc.payment_schedules
            if s.schedule_type == "BALANCE_TRIGGERED"
            and s.valid_from <= today
            and (s.valid_to is None or s.valid_to > today)
        ]
        configs = [c for c in acc.auto_topup_configs if c.effective_to is None or c.effective_to > t]
        amount = schedules[-1].payment_amount if schedules else configs[-1].topup_amount if configs else 0
        if amount <= 0:
            return None
        before = self.credit
        self.credit += amount
        self.top_ups += 1
        if configs:
            trigger_id = str(len(acc.auto_topup_triggers) + 1)
            acc.auto_topup_triggers.append(SimAutoTopupTrigger(trigger_id, configs[-1].id, t))
        money = currency_of(acc.deployment).money
        text = f"prepay credit low ({money(before)}): auto top-up {money(amount)}"
        return WorldEvent(t, "prepay", text)

    def sync(self) -> None:
        bal = self.balance
        if bal is not None and self.credit is not None:
            bal.credit_pence = round(self.credit)
            bal.as_at = None  # "now" at query time
