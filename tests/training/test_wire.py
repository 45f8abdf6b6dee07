"""The wire: what is delivered decodes from the bytes counted, and its size matches the model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from splitenv.training.wire import Wire, WireSpec  # noqa: E402


@pytest.mark.parametrize(("rho", "q"), [(0.2, 3), (0.05, 2), (1.0, 4), (0.3, 0), (0.1, 8)])
@pytest.mark.parametrize("gradient_positions", [True, False])
def test_round_trip_verified_and_within_ten_percent(rho, q, gradient_positions, batch):
    _, mask, _ = batch
    # per-sample s_min, s_max (64 bits) vs the engine's 64 per message: small at d = 768
    h = torch.randn(
        *mask.shape, 768, generator=torch.Generator().manual_seed(0), requires_grad=True
    )
    spec = WireSpec(
        keep_ratio=rho,
        quant_bits=q,
        verify=True,
        value_coder="fixed",
        gradient_positions=gradient_positions,
    )
    wire = Wire(spec, torch.Generator().manual_seed(1))
    sent, received, record = wire.send(h, mask)
    assert torch.equal(received, sent.detach())
    grad = wire.send_back(torch.randn_like(received), record)
    assert not grad[~record.kept].any()  # the gradient travels on the activation's mask
    sent.backward(grad)
    torch.testing.assert_close(h.grad, grad * record.kept)
    st = wire.stats
    n = int(mask.sum()) * 768
    assert st.up_elements == st.down_elements == n
    assert abs(st.up_bits - st.modelled_up_bits) <= 0.10 * st.modelled_up_bits
    if gradient_positions:
        assert abs(st.down_bits - st.modelled_down_bits) <= 0.10 * st.modelled_down_bits
    elif rho < 1:
        assert st.down_bits < st.up_bits  # the device knows its mask


def test_identity_wire_counts_float32(batch):
    _, mask, _ = batch
    h = torch.randn(*mask.shape, 8)
    wire = Wire(WireSpec(), torch.Generator())
    _, received, record = wire.send(h, mask)
    torch.testing.assert_close(received, h * mask[..., None])
    wire.send_back(torch.ones_like(h), record)
    d = wire.stats.as_dict()
    assert d["bits_per_element_up"] == d["bits_per_element_down"] == 32.0
    assert d["bytes_up"] == d["modelled_bytes_up"] == 4 * int(mask.sum()) * 8


def test_spec_is_validated():
    with pytest.raises(ValueError, match="keep_ratio"):
        WireSpec(keep_ratio=1.5)
    with pytest.raises(ValueError, match="quant_bits"):
        WireSpec(quant_bits=-1)
