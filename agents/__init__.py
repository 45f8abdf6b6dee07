"""Learned schedulers: PPO and MaskablePPO agents trained on the splitenv environments.

Thin layers over stable-baselines3 and sb3-contrib:

* :mod:`agents.envs`: the environment recipe a run is trained on (scenario, timescale, inner
  allocator, action wrapper), vectorized envs and the fixed-seed validation env;
* :mod:`agents.args`: the typed ``Args`` of a run, with the per-preset tuned defaults of
  ``configs/agents/<preset>.yaml`` and the command line's ``--set`` overrides;
* :mod:`agents.train`: the training script (``splitenv train``);
* :mod:`agents.callbacks`: validation with best-model saving, and a wall-clock budget;
* :mod:`agents.policy`: a trained model as a benchmark method ``policy(env, obs) -> fields``,
  registered as ``ppo:PATH`` and ``maskable_ppo:PATH`` in the ``splitenv.methods`` entry points;
* :mod:`agents.device_set`: a policy whose weights serve any number of devices (one MLP
  shared by the devices, a pooled context; ``--set policy=device_set``);
* :mod:`agents.catalog`: the shipped agents and their sidecars (``splitenv agents``; bare
  ``ppo`` in ``splitenv bench`` is the scenario's own).

Importing ``agents``, ``agents.args``, ``agents.envs``, ``agents.catalog`` or ``agents.policy`` does not import
torch; stable-baselines3 is imported inside the functions that need it (``agents.callbacks``
is only imported by ``train``).
"""
