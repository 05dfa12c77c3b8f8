"""Build the collaborators (catalog, embedder, vector store) from settings. Only entry points (the CLI, the
demo, benchmarks) call this; library functions take their collaborators as arguments."""
from __future__ import annotations

from dataclasses import dataclass

from kb.store.catalog import Catalog
from kb.ingest.pipeline import IngestOptions
from kb.settings import Settings


@dataclass
class Session:
    settings: Settings
    catalog: Catalog
    _embedder: object | None = None
    _store: object | None = None

    @property
    def embedder(self):
        if self._embedder is None:
            from kb.backends.embedders import get_embedder

            self._embedder = get_embedder(self.settings.embedder, batch_size=self.settings.embed_batch_size)
        return self._embedder

    @property
    def store(self):
        if self._store is None:
            from kb.store.vectors import open_store

            self._store = open_store(self.settings.vector_store, self.settings.chroma_path, self.settings.chroma_url)
        return self._store

    def store_location(self) -> str:
        if self.settings.vector_store == "chroma":
            return self.settings.chroma_url or str(self.settings.chroma_path)
        return self.settings.vector_store

    def ingest_options(self, **overrides) -> IngestOptions:
        s = self.settings
        opts = IngestOptions(chunk_tokens=s.chunk_tokens, chunk_overlap=s.chunk_overlap,
                             batch_size=s.embed_batch_size, arxiv_api_url=s.arxiv_api_url,
                             download_dir=s.home / "papers")
        for k, v in overrides.items():
            setattr(opts, k, v)
        return opts

    def close(self) -> None:
        self.catalog.close()


def open_session(settings: Settings | None = None) -> Session:
    settings = settings or Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return Session(settings=settings, catalog=Catalog(settings.catalog_path))
