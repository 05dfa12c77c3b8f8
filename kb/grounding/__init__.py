"""Grounding: every generated sentence is checked against the passages it cites (check) using term-level facts
(terms): content words, numbers, names, comparisons."""
