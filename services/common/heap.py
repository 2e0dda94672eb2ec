"""The garbage collector in long-running services: what start-up built is left out of its scans."""

import gc


def freeze_startup_objects() -> int:
    """Collect once, then move every surviving object to the collector's permanent generation.

    A service builds most of its heap at start-up (imported modules, the GraphQL schema and its
    types, the models' tables, clients and pools) and keeps it for its lifetime. Left as they are,
    those objects are walked again by every collection of the oldest generation, and while they
    are still young, by the middle one: in the gateway, pauses of over 100 ms in the middle of
    requests. Frozen, they are never scanned again; what the service allocates later is collected
    as before. Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
