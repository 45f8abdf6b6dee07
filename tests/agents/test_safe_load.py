"""Agent files are data: loading never unpickles anything from the file.

A crafted SB3 zip whose serialized fields would create a marker file when unpickled is loaded
(or refused) without the marker ever appearing; corrupted files, changed checksums and
hyperparameters that would name code are refused with a FileFormatError naming the file.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO

from agents.envs import EnvRecipe, read_metadata
from agents.safe_load import file_sha256, load_model
from splitenv.errors import FileFormatError

SHIPPED = Path(__file__).resolve().parents[2] / "agents" / "pretrained" / "scct_round_ppo.zip"


class Payload:
    """Unpickling this creates ``marker``: the stand-in for arbitrary code in a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def shipped():
    meta = read_metadata(SHIPPED)
    recipe = EnvRecipe.from_dict(meta["env"])
    env = recipe.wrap(recipe.make())
    return meta, env


def _load(path, shipped, **kw):
    meta, env = shipped
    kw.setdefault("hyperparameters", meta["hyperparameters"])
    return load_model(
        PPO, path, observation_space=env.observation_space, action_space=env.action_space, **kw
    )


def _craft(tmp_path, marker, *, replace=(), add=(), data_bytes=None):
    """A copy of the shipped zip whose fields ``replace`` (and new fields ``add``) unpickle ``Payload``."""
    out = tmp_path / "crafted.zip"
    evil = {
        ":type:": "<class 'x'>",
        ":serialized:": base64.b64encode(pickle.dumps(Payload(marker))).decode(),
    }
    with zipfile.ZipFile(SHIPPED) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            raw = src.read(item.filename)
            if item.filename == "data":
                data = json.loads(raw)
                for key in (*replace, *add):
                    data[key] = evil
                raw = data_bytes if data_bytes is not None else json.dumps(data).encode()
            dst.writestr(item, raw)
    return out


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
    # the check is meaningful: plain SB3 loading of the crafted file would run it
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


def test_shipped_agent_loads_and_acts_like_sb3s_own_loader(shipped):
    _, env = shipped
    model = _load(SHIPPED, shipped, sha256=file_sha256(SHIPPED))
    reference = PPO.load(SHIPPED, device="cpu")  # our own shipped file: trusted here
    obs, _ = env.reset(seed=0)
    done = False
    while not done:  # one whole episode
        a, _ = model.predict(obs, deterministic=True)
        b, _ = reference.predict(obs, deterministic=True)
        np.testing.assert_array_equal(a, b)
        obs, _, terminated, truncated, _ = env.step(a)
        done = terminated or truncated


def test_known_serialized_fields_are_rebuilt_never_unpickled(tmp_path, shipped):
    marker = tmp_path / "pwned"
    fields = ("policy_class", "policy_kwargs", "lr_schedule", "observation_space", "action_space",
              "ep_info_buffer", "_last_obs", "rollout_buffer_class")  # fmt: skip
    model = _load(_craft(tmp_path, marker, replace=fields), shipped)
    assert not marker.exists()
    assert model.policy.__class__.__name__ == "ActorCriticPolicy"


def test_unknown_serialized_field_is_refused(tmp_path, shipped):
    marker = tmp_path / "pwned"
    with pytest.raises(FileFormatError, match=r"serialized fields \['evil'\] would be unpickled"):
        _load(_craft(tmp_path, marker, add=("evil",)), shipped)
    assert not marker.exists()


def test_corrupted_files(tmp_path, shipped):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(FileFormatError, match="not a stable-baselines3 model file"):
        _load(junk, shipped)
    with pytest.raises(FileFormatError, match="not JSON"):
        _load(_craft(tmp_path, tmp_path / "m", data_bytes=b"\xff{"), shipped)
    with pytest.raises(FileFormatError, match="checksum mismatch"):
        _load(SHIPPED, shipped, sha256="0" * 64)


@pytest.mark.parametrize(
    ("hyper", "match"),
    [
        ({"policy_kwargs": {"activation_fn": "os.system"}}, "activation_fn = 'os.system'"),
        ({"policy_kwargs": {"features_extractor_class": "x"}}, "cannot be rebuilt from JSON"),
        ({"learning_rate": "x"}, "learning_rate = 'x'"),
        ({"policy_kwargs": ["tanh"]}, "must be a JSON object"),
    ],
)
def test_hyperparameters_that_would_name_code_are_refused(shipped, hyper, match):
    with pytest.raises(FileFormatError, match=match):
        _load(SHIPPED, shipped, hyperparameters=hyper)
