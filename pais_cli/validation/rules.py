"""The rule-set version recorded in every report's `tool` section.

Cached validation results are keyed on it (with the files' digests), so a model that passed
under older rules is checked again under new ones. Every change to a rule -- a new rule, a
changed severity, a widened or narrowed allowlist, a new budget -- bumps it.
"""

from __future__ import annotations

# 1: pickles, Keras Lambda layers, safetensors/GGUF headers, remote code, archives (before issue 12)
# 2: ONNX, TensorFlow graphs, TorchScript, Keras 3 configs, NeMo/Lightning archives, templates and
#    pipeline configs, code and binaries (--allow-code), work budgets failing as resource-limits
# 3: a config.json that is not JSON fails (it was a warning); unreadable files and directories fail
RULESET_VERSION = 3
