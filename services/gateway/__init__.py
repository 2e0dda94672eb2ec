"""The gateway: the GraphQL API (Litestar + Strawberry), with health and metrics endpoints."""
