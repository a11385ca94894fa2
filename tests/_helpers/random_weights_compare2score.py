"""A reduced Compare2Score model repo (``q-future/Compare2Score`` layout, tokenizer in
``VQA-CityU/Compare2Score_1``) with random weights, and five random anchor images in the dataset repo
``VQA-CityU/Anchor_images``, for the bench and the equivalence test.

The model is reduced as Q-Align's (tests/_helpers/random_weights_qalign.py: widths, depths, heads, queries, 56 px
input, a 400-piece SentencePiece vocabulary trained here on Compare2Score's prompt and answer words), with its own
random weights; the output head is 100 times the usual random scale so that the answer logits, which the scorer
divides by 100, give comparison probabilities away from 0.5. The anchors are five random RGB images of different
odd sizes, PNG-encoded in the ``image`` column (``bytes``, ``path``) of the train split's parquet file, as a
Hugging Face dataset of images stores them.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from tests._helpers.random_weights_qalign import model_repo_files

REPO_ID = "q-future/Compare2Score"
TOKENIZER_REPO_ID = "VQA-CityU/Compare2Score_1"
ANCHOR_REPO_ID = "VQA-CityU/Anchor_images"
ANCHOR_FILE = "data/train-00000-of-00001.parquet"
ANCHOR_SIZES = ((40, 52), (61, 37), (56, 56), (33, 70), (47, 45))

_CORPUS = ("USER: Compared with the first image, what is your quality rating for second image?",
           "ASSISTANT: The quality of the second image is", "inferior worse similar better superior")


def anchors_parquet(seed: int = 77) -> bytes:
    """The anchors' parquet file: five random PNG images (heights × widths :data:`ANCHOR_SIZES`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for index, (height, width) in enumerate(ANCHOR_SIZES):
        pixels = torch.randint(0, 256, (height, width, 3), generator=gen, dtype=torch.uint8).numpy()
        encoded = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(encoded, format="PNG")
        rows.append({"bytes": encoded.getvalue(), "path": f"anchor_{index}.png"})
    out = io.BytesIO()
    pq.write_table(pa.table({"image": rows}), out)
    return out.getvalue()


#: "<repo>/<file>" → ("hf-repo", generator) for the model repos; "datasets/<repo>/<path>" → ("hf-dataset", …).
FILES_COMPARE2SCORE: dict[str, tuple[str, Any]] = {
    **model_repo_files(REPO_ID, 41, _CORPUS, tokenizer_repo_id=TOKENIZER_REPO_ID, scales={"lm_head.weight": 100.0}),
    f"datasets/{ANCHOR_REPO_ID}/{ANCHOR_FILE}": ("hf-dataset", anchors_parquet),
}
