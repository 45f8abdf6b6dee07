"""Preset YAML files of the example plug-in (the ``splitenv.scenarios`` entry point)."""
