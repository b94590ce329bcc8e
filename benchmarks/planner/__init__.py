"""Benchmarks of the scheduler core (closed-loop replay, timing); see benchmarks/README.md."""
