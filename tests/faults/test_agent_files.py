"""Crafted and corrupted agent files through the commands that load them: one line, exit 2.

Every file is a variant of the shipped agent with a plain sidecar (no checksum, so the loader
gets as far as the file's content): code hidden in a serialized field, a truncated or
bit-flipped zip, tensors that are not plain weights, weights of another shape, missing
members, a ``data`` member that inflates to 64 MB (beyond its cap), nonsense values. ``bench --methods
ppo:PATH`` and ``train --resume PATH`` must refuse each with one line naming the file, run no
code from it, and create no output.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest

from splitenv.cli import main
from tests.faults.conftest import one_error_line

pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")

SHIPPED = Path(__file__).resolve().parents[2] / "agents" / "pretrained" / "scct_round_ppo.zip"


class Payload:
    """Unpickling this creates ``marker``: the stand-in for code in a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _members() -> dict[str, bytes]:
    with zipfile.ZipFile(SHIPPED) as z:
        return {info.filename: z.read(info.filename) for info in z.infolist()}


def _other_shape() -> bytes:
    weights = torch.load(io.BytesIO(_members()["policy.pth"]), weights_only=True)
    weights[next(iter(weights))] = torch.zeros(3, 3)
    buf = io.BytesIO()
    torch.save(weights, buf)
    return buf.getvalue()


def _data(**changes) -> bytes:
    data = json.loads(_members()["data"])
    data.update(changes)
    return json.dumps(data).encode()


def _evil(marker: Path) -> dict[str, str]:
    return {":type:": "<class 'x'>",
            ":serialized:": base64.b64encode(pickle.dumps(Payload(marker))).decode()}  # fmt: skip


def variants(tmp: Path, marker: Path) -> dict[str, tuple[bytes | dict[str, bytes], str]]:
    """name -> (zip bytes, or members to zip; the expected message)."""
    raw = SHIPPED.read_bytes()
    flipped = bytearray(raw)
    for i in range(len(raw) // 2, len(raw) // 2 + 64):
        flipped[i] ^= 0xFF
    m = _members()
    return {
        "code_in_a_field": ({**m, "data": _data(evil=_evil(marker))}, "would be unpickled"),
        "code_in_a_known_field": (
            {**m, "data": _data(policy_class=_evil(marker)), "policy.pth": b"junk"},
            "not a loadable PPO model",
        ),
        "truncated": (raw[: len(raw) // 2], "not a stable-baselines3 model file"),
        "bit_flips": (bytes(flipped), "not a loadable PPO model"),
        "random_bytes": (bytes(range(256)) * 20, "not a stable-baselines3 model file"),
        "empty": (b"", "not a stable-baselines3 model file"),
        "tensors_not_weights": ({**m, "policy.pth": b"garbage" * 100}, "not plain weights"),
        "optimizer_not_weights": ({**m, "policy.optimizer.pth": b"x"}, "not plain weights"),
        "weights_of_another_shape": ({**m, "policy.pth": _other_shape()}, "not a loadable PPO"),
        "no_weights": ({k: v for k, v in m.items() if k != "policy.pth"}, "not a loadable PPO"),
        "data_bomb": ({**m, "data": b"{" + b" " * (64 << 20) + b"}"}, "inflates to 67,"),
        "data_not_an_object": ({**m, "data": b"[1, 2]"}, "not a JSON object"),
        "negative_sizes": ({**m, "data": _data(n_envs=-5)}, "not a loadable PPO"),
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agents")
    marker = tmp / "pwned"
    sidecar = json.loads(SHIPPED.with_suffix(".json").read_text())
    sidecar.pop("sha256")
    out = {}
    for name, (content, message) in variants(tmp, marker).items():
        path = tmp / f"{name}.zip"
        if isinstance(content, dict):
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                for member, data in content.items():
                    z.writestr(member, data)
        else:
            path.write_bytes(content)
        path.with_suffix(".json").write_text(json.dumps(sidecar))
        out[name] = (path, message)
    return out, marker


NAMES = list(variants(Path("."), Path("m")))


@pytest.mark.parametrize("name", NAMES)
def test_bench_refuses_the_file(files, name, tmp_path, capsys):
    table, marker = files
    path, message = table[name]
    argv = ["bench", "--scenario", "scct", "--methods", f"ppo:{path}", "--seeds", "20000",
            "--timescale", "round", "-q", "--no-figures", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("splitenv bench: error:") and message in line and str(path) in line
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["code_in_a_field", "bit_flips", "weights_of_another_shape",
                                  "data_bomb", "tensors_not_weights"])  # fmt: skip
def test_train_resume_refuses_the_file(files, name, tmp_path, capsys):
    table, marker = files
    path, message = table[name]
    argv = ["train", "--scenario", "scct", "--timesteps", "64", "--set", "n_envs=1", "-q",
            "--resume", str(path), "--out", str(tmp_path / "runs")]  # fmt: skip
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("splitenv train: error:") and message in line
    assert not marker.exists() and not (tmp_path / "runs").exists()
