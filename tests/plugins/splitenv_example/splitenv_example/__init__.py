"""Example splitenv plug-in: a scenario (``tiny_scct``), a solver and an inner allocator."""
