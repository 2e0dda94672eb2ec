"""How a sentence embedding is stored: float16, little-endian, in one BSON binary value.

Half the bytes of float32 (768 for 384 dimensions), and cosine similarity between L2-normalised
vectors barely moves at that precision.
"""

import struct
from collections.abc import Sequence

from bson import Binary


def encode_embedding(vector: Sequence[float]) -> Binary:
    return Binary(struct.pack(f"<{len(vector)}e", *vector))


def decode_embedding(stored: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(stored) // 2}e", stored))
