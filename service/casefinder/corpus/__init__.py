"""Corpus: catalogue files, their manifest, and parsing them into cases."""
