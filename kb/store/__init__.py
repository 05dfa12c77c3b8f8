"""Stores: the SQLite catalog (source of truth), the derived vector index (Chroma or memory), and the KB_HOME lock."""
