"""Lắng Nghe's services: ingest, nlp and gateway, with the code they share in ``common``."""
