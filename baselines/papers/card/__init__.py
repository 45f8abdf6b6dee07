"""CARD (Li, Wu, Li, Zhang): Alg. 1 (f* by (16) + brute-force cut), the two fixed-cut baselines, exact.

f* (16) is the core's :func:`splitenv.allocation.card.card_frequency` (the env's inner
allocator); the registered solvers are in :mod:`.solvers`.
"""
