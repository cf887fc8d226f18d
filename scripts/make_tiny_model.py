#!/usr/bin/env python3
"""Write a tiny, real Llama-shaped model directory (safetensors, config, tokenizer, README)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.models import write_tiny_model  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: make_tiny_model.py DIR")
    print(write_tiny_model(Path(sys.argv[1])))
