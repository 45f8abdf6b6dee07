"""assemble (the env's own decisions, unvalidated) equals complete on every preset's actions."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv.env import SplitLoRAEnv
from splitenv.model.decision import DECISION_FIELDS
from splitenv.model.validation import assemble, complete
from splitenv.registration import ENV_IDS
from splitenv.spaces import native_to_decision


@pytest.mark.parametrize("preset", sorted(set(ENV_IDS.values())))
def test_assemble_equals_complete_on_decoded_actions(preset):
    env = SplitLoRAEnv(preset, timescale="joint")
    env.action_space.seed(3)
    scn = env.scenario
    for _ in range(20):
        fields = native_to_decision(scn, env.native_space, env.action_space.sample(), env.fixed)
        values = {k: np.stack([np.asarray(v)] * 3) for k, v in fields.items()}
        fast, checked = assemble(scn, values), complete(scn, values)
        assert fast.batch_size == checked.batch_size == 3
        assert fast._completed_for is scn
        for name in DECISION_FIELDS:
            a, b = getattr(fast, name), getattr(checked, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert a.dtype == b.dtype and not a.flags.writeable, name
                np.testing.assert_array_equal(a, b, err_msg=name)
