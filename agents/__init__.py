"""Learned schedulers: PPO and MaskablePPO agents trained on the splitenv environments.

Thin layers over stable-baselines3 and sb3-contrib:

* :mod:`agents.envs`: the environment recipe a run is trained on (scenario, timescale, inner
  allocator, action wrapper), vectorized envs and the fixed-seed validation env;
* :mod:`agents.train`: the training script (``splitenv train``), its typed ``Args`` and the
  per-preset tuned defaults in ``configs/agents/<preset>.yaml``;
* :mod:`agents.policy`: a trained model as a benchmark method ``policy(env, obs) -> fields``,
  registered as ``ppo:PATH`` and ``maskable_ppo:PATH`` in the ``splitenv.methods`` entry points.

Importing this package does not import torch; the modules that need it import it inside the
functions that use it.
"""
