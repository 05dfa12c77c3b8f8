"""Ingest: source files -> parsed papers (parsers/) -> one record per paper (identity) -> chunks with page spans
(chunker) -> catalog and vector store (pipeline)."""
