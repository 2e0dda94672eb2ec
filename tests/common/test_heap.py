"""What a service built at start-up is frozen out of the collector's scans; later garbage is not."""

import gc
import weakref

from services.common.heap import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_startup_objects_are_frozen_and_later_cycles_still_collected() -> None:
    startup = {"schema": [Node() for _ in range(100)]}
    try:
        frozen = freeze_startup_objects()
        assert frozen == gc.get_freeze_count() > 100
        tracked = {id(o) for o in gc.get_objects()}
        assert id(startup) not in tracked
        assert id(startup["schema"][0]) not in tracked

        # A reference cycle made after start-up is still found and freed.
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
