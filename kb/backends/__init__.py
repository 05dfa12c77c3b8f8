"""Model backends behind small interfaces: embedders (sentence-transformers, a NumPy MiniLM twin) and generators
(llama-cpp GGUF, OpenAI-compatible servers), chosen by settings."""
