"""The character set the model reads and writes: index 0 is the CTC blank, then `env.VOCABULARY`."""

import re

import numpy as np

from lipnet import env

BLANK = 0
NUM_CLASSES = len(env.VOCABULARY) + 1  # 28: blank, space, a-z
_INDEX = {ch: i + 1 for i, ch in enumerate(env.VOCABULARY)}


def normalize(text: str) -> str:
    """Lower-case, keep only vocabulary characters, collapse runs of spaces."""
    text = "".join(ch for ch in text.lower() if ch in _INDEX or ch.isspace())
    return re.sub(r"\s+", " ", text).strip()


def encode(text: str) -> np.ndarray:
    """Text -> int32 label ids (1..NUM_CLASSES-1). Raises ValueError on characters outside the vocabulary."""
    try:
        return np.array([_INDEX[ch] for ch in text], dtype=np.int32)
    except KeyError as err:
        raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None


def decode(ids) -> str:
    """Label ids -> text; blanks (0) and out-of-range ids are skipped."""
    return "".join(env.VOCABULARY[i - 1] for i in np.asarray(ids).ravel() if 0 < i < NUM_CLASSES)
