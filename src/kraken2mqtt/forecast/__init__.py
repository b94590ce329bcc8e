"""Forecasts from outside services: solar generation per panel plane and outdoor temperature.

Each service has a small client module (request building, response parsing, its own limits) that turns
the service's documented response into the typed series of :mod:`.model`; :mod:`.service` polls them on
their own schedules, keeps the last good forecast through outages and marks it stale. The learned house
load lives in :mod:`.load_profile` (pure).
"""
