"""The daily digest: papers of a day grouped by topic (topics), each paper's fields generated and checked (paper),
cached per paper (cache), assembled per day (day) and rendered as Markdown, HTML or JSON (render)."""
