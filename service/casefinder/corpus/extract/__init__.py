"""Originals (PDF, ...) -> the text that is stored beside them in corpus/ and parsed like any
catalogue. One module per format; each returns markdown-like text with "# " headings."""
