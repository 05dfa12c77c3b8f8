"""Build the collaborators (catalog, embedder, vector store) from settings. Only entry points (the CLI, the
demo, benchmarks) call this; library functions take their collaborators as arguments."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kb.store.catalog import Catalog
from kb.ingest.pipeline import IngestOptions
from kb.settings import Settings
from kb.types import KbError

log = logging.getLogger(__name__)


@dataclass
class Session:
    settings: Settings
    catalog: Catalog
    _embedder: object | None = None
    _store: object | None = None
    _verifier: object | None = None
    _verifier_built: bool = False

    @property
    def embedder(self):
        if self._embedder is None:
            from kb.backends.embedders import get_embedder

            self._embedder = get_embedder(self.settings.embedder, batch_size=self.settings.embed_batch_size)
        return self._embedder

    @property
    def store(self):
        """The vector store, for writers (they hold the exclusive lock)."""
        if self._store is None:
            from kb.store.health import REINDEX_HINT
            from kb.store.vectors import open_store

            try:
                self._store = open_store(self.settings.vector_store, self.settings.chroma_path,
                                         self.settings.chroma_url)
            except KbError as e:
                raise KbError(f"{e}; {REINDEX_HINT}" if self._local_chroma() else str(e)) from e
        return self._store

    @property
    def write_store(self):
        """The vector store for writers, under the exclusive lock, repaired first when it disagrees with the
        catalog (vectors lost with a deleted index are re-added from the catalog's embeddings)."""
        from kb.store.health import repair_index

        self._writable()
        self.catalog.verify()  # never write into a damaged catalog
        store = self.store
        repair_index(self.catalog, store)
        return store

    @property
    def read_store(self):
        """The vector store for readers: checked against the catalog, else the catalog's own embeddings
        (see kb.store.readview)."""
        from kb.store.readview import ReadView

        return ReadView(self.catalog, lambda: self.store, self.settings.lock_path)

    def _writable(self) -> None:
        if self.catalog.readonly:
            from kb.store.lock import ReadOnlyHome

            raise ReadOnlyHome(self.settings.home, f"{self.catalog.path.name} cannot be written")

    def _local_chroma(self) -> bool:
        return self.settings.vector_store == "chroma" and not self.settings.chroma_url

    def rebuild_store(self):
        """The store for `kb reindex`: a local Chroma folder that cannot be opened is moved aside (kept, named in
        the log) and a new one created, since reindex rebuilds every vector from the catalog anyway."""
        self._writable()
        self.catalog.verify()  # a damaged catalog would rebuild a damaged index
        try:
            return self.store
        except KbError as e:
            if not self._local_chroma() or not self.settings.chroma_path.exists():
                raise
            aside = self.settings.chroma_path.with_name(f"chroma.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            self.settings.chroma_path.rename(aside)
            log.warning("the vector index could not be opened (%s); moved it to %s and building a new one",
                        e.__cause__ or e, aside)
            self._store = None
            return self.store

    @property
    def verifier(self):
        """The optional verifier (KB_VERIFIER), or None when it is off. Built once; a model loads on first use."""
        if not self._verifier_built:
            from kb.backends.verifiers import get_verifier

            s = self.settings
            self._verifier = get_verifier(s.verifier, model=s.verifier_model, api_key=s.verifier_api_key,
                                          threshold=s.verifier_threshold)
            self._verifier_built = True
        return self._verifier

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
        if self._store is not None:
            self._store.close()
            self._store = None
        self.catalog.close()


def open_session(settings: Settings | None = None, create: bool = True) -> Session:
    """Open the knowledge base at settings.home. `create=False` (read commands): a KB_HOME folder that does not
    exist is a KbError ("no knowledge base at X"), so a mistyped KB_HOME is said, never silently created."""
    settings = settings or Settings()
    if not create and not settings.home.is_dir():
        raise KbError(f"no knowledge base at {settings.home} (`kb ingest PATHS` creates one; KB_HOME names "
                      "another folder)")
    settings.home.mkdir(parents=True, exist_ok=True)
    return Session(settings=settings, catalog=Catalog(settings.catalog_path))
