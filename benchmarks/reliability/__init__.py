"""Reliability: faults (servers killed and restarted), load, hostile input, accounting.

``python -m benchmarks.reliability`` runs everything at full scale and, with ``--write``,
puts the figures in ``benchmarks/RESULTS.md``; the tests in ``tests/reliability/`` run
the same machinery at a small scale.
"""
