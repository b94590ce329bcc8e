"""Moved to :mod:`kraken2mqtt.store.command_queue` (and ``PlannerMode`` to :mod:`kraken2mqtt.controls`).

Kept so modules outside the store keep importing; point them at ``store.command_queue`` and delete this.
"""

from kraken2mqtt.controls import PlannerMode as PlannerMode
from kraken2mqtt.store.command_queue import FINAL_STATES as FINAL_STATES
from kraken2mqtt.store.command_queue import CommandQueue as CommandQueue
from kraken2mqtt.store.command_queue import PendingCommand as PendingCommand
from kraken2mqtt.store.command_queue import PlannerOverrides as PlannerOverrides
from kraken2mqtt.store.command_queue import State as State
from kraken2mqtt.store.command_queue import Superseded as Superseded
