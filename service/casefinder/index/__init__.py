"""Index: chunking, embeddings, BM25 and FAISS, persisted under index/."""
