"""Load stable-baselines3 models without running code from the file.

An SB3 ``.zip`` stores some fields of the model (policy class, spaces, schedules, buffers) as
cloudpickle, and ``PPO.load`` unpickles them: a crafted file runs any code it likes on load.
Agent files from elsewhere are data, so this module never lets SB3 unpickle anything:

* every top-level field of the zip's ``data`` that holds a serialized object is either
  rebuilt here from plain data (the spaces of the env the model acts in, the hyperparameters
  stored as JSON with the run) and handed to SB3 through ``custom_objects`` (which SB3 uses
  *instead of* deserializing), or the file is refused with an error naming the field;
* tensors are read by SB3 with ``torch.load(weights_only=True)`` (no pickle code);
* a sidecar ``sha256`` (shipped agents carry one) is checked before anything is read.

The rebuilt values are what the model needs to act and to resume training: the policy class
of the algorithm, ``policy_kwargs`` from the JSON hyperparameters, constant learning-rate and
clip-range schedules, the spaces, and empty rollout state (SB3 re-creates it on ``learn``).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

from splitenv.errors import FileFormatError

#: activation names allowed in JSON hyperparameters -> torch.nn class name
ACTIVATIONS = {
    "tanh": "Tanh",
    "relu": "ReLU",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
}
#: serialized fields reset to "nothing yet" (SB3 rebuilds them when training resumes)
EMPTY = ("_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer",
         "ep_success_buffer", "rollout_buffer_class", "action_noise")  # fmt: skip
#: serialized fields rebuilt from plain data
REBUILT = ("policy_class", "policy_kwargs", "learning_rate", "lr_schedule", "clip_range",
           "clip_range_vf", "observation_space", "action_space")  # fmt: skip
#: plain JSON keys of policy_kwargs accepted from hyperparameters
POLICY_KWARGS = (
    "net_arch",
    "activation_fn",
    "log_std_init",
    "ortho_init",
    "share_features_extractor",
)


#: the largest ``data`` member accepted (the shipped agent's is about 30 kB)
MAX_DATA_BYTES = 16 << 20


def max_total_bytes() -> int:
    """The largest total of inflated members: 4 GB, or a quarter of the memory cap if lower."""
    from splitenv.limits import limit_bytes

    return min(4 << 30, limit_bytes() // 4)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: str | Path, expected: str | None) -> None:
    """Raise unless ``path`` hashes to ``expected`` (no check when ``expected`` is None).

    Raises:
        FileFormatError: the file changed since its checksum was recorded.
    """
    if expected is not None and file_sha256(path) != expected:
        raise FileFormatError(
            f"{path}: checksum mismatch (recorded sha256 {expected[:12]}..., file "
            f"{file_sha256(path)[:12]}...): the agent file was changed or corrupted; refusing to load"
        )


def serialized_fields(path: str | Path) -> dict[str, Any]:
    """The zip's ``data`` as plain JSON (nothing deserialized), checked for shape.

    Raises:
        FileFormatError: not a zip, no ``data`` member, members bigger than the caps
            (:data:`MAX_DATA_BYTES`, :func:`max_total_bytes`: a zip bomb is refused before
            anything is inflated), or ``data`` not a JSON object.
    """
    try:
        with zipfile.ZipFile(path) as z:
            sizes = {info.filename: info.file_size for info in z.infolist()}
            total, cap = sum(sizes.values()), max_total_bytes()
            if sizes.get("data", 0) > MAX_DATA_BYTES or total > cap:
                raise FileFormatError(
                    f"{path}: inflates to {total:,} bytes ('data' {sizes.get('data', 0):,}); "
                    f"allowed: 'data' up to {MAX_DATA_BYTES:,}, all members up to {cap:,}"
                )
            raw = z.read("data")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: not a stable-baselines3 model file ({exc})") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: its 'data' member is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: its 'data' member is not a JSON object")
    return data


def _schedule(value: Any, name: str, path: str | Path) -> Any:
    from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule

    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise FileFormatError(
            f"{path}: hyperparameter {name} = {value!r} must be a positive number"
        )
    return FloatSchedule(ConstantSchedule(float(value)))


#: plain JSON keys of policy_kwargs of the device-set policy (agents.device_set)
DEVICE_SET_KWARGS = ("layout", "hidden", "activation", "log_std_init", "ortho_init")


def _device_set_kwargs(given: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The device-set policy's keyword arguments, checked as plain data."""
    unknown = sorted(set(given) - set(DEVICE_SET_KWARGS))
    if unknown:
        raise FileFormatError(
            f"{path}: device-set policy_kwargs {unknown}; allowed: {', '.join(DEVICE_SET_KWARGS)}"
        )
    layout = given.get("layout")
    if not (
        isinstance(layout, list)
        and layout
        and all(
            isinstance(f, list) and len(f) == 2 and isinstance(f[0], str) and isinstance(f[1], bool)
            for f in layout
        )
    ):
        raise FileFormatError(f"{path}: device-set layout must be a list of [field, per_device]")
    hidden = given.get("hidden", 64)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= 65_536:
        raise FileFormatError(f"{path}: device-set hidden = {hidden!r}; allowed: 1..65536")
    if given.get("activation", "tanh") not in ("tanh", "relu"):
        raise FileFormatError(f"{path}: device-set activation must be tanh or relu")
    return {**given, "layout": [(name, per) for name, per in layout]}


def _policy_kwargs(hyper: dict[str, Any], path: str | Path) -> dict[str, Any]:
    import torch.nn as nn

    given = hyper.get("policy_kwargs") or {}
    if not isinstance(given, dict):
        raise FileFormatError(f"{path}: hyperparameter policy_kwargs must be a JSON object")
    if hyper.get("policy_class") == "device_set":
        return _device_set_kwargs(given, path)
    unknown = sorted(set(given) - set(POLICY_KWARGS))
    if unknown:
        raise FileFormatError(
            f"{path}: policy_kwargs {unknown} cannot be rebuilt from JSON; allowed: {', '.join(POLICY_KWARGS)}"
        )
    kwargs = dict(given)
    if "activation_fn" in kwargs:
        name = kwargs["activation_fn"]
        if name not in ACTIVATIONS:
            raise FileFormatError(
                f"{path}: activation_fn = {name!r}; allowed: {', '.join(ACTIVATIONS)}"
            )
        kwargs["activation_fn"] = getattr(nn, ACTIVATIONS[name])
    return kwargs


def _policy_class(algo_cls: Any, hyper: dict[str, Any], path: str | Path) -> Any:
    """SB3's MlpPolicy of the algorithm, or the device-set policy (``policy_class``)."""
    name = hyper.get("policy_class", "mlp")
    if name == "device_set":
        from agents.device_set import DeviceSetPolicy

        if algo_cls.__name__ != "PPO":
            raise FileFormatError(f"{path}: the device-set policy is for PPO only")
        return DeviceSetPolicy
    if name != "mlp":
        raise FileFormatError(f"{path}: policy_class = {name!r}; allowed: mlp, device_set")
    return algo_cls.policy_aliases["MlpPolicy"]


def rebuilt_objects(
    algo_cls: Any,
    data: dict[str, Any],
    spaces: tuple[Any, Any],
    hyper: dict[str, Any],
    path: str | Path,
) -> dict[str, Any]:
    """``custom_objects`` for SB3: every serialized field of ``data``, rebuilt from plain data.

    Raises:
        FileFormatError: a serialized field this loader does not know how to rebuild.
    """
    serialized = sorted(k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v)
    unknown = [k for k in serialized if k not in EMPTY + REBUILT]
    if unknown:
        raise FileFormatError(
            f"{path}: serialized fields {unknown} would be unpickled (code in the file); refusing "
            "to load. Agent files are data: only plain JSON fields and the known fields rebuilt "
            "from the scenario's spaces and the run's JSON hyperparameters are accepted"
        )
    lr = _schedule(hyper.get("learning_rate", 3e-4), "learning_rate", path)
    objects: dict[str, Any] = dict.fromkeys(EMPTY)
    objects.update(
        policy_class=_policy_class(algo_cls, hyper, path),
        policy_kwargs=_policy_kwargs(hyper, path),
        learning_rate=hyper.get("learning_rate", 3e-4),
        lr_schedule=lr,
        clip_range=_schedule(hyper.get("clip_range", 0.2), "clip_range", path),
        clip_range_vf=None,
        observation_space=spaces[0],
        action_space=spaces[1],
    )
    return {k: objects[k] for k in [*EMPTY, *REBUILT] if k in data or k in serialized}


def load_model(
    algo_cls: Any,
    path: str | Path,
    *,
    observation_space: Any,
    action_space: Any,
    hyperparameters: dict[str, Any],
    sha256: str | None = None,
    env: Any = None,
    device: str = "cpu",
) -> Any:
    """``algo_cls.load(path)`` without unpickling anything from the file.

    Args:
        algo_cls: ``stable_baselines3.PPO`` or ``sb3_contrib.MaskablePPO``.
        path: the model's ``.zip``.
        observation_space: the observation space of the env the model acts in.
        action_space: its (wrapped) action space.
        hyperparameters: the run's hyperparameters as plain JSON (learning_rate, clip_range,
            policy_kwargs with ``activation_fn`` by name).
        sha256: the recorded checksum of the file, checked first when given.
        env: passed to SB3 (to resume training).
        device: torch device.

    Raises:
        FileFormatError: bad checksum, not a model file, a field that cannot be rebuilt, members
            inflating beyond the caps, or data that does not make a model of this env.
    """
    check_sha256(path, sha256)
    data = serialized_fields(path)
    objects = rebuilt_objects(
        algo_cls, data, (observation_space, action_space), hyperparameters, path
    )
    try:
        return algo_cls.load(path, env=env, device=device, custom_objects=objects)
    except pickle.UnpicklingError as exc:  # torch's weights_only reader refused a member
        raise FileFormatError(
            f"{path}: its tensors are not plain weights ({str(exc).splitlines()[0][:200]})"
        ) from None
    except Exception as exc:  # any failure to build a model from the file's data
        # Nothing from the file ran: every serialized field was replaced above and torch reads
        # tensors with weights_only=True (pickle is imported for its exception class only). So
        # whatever SB3 or torch raise here (a torn zip, struct errors, shapes of another
        # network, nonsense sizes) comes from bad data in the file.
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else ""
        raise FileFormatError(
            f"{path}: not a loadable {algo_cls.__name__} model for this env "
            f"({type(exc).__name__}: {first})"
        ) from None
