"""The model catalogue: parameter counts against the models' published sizes."""

import pytest

import splitenv as se
from splitenv import ConfigError
from splitenv.model import block_costs

#: published parameter counts (model cards / papers) and what our count leaves out
PUBLISHED = {
    # name: (published params, extra params we do not model: pooler / head / final norm)
    "roberta-large": (355_359_744, 1024 * 1024 + 1024),  # pooler
    "bert-base": (109_482_240, 768 * 768 + 768),  # pooler
    "vit-b-16": (86_567_656, 768 * 1000 + 1000 + 2 * 768),  # 1000-class head + final LN
    "vit-l-16": (304_326_632, 1024 * 1000 + 1000 + 2 * 1024),
    "gpt2-small": (124_439_808, 2 * 768),  # final LN (head tied)
    "gpt2-medium": (354_823_168, 2 * 1024),
    "llama-3.2-1b": (1_235_814_400, 2048),  # final RMSNorm (head tied)
    "all-minilm-l6": (22_713_216, 384 * 384 + 384),  # pooler
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_published(name):
    scn = se.load_scenario(
        "sft", {"model": name, "decision.split_range": [1, 5], "decision.default_split": 1}
    )
    c, m = block_costs(scn), scn.model
    ours = m.n_layers * c.block_params + c.embedding_params
    published, extra = PUBLISHED[name]
    assert ours + extra == pytest.approx(published, rel=2e-3)


def test_card_llama_is_the_real_layer_stacked_32_times():
    real = se.load_scenario("sft", {"model": "llama-3.2-1b"})
    card = se.load_scenario("sft", {"model": "llama-3.2-1b-card"})
    assert card.model.n_layers == 32 and real.model.n_layers == 16
    assert block_costs(card).block_params == block_costs(real).block_params == 60_821_504


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown model 'gpt5'; known models: .*gpt2-medium"):
        se.load_scenario("sft", {"model": "gpt5"})
