"""Search: hybrid retrieval, per-case ranking, highlighting, the no-match judgement."""
