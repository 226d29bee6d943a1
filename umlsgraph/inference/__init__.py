"""Running a fine-tuned encoder: load a model folder, predict and embed texts.

Beneath the steps that use a trained model (train's audit, label, annotate's uncertainty and
diverse strategies) and above the store: `loading` (a folder or base model into
transformers), `device` (where and in which precision), `tokens` (tokenize, bucket by
length, pad), `model` (`EncoderModel`, the loaded folder with `predict_proba` and `embed`).
The folder's metadata, which the store needs too, is `umlsgraph.model_folder`.
"""

import os

# OpenMP threads that spin while waiting make torch on CPU several times slower as soon as
# other processes share the cores (measured: 8.5 s vs 1.2 s per MiniLM step on a busy 2-core
# box). Set before torch is first imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
