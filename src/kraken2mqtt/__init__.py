"""kraken2mqtt: Kraken GraphQL API → planner → MQTT devices and Home Assistant."""

__version__ = "0.1.0"
