"""The nlp service: Vietnamese text analysis over gRPC, with models that ship in the project."""
