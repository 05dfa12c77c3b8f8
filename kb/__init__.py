"""kb: a local knowledge base for research papers. Importing kb is light: no torch, chromadb or llama_cpp."""
__version__ = "0.1.0"
