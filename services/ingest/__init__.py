"""The ingest service: takes documents in, stores them once, and has every one analysed."""
