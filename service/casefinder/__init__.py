"""Casefinder: semantic search and answers over Danish municipal case catalogues.

Data flows one way through the sub-packages:
corpus (parse catalogues into cases) -> index (chunk, embed, BM25, FAISS)
-> search (hybrid retrieval, ranking) -> answer -> api / cli.
"""

__version__ = "0.1.0"
