"""Code every service shares: settings, logging, metrics, gRPC plumbing, MongoDB and text rules.

It imports no service; services import it and talk to each other only through ``langnghe`` stubs.
"""
