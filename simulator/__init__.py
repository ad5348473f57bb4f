"""The virtual plant: deterministic physics (:mod:`simulator.model`) behind real device servers.

Run it with ``python -m simulator``; use it from tests with :func:`simulator.testing.run_simulator_in_thread`.
"""
