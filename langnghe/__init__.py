"""Python stubs generated from ``proto/langnghe`` by ``make proto``: the services' contracts. Do not edit."""
