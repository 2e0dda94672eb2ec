"""The embedded MongoDB: mongoeco's wire-protocol server, for the default run and the tests."""
