"""arXiv subscriptions: the daily listing, API queries, polite HTTP, the fetch journal, `kb daily`."""
