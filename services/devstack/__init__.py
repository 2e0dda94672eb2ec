"""The whole system on one machine: embedded MongoDB, nlp, ingest and gateway in one tree."""
