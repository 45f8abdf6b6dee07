"""SFT (Zhang et al., split fine-tuning in wireless networks): Alg. 2 + Alg. 3, baselines, exact.

The bandwidth kernels (engine-read coefficients, Alg. 3 SQP, exact bisection) are the core's
:mod:`splitenv.allocation.sft_bandwidth`; the configuration search (Alg. 2, the exact joint
optimum) is :mod:`.config`; the registered solvers are in :mod:`.solvers`.
"""
