"""Fixtures shared by the scorer tests: the real MiniLM model (loaded once per module), a
fresh SQLite store and its embedding cache. Import them by name in a test module."""
from __future__ import annotations

import pytest

from bot.db import open_db
from bot.embed import EmbeddingCache, Embedder
from bot.models import Paper


def papers(prefix: str, rows) -> list[Paper]:
    """Papers from (title, abstract) rows, ids prefix.00000, prefix.00001, ..."""
    return [Paper(arxiv_id=f"{prefix}.{i:05d}", title=t, authors=["A. Author"], abstract=a)
            for i, (t, a) in enumerate(rows)]


@pytest.fixture(scope="module")
def model():
    e = Embedder()
    e.load()
    return e


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "team.sqlite")


@pytest.fixture
def cache(db, model):
    return EmbeddingCache(db, model)
