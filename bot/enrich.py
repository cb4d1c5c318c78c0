"""Optional enrichment through the arXiv API (`arxiv` package): primary category, the
authors' comment and the PDF link. Any failure degrades the digest, never the run."""
from __future__ import annotations

import logging
import re

import requests

from . import store
from .models import Paper

log = logging.getLogger(__name__)
CHUNK = 100


class _TimeoutSession(requests.Session):
    # arxiv 4.x calls session.get() with no timeout: a hung connection would hang the run.
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def make_client(timeout: float = 30.0, query_url: str | None = None):
    import arxiv

    client = arxiv.Client(page_size=CHUNK, delay_seconds=3.0, num_retries=2)
    client._session = _TimeoutSession(timeout)
    if query_url:
        client.query_url_format = query_url
    return client


def enrich(db, papers: list[Paper], client=None) -> list[str]:
    """Fill primary_category, comment and pdf_url; returns warnings (empty when all went well)."""
    import arxiv

    client = client or make_client()
    warnings = []
    ids = [p.arxiv_id for p in papers]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        try:
            # max_results is required: without it an id_list of 150 silently returns 100.
            search = arxiv.Search(id_list=chunk, max_results=len(chunk))
            for result in client.results(search):
                short = re.sub(r"v\d+$", "", result.get_short_id())
                store.save_enrichment(db, short, result.primary_category or "", result.comment or "",
                                      result.pdf_url or "")
        except Exception as exc:  # any failure of the optional API degrades only
            warnings.append(f"arXiv API enrichment failed for {len(chunk)} papers "
                            f"({type(exc).__name__}: {exc}); the digest lacks their comments and primary categories")
    return warnings
