"""Answering: hybrid retrieval grouped by paper, cited answers with abstention, and retrieval/answer evaluation."""
