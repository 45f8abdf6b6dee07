"""The scenario presets: one YAML file per paper and more (installed as ``splitenv.presets``).

Found through the ``splitenv.scenarios`` entry point ``core`` (see :mod:`splitenv.plugins`).
"""
