"""The reader: a small cross-encoder that says how likely a sentence answers a question.

It reads the question together with one candidate sentence and the sentence before it
(what "he" or "this" refers to) and gives the probability that the sentence holds the
answer. The best probability over the candidates is the chance that the passages answer
at all: below the calibrated threshold the answer abstains.

The model was fine-tuned by this project from all-MiniLM-L6-v2 on open SQuAD articles
(training/reader.py; model card in the README) and ships inside the package as int8 ONNX
with its tokenizer. It runs on ONNX Runtime: no torch on the query path. Its files are
checked against the checksums in ``meta.json`` when loaded; a missing or damaged model is a
clear :class:`ReaderUnavailable`, not a wrong answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.answering import model_files
from rag.answering.model_files import META_FILE, MODEL_FILE, TOKENIZER_FILE  # noqa: F401 (re-exported)
from rag.errors import RagError

if TYPE_CHECKING:
    import numpy as np

#: The shipped model's folder.
MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "reader"
#: Question, sentence and the sentence before it are cut to this many tokens (the sentence
#: before is cut first): cost grows with length, and 80 keeps the sentence whole nearly always.
MAX_TOKENS = 80


class ReaderUnavailable(RagError):
    """The reader model is missing or damaged."""


def pair_text(sentence: str, before: str) -> str:
    """The second segment the model reads: the sentence, then the one before it."""
    return f"{sentence} [SEP] {before}" if before else sentence


def prepare_tokenizer(tokenizer):
    """Truncate the second segment only, from its end (the sentence before goes first)."""
    tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="only_second")
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


class Reader(model_files.ShippedModel):
    """The shipped reader (see the module's doc)."""

    what = "the reader model"
    error = ReaderUnavailable
    prepare_tokenizer = staticmethod(prepare_tokenizer)

    def __init__(self, folder: Path = MODEL_DIR, threads: int = 0, checked: bool = True) -> None:
        super().__init__(folder, threads, checked)

    def probabilities(self, question: str, pairs: list[tuple[str, str]]) -> "np.ndarray":
        """For each (sentence, sentence before), the probability that it answers ``question``."""
        import numpy as np

        if not pairs:
            return np.zeros(0, dtype=np.float32)
        logits = self.logits([(question, pair_text(s, b)) for s, b in pairs]).reshape(-1)
        return 1.0 / (1.0 + np.exp(-logits))


def shared_reader(folder: Path = MODEL_DIR) -> Reader:
    """One reader per process: every store version's answerer uses the same model."""
    return model_files.shared(Reader, folder)  # type: ignore[return-value]
