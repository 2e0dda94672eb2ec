"""Generated gRPC stubs (make proto)."""
