"""Hugging Face loading, on a tiny BERT and a tiny dataset this test writes to disk (skipped without the packages)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_tiny_bert_from_disk_matches_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    from splitenv.training import lora
    from splitenv.training.hf import load_hf_encoder

    cfg = transformers.BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=24,
    )  # fmt: skip
    torch.manual_seed(0)
    reference = transformers.BertModel(cfg, add_pooling_layer=False).eval()
    reference.save_pretrained(tmp_path)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(35))]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    transformers.BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)

    model, tok = load_hf_encoder(str(tmp_path), n_classes=3, max_len=12, local_files_only=True)
    ids = tok.encode(["w1 w2 w3", "w4 w5"])
    assert ids[0][0] == 2 and ids[0][-1] == 3 and len(ids[1]) == 4
    x = torch.tensor([ids[0], ids[1] + [0]])
    mask = (x != 0).float()
    with torch.no_grad():
        theirs = reference(input_ids=x, attention_mask=mask).last_hidden_state
        seg = model.segments([model.cfg.n_layers])[0]  # embeddings + every block, no head
        lora.set_active(model, None)
        ours = seg(x, mask)
    torch.testing.assert_close(ours[mask.bool()], theirs[mask.bool()], atol=1e-5, rtol=1e-5)


def test_dataset_from_local_json(tmp_path):
    pytest.importorskip("datasets")
    from splitenv.training.hf import load_hf_task

    rows = [{"text": f"sample {i}", "label": ["neg", "pos"][i % 2]} for i in range(10)]
    path = tmp_path / "train.json"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_hf_task("json", data_files=str(path), limit=6, seed=1)
    assert len(task) == 6 and task.classes == ("neg", "pos")
    assert set(task.labels.tolist()) <= {0, 1}


def _tiny_hub(tmp_path):
    """A tiny BERT checkpoint and a JSON text-classification dataset, both on local disk."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("datasets")
    words = [f"w{i}" for i in range(12)]
    cfg = transformers.BertConfig(
        vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model_dir = tmp_path / "bert"
    transformers.BertModel(cfg, add_pooling_layer=False).save_pretrained(model_dir)
    (model_dir / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    transformers.BertTokenizer(str(model_dir / "vocab.txt")).save_pretrained(model_dir)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # label = which half of the vocabulary the words come from: learnable in a few steps
    rows = [{"text": " ".join(words[(i % 2) * 6 + (i * k) % 6] for k in range(1, 5)),
             "label": ["low", "high"][i % 2]} for i in range(80)]  # fmt: skip
    (data_dir / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return model_dir, data_dir


def test_hf_model_and_dataset_by_path_train_a_federated_round(tmp_path):
    """ExperimentConfig(model="hf:PATH", dataset="hf:PATH"): the loading path end to end."""
    from splitenv.training.experiment import ExperimentConfig, build_trainer
    from splitenv.training.federated import RoundPlan, TrainSettings
    from splitenv.training.wire import WireSpec

    model_dir, data_dir = _tiny_hub(tmp_path)
    settings = TrainSettings(local_steps=2, batch_size=8, eval_samples=0, lora_targets=("q", "v"))
    cfg = ExperimentConfig(model=f"hf:{model_dir}", dataset=f"hf:{data_dir}", n_devices=2,
                           n_samples=60, max_len=8, settings=settings)  # fmt: skip
    trainer = build_trainer(cfg, rank=4)
    assert trainer.model.cfg.n_layers == 2 and trainer.model.cfg.n_classes == 2
    assert sum(len(p) for p in trainer.parts) == 60 - 12  # limit 60, 20 % held out
    plan = RoundPlan(cuts=((1,),) * 2, rank=4, wire=WireSpec(keep_ratio=0.5, quant_bits=4))
    res = trainer.run_round(plan)
    assert 0.0 <= res.accuracy <= 1.0 and np.isfinite(res.loss)
    assert res.wire["bytes_up"] > 0 and res.wire["messages"] > 0
    # the same config builds the same trainer: seeded data subset, partition and weights
    again = build_trainer(cfg, rank=4)
    assert [p.labels.tolist() for p in again.parts] == [p.labels.tolist() for p in trainer.parts]


def test_missing_transformers_names_the_install(monkeypatch):
    import sys

    from splitenv.training.hf import load_hf_encoder, load_hf_task

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match="pip install transformers"):
        load_hf_encoder("any/model", n_classes=2)
    with pytest.raises(ImportError, match="pip install datasets"):
        load_hf_task("any/dataset")


def test_non_bert_model_is_refused_by_name(tmp_path):
    transformers = pytest.importorskip("transformers")
    from splitenv.training.hf import load_hf_encoder

    cfg = transformers.GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=20, n_positions=16)
    transformers.GPT2Model(cfg).save_pretrained(tmp_path)
    with pytest.raises(
        ValueError, match="model_type 'gpt2'; the explicit split encoder implements bert"
    ):
        load_hf_encoder(str(tmp_path), n_classes=2)
