"""A light query encoder: the same model through ONNX Runtime, without torch.

Why: a one-off ``rag ask`` needs one short text encoded, yet importing torch and
sentence-transformers and loading the model takes seconds. So, when the full model is
loaded anyway (at index time), its whole sentence-transformers pipeline (transformer,
then the pooling and normalisation modules its ``modules.json`` lists) is exported to
ONNX together with the tokenizer it uses, checked against sentence-transformers on
probe sentences (same token ids, cosine at least ``1 - TOLERANCE``), and cached per user
under a key made of the model folder's files and the runtime versions. At query time the
model's own fast tokenizer (``tokenizers``) and ONNX Runtime reproduce the vector in a
few milliseconds after a ~0.2 s load.

Nothing here is trusted blindly: a cache entry that is missing, half-written, for other
model files or runtime versions, whose files were changed since the export (or, checked
at index time, fail their CRC-32), or whose vector for a fixed sentence differs from the
one sentence-transformers gave at export raises :class:`Unavailable`, and the caller uses
sentence-transformers instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import first_line
from rag.paths import default_cache_dir

if TYPE_CHECKING:
    import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before any onnxruntime session (see rag.embeddings)
os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")

log = logging.getLogger("rag")

#: Bump when what is written to a cache entry changes.
FORMAT = 3
#: Largest allowed ``1 - cosine`` between this encoder and sentence-transformers.
TOLERANCE = 1e-5
ONNX_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
FAILED_FILE = "failed.json"
#: Texts the export is checked on: short and long (over the model's limit), cases,
#: accents, digits, punctuation, other scripts, stray whitespace.
PROBES = (
    "What has replaced clinical commissioning groups?",
    "Who floated the idea of GP nationalisation?",
    "ICS",
    "x",
    "?",
    "  Integrated Care SYSTEMS  took over in July 2022 \n",
    "The £5.2bn deficit rose by 12% (from 2019/20 to 2021-22); see §4.1 & Table 3.",
    "Ünïcödé naïve café — “quotes” and ‘apostrophes’ don't break it.",
    "日本語のテキストと中文文本 mixed with English words.",
    "emoji 🙂 and tabs\tand\nnewlines",
    " ".join(["General practice funding and the future of primary care networks."] * 40),
)
#: Encoded again at every load and compared with the vector sentence-transformers gave at
#: export: catches a damaged weights file or a runtime that computes differently.
SELF_CHECK = "Integrated care systems replaced clinical commissioning groups in July 2022."


class Unavailable(Exception):
    """The light encoder cannot be used for this model here; the reason is the message."""


def fingerprint(model_path: Path) -> dict[str, list[int]]:
    """Size and modification time of every file of the model folder: cheap to check per query."""
    files: dict[str, list[int]] = {}
    for p in sorted(model_path.rglob("*")):
        rel = p.relative_to(model_path)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        st = p.stat()
        files[rel.as_posix()] = [st.st_size, st.st_mtime_ns]
    return files


def entry_dir(model_path: Path, cache_dir: Path | None = None) -> Path:
    """The cache folder for this model's files with the installed runtime versions."""
    import onnxruntime
    import tokenizers

    ident = {"format": FORMAT, "model": str(model_path.resolve()), "files": fingerprint(model_path),
             "onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__}
    where = hashlib.sha256(ident["model"].encode()).hexdigest()[:8]
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "query-encoders" / f"{model_path.name}-{where}-{key}"


@dataclass
class QueryEncoder:
    """One text -> one unit vector, as ``SentenceTransformer.encode`` would give it."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer, truncating at the model's limit, no padding
    input_names: tuple[str, ...]
    lower_case: bool
    path: Path

    @classmethod
    def open(cls, folder: Path, meta: dict[str, Any]) -> "QueryEncoder":
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(meta["max_length"]))
        options = ort.SessionOptions()
        # Already optimised at export; one thread: a query is short, and the machine may be busy.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        names = tuple(i.name for i in session.get_inputs())
        return cls(session=session, tokenizer=tokenizer, input_names=names,
                   lower_case=bool(meta.get("lower_case")), path=folder)

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text.lower() if self.lower_case else text).ids

    def encode(self, text: str) -> "np.ndarray":
        """A unit-length float32 vector (one text at a time: no padding, so no masking to trust)."""
        import numpy as np

        enc = self.tokenizer.encode(text.lower() if self.lower_case else text)
        columns = {"input_ids": enc.ids, "attention_mask": enc.attention_mask, "token_type_ids": enc.type_ids}
        feeds = {name: np.asarray([columns[name]], dtype=np.int64) for name in self.input_names}
        vector = self.session.run(None, feeds)[0][0].astype(np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


def load(model_path: Path, cache_dir: Path | None = None, deep: bool = False) -> QueryEncoder:
    """The exported encoder for this model, checked; raise :class:`Unavailable` otherwise.

    Every load checks that the entry's files are the ones written at export (size and
    modification time: any write changes them) and that the fixed sentence still gives
    sentence-transformers' vector. ``deep`` also checks the CRC-32 of every byte, which
    costs about as much CPU as starting the session (~0.35 G instructions for 90 MB), so
    it is done when ``rag index`` checks the cache, not for every one-off query.
    """
    import numpy as np

    try:
        folder = entry_dir(model_path, cache_dir)
    except (ImportError, OSError) as e:
        raise Unavailable(f"cannot check the cache ({type(e).__name__}: {e})") from None
    meta = _read_json(folder / META_FILE)
    if meta is None:
        failed = _read_json(folder / FAILED_FILE)
        raise Unavailable(f"export failed earlier: {failed.get('reason')}" if failed else "not exported yet")
    try:
        if meta.get("format") != FORMAT:
            raise Unavailable("the cache entry has another format")
        changed = [name for name, (size, mtime_ns, _) in meta["entry_files"].items()
                   if _stat(folder / name) != (size, mtime_ns)]
        if changed:
            raise Unavailable(f"{', '.join(changed)} in {folder} changed since the export")
        # The checksums (deep only) run on the other core while this one starts the session:
        # zlib releases the GIL.
        checksums = _Checksums(folder, list(meta["entry_files"])) if deep else None
        encoder = QueryEncoder.open(folder, meta)
        cosine = float(encoder.encode(SELF_CHECK) @ np.asarray(meta["self_check_vector"], dtype=np.float32))
        if checksums is not None:
            damaged = [name for name, crc in checksums.result().items() if crc != meta["entry_files"][name][2]]
            if damaged:
                raise Unavailable(f"{', '.join(damaged)} in {folder} damaged (checksum mismatch)")
    except Unavailable:
        raise
    except Exception as e:  # onnxruntime and tokenizers raise many kinds; all mean "damaged"
        raise Unavailable(f"cannot load {folder}: {type(e).__name__}: {first_line(e)}") from None
    if not cosine >= 1 - TOLERANCE:
        raise Unavailable(f"self-check failed (cosine {cosine:.7f}); the cache entry is damaged")
    return encoder


def status(model_path: Path, cache_dir: Path | None = None) -> str:
    """``"ready"``, ``"failed"`` or ``"missing"``: what the cache holds, without loading it."""
    folder = entry_dir(model_path, cache_dir)
    if (folder / META_FILE).exists():
        return "ready"
    return "failed" if (folder / FAILED_FILE).exists() else "missing"


class _Checksums:
    """CRC-32 of some files of a folder, computed in a background thread.

    CRC-32 rather than SHA-256: it is there to notice damage, not tampering, and takes
    half the time (~50 ms of CPU for the 90 MB of weights, read through mmap).
    """

    def __init__(self, folder: Path, names: list[str]) -> None:
        import threading

        self._result: dict[str, int] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(folder, names), name="rag-checksums", daemon=True)
        self._thread.start()

    def _run(self, folder: Path, names: list[str]) -> None:
        import mmap
        import zlib

        try:
            for name in names:
                with open(folder / name, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size == 0:
                        self._result[name] = 0
                        continue
                    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
                        self._result[name] = zlib.crc32(view)
        except BaseException as e:  # reported to the caller by result()
            self._error = e

    def result(self) -> dict[str, int]:
        self._thread.join()
        if self._error is not None:
            raise Unavailable(f"cannot read the cache entry: {type(self._error).__name__}: {self._error}")
        return dict(self._result)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
