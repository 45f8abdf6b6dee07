"""Hugging Face loading, on a tiny BERT and a tiny dataset this test writes to disk (skipped without the packages)."""

from __future__ import annotations

import json

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
