"""The entailment judge: does a passage say what a written sentence says, or the opposite?

A cross-encoder with three labels (entailment, neutral, contradiction) reads a *premise* (a
passage sentence, after the sentence before it) and a *hypothesis* (the written claim). It
was fine-tuned by this project from all-MiniLM-L6-v2 on human-labelled NLI pairs
(training/nli.py; model card in ``models/entailment/README.md``) and ships inside the package
as int8 ONNX with its tokenizer, checked against the checksums in ``meta.json`` when loaded.
Word overlap cannot tell "issued with the agreement of" from "issued without any agreement
between"; this model is trained on exactly such pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.answering import model_files
from rag.answering.model_files import META_FILE, MODEL_FILE, TOKENIZER_FILE  # noqa: F401 (re-exported)
from rag.errors import RagError

if TYPE_CHECKING:
    import numpy as np

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "entailment"
#: The model's labels, in the order of its outputs.
LABELS = ("entailment", "neutral", "contradiction")
ENTAILMENT, NEUTRAL, CONTRADICTION = range(3)
#: Premise and hypothesis together are cut to this many tokens, from the left: the premise's
#: context (the sentence before) goes first, the sentence judged and the claim stay whole.
MAX_TOKENS = 128


class EntailmentUnavailable(RagError):
    """The entailment model is missing or damaged."""


def prepare_tokenizer(tokenizer):
    """Pairs cut from the left (the premise's context first), padded to the longest of a batch."""
    tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first", direction="left")
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def premise_text(sentence: str, before: str = "") -> str:
    """What the model reads as the premise: the sentence after the one before it."""
    return f"{before} {sentence}" if before else sentence


class EntailmentModel(model_files.ShippedModel):
    """The shipped judge (see the module's doc); its calibrated threshold is in ``meta.json``."""

    what = "the entailment model"
    error = EntailmentUnavailable
    prepare_tokenizer = staticmethod(prepare_tokenizer)

    def __init__(self, folder: Path = MODEL_DIR, threads: int = 0, checked: bool = True) -> None:
        super().__init__(folder, threads, checked)
        self.threshold = float(self.meta.get("threshold", 0.5))

    def probabilities(self, pairs: list[tuple[str, str]]) -> "np.ndarray":
        """For each (premise, hypothesis), the probabilities of :data:`LABELS` (rows sum to 1)."""
        import numpy as np

        if not pairs:
            return np.zeros((0, len(LABELS)), dtype=np.float64)
        logits = self.logits(pairs)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def shared_model(folder: Path = MODEL_DIR) -> EntailmentModel:
    """One judge per process: every store version's verifier uses the same model."""
    return model_files.shared(EntailmentModel, folder)  # type: ignore[return-value]
