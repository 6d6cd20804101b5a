"""Answers with numbered citations: extractive (offline, default) or from an OpenAI-compatible LLM."""
