"""One policy for any number of devices: a shared per-device encoder and a pooled context.

The flat observation of :class:`splitenv.env.SplitLoRAEnv` is N blocks of 7 device features
(device-major) followed by 4 globals (:mod:`splitenv.observation`); the
:class:`~splitenv.wrappers.BoxAction` action is, field by field, N values for a per-device
field (the splits, shares, powers, ...) and one value for a global field (rank, keep ratio,
bits). :class:`DeviceSetPolicy` maps one to the other with weights whose shapes do not depend
on N (a Deep Sets encoder, Zaheer et al. 2017, with a per-device decoder):

* :class:`DeviceSetExtractor` (the features extractor): the same MLP ``phi`` on every device's
  features, ``e_n = phi(x_n)``; the context ``c = rho([mean_n e_n, max_n e_n, globals])``;
  features ``[e_1 .. e_N, c]``;
* actor (:class:`DeviceSetHead`): a device's per-device fields from ``psi([e_n, c])`` (the same
  MLP for every device), the global fields from ``chi(c)``; one log standard deviation per
  field, shared by the devices;
* critic: ``V = v(c)``.

So a model trained at N = 10 acts at N = 5 or 20 with the same weights: build the policy for
the other env's spaces and load the state dict (:func:`transfer`). Permuting the devices
permutes their actions (the mean and max pools do not see the order). Box actions only (PPO
with the ``box`` wrapper); ``layout`` names each field and whether it is per device
(:func:`box_layout` reads it from an env).
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from splitenv import observation
from splitenv.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}
#: observation features per device and global ones (splitenv.observation)
DEVICE_FEATURES = len(observation.DEVICE_FEATURES)
GLOBAL_FEATURES = len(observation.GLOBAL_FEATURES)


def box_layout(env: gym.Env) -> list[tuple[str, bool]]:
    """``(field, per device)`` in the order of the env's BoxAction dimensions.

    ``env``: the :class:`~splitenv.wrappers.BoxAction` wrapper (or anything above it).
    """
    layer: Any = env
    while layer is not None and not hasattr(layer, "layout"):
        layer = getattr(layer, "env", None)
    if layer is None:
        raise ConfigError("a device-set policy needs the box action wrapper (BoxAction)")
    if any(dims == 0 for _, dims in layer.layout):
        raise ConfigError("a device-set policy needs N >= 2 devices (one device has no shares)")
    return [(fs.name, bool(fs.per_device)) for fs, _ in layer.layout]


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


def _devices(width: int, per_device: int, extra: int) -> int:
    """N from a width of ``N per_device + extra``; ConfigError when it is not such a width."""
    n, rest = divmod(width - extra, per_device)
    if rest or n < 1:
        raise ConfigError(
            f"a width of {width} is not N x {per_device} + {extra} for any N >= 1: not the flat "
            "observation of a SplitLoRAEnv"
        )
    return n


class DeviceSetExtractor(BaseFeaturesExtractor):
    """``[phi(x_1) .. phi(x_N), rho([mean e, max e, globals])]``, (B, N h + h).

    ``features_dim`` is that of the observation space it is built for; the module itself takes
    any N (its weights are ``phi`` and ``rho``).
    """

    def __init__(
        self, observation_space: gym.spaces.Box, hidden: int = 64, activation: str = "tanh"
    ) -> None:
        shape = observation_space.shape or (0,)
        if len(shape) != 1:
            raise ConfigError("a device-set policy needs the flat observation (observation='flat')")
        n = _devices(int(shape[0]), DEVICE_FEATURES, GLOBAL_FEATURES)
        super().__init__(observation_space, features_dim=n * hidden + hidden)
        act = ACTIVATIONS[activation]
        self.hidden = hidden
        self.phi = _mlp([DEVICE_FEATURES, hidden, hidden], act)
        self.rho = _mlp([2 * hidden + GLOBAL_FEATURES, hidden], act)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        b, width = obs.shape
        n = _devices(width, DEVICE_FEATURES, GLOBAL_FEATURES)
        e = self.phi(obs[:, : n * DEVICE_FEATURES].reshape(b, n, DEVICE_FEATURES))
        pooled = th.cat([e.mean(dim=1), e.amax(dim=1), obs[:, n * DEVICE_FEATURES :]], dim=1)
        return th.cat([e.reshape(b, n * self.hidden), self.rho(pooled)], dim=1)


class _Passthrough(nn.Module):
    """The mlp_extractor slot: actor and critic read the extractor's features directly."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.latent_dim_pi = self.latent_dim_vf = dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return features, features

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return features

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return features


class DeviceSetHead(nn.Module):
    """Action means from ``[e_1 .. e_N, c]``: ``psi([e_n, c])`` per device, ``chi(c)`` globals."""

    def __init__(
        self, layout: list[tuple[str, bool]], hidden: int, activation: type[nn.Module]
    ) -> None:
        super().__init__()
        self.layout = [(str(name), bool(per)) for name, per in layout]
        self.n_device_fields = sum(per for _, per in self.layout)
        self.n_global_fields = len(self.layout) - self.n_device_fields
        self.hidden = hidden
        self.psi = (
            nn.Sequential(
                _mlp([2 * hidden, hidden], activation), nn.Linear(hidden, self.n_device_fields)
            )
            if self.n_device_fields
            else None
        )
        self.chi = (
            nn.Sequential(
                _mlp([hidden, hidden], activation), nn.Linear(hidden, self.n_global_fields)
            )
            if self.n_global_fields
            else None
        )

    def devices(self, latent: th.Tensor) -> int:
        """N of a latent batch."""
        return _devices(int(latent.shape[1]), self.hidden, self.hidden)

    def forward(self, latent: th.Tensor) -> th.Tensor:
        b, n, h = latent.shape[0], self.devices(latent), self.hidden
        c = latent[:, n * h :]
        dev = glob = None
        if self.psi is not None:
            e = latent[:, : n * h].reshape(b, n, h)
            dev = self.psi(th.cat([e, c[:, None, :].expand(b, n, h)], dim=2))  # (B, N, fields)
        if self.chi is not None:
            glob = self.chi(c)  # (B, fields)
        parts, i_dev, i_glob = [], 0, 0
        for _, per in self.layout:
            if per:
                assert dev is not None
                parts.append(dev[:, :, i_dev])
                i_dev += 1
            else:
                assert glob is not None
                parts.append(glob[:, i_glob : i_glob + 1])
                i_glob += 1
        return th.cat(parts, dim=1)

    def expand(self, per_field: th.Tensor, n: int) -> th.Tensor:
        """A per-field value (fields,) repeated over the action's dimensions (N per device field)."""
        return th.cat(
            [per_field[i].expand(n if per else 1) for i, (_, per) in enumerate(self.layout)]
        )


class _ValueHead(nn.Module):
    """``v(c)`` from the features' context (their last ``hidden`` values)."""

    def __init__(self, hidden: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.hidden = hidden
        self.v = nn.Sequential(_mlp([hidden, hidden], activation), nn.Linear(hidden, 1))

    def forward(self, latent: th.Tensor) -> th.Tensor:
        return self.v(latent[:, -self.hidden :])


class DeviceSetPolicy(ActorCriticPolicy):
    """An SB3 actor-critic whose weights serve any number of devices (module docstring).

    Args:
        layout: ``(field, per device)`` of the Box action's fields in order (:func:`box_layout`).
        hidden: width of every layer of ``phi``, ``rho``, ``psi``, ``chi`` and ``v``.
        activation: ``tanh`` or ``relu``.
        log_std_init: initial log standard deviation of every field.
        ortho_init: SB3's orthogonal initialization (gains as its MlpPolicy's).
    """

    def __init__(
        self,
        observation_space: gym.spaces.Space[Any],
        action_space: gym.spaces.Space[Any],
        lr_schedule: Any,
        layout: list[tuple[str, bool]] | list[list[Any]],
        hidden: int = 64,
        activation: str = "tanh",
        log_std_init: float = 0.0,
        ortho_init: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise ConfigError("a device-set policy needs Box actions (the box wrapper)")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation = {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        self.layout = [(str(name), bool(per)) for name, per in layout]
        self.hidden = int(hidden)
        self.activation = activation
        n = _devices(int((observation_space.shape or (0,))[0]), DEVICE_FEATURES, GLOBAL_FEATURES)
        dims = sum(n if per else 1 for _, per in self.layout)
        if dims != action_space.shape[0]:
            raise ConfigError(
                f"layout {self.layout} gives {dims} action dimensions at N = {n}; the action "
                f"space has {action_space.shape[0]}"
            )
        super().__init__(
            observation_space, action_space, lr_schedule,
            activation_fn=ACTIVATIONS[activation], log_std_init=log_std_init,
            ortho_init=ortho_init, features_extractor_class=DeviceSetExtractor,
            features_extractor_kwargs={"hidden": self.hidden, "activation": activation},
            **kwargs,
        )  # fmt: skip

    def _build(self, lr_schedule: Any) -> None:
        act = ACTIVATIONS[self.activation]
        # SB3 types these slots as its MlpExtractor and Linear; any module with their calls fits
        self.mlp_extractor = _Passthrough(self.features_dim)  # type: ignore[assignment]
        self.action_net = DeviceSetHead(self.layout, self.hidden, act)
        self.log_std = nn.Parameter(
            th.full((len(self.layout),), float(self.log_std_init)), requires_grad=True
        )
        self.value_net = _ValueHead(self.hidden, act)  # type: ignore[assignment]
        if self.ortho_init:  # SB3's gains: sqrt 2 for hidden layers, 0.01 policy, 1 value output
            for module in (self.features_extractor, self.action_net, self.value_net):
                module.apply(partial(self.init_weights, gain=2**0.5))
            outputs: list[tuple[nn.Sequential | None, float]] = [
                (self.action_net.psi, 0.01), (self.action_net.chi, 0.01),
                (self.value_net.v, 1.0),  # type: ignore[list-item]
            ]  # fmt: skip
            for out, gain in outputs:
                if out is not None:
                    out[-1].apply(partial(self.init_weights, gain=gain))
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> Any:
        assert isinstance(self.action_dist, DiagGaussianDistribution)
        head: DeviceSetHead = self.action_net  # type: ignore[assignment]
        mean = head(latent_pi)
        return self.action_dist.proba_distribution(
            mean, head.expand(self.log_std, head.devices(latent_pi))
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(layout=self.layout, hidden=self.hidden, activation=self.activation)
        for key in ("features_extractor_class", "features_extractor_kwargs", "activation_fn"):
            data.pop(key, None)
        return data


def transfer(policy: DeviceSetPolicy, env: gym.Env) -> DeviceSetPolicy:
    """The same weights as a policy for ``env``'s spaces (another number of devices).

    ``env`` is the BoxAction-wrapped env; its layout must name the same fields.

    Raises:
        ConfigError: the env's fields differ from the policy's.
    """
    layout = box_layout(env)
    if layout != policy.layout:
        raise ConfigError(f"the env's action fields {layout} are not the policy's {policy.layout}")
    other = DeviceSetPolicy(
        env.observation_space, env.action_space, lambda _: 0.0, layout=layout,
        hidden=policy.hidden, activation=policy.activation, log_std_init=policy.log_std_init,
        ortho_init=False,  # every weight is overwritten below: skip SB3's QR initialization
    )  # fmt: skip
    other.load_state_dict(policy.state_dict())
    return other


__all__ = [
    "DeviceSetExtractor",
    "DeviceSetHead",
    "DeviceSetPolicy",
    "box_layout",
    "transfer",
]
