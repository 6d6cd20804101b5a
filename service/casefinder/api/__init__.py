"""HTTP API, catalogue viewer and search page (FastAPI)."""
