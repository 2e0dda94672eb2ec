"""A disk cache of encoder outputs keyed by text, so training and evaluation embed a corpus once."""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.nlp.encoder import DIM, SentenceEncoder

# Texts are embedded and saved in chunks of this many, so an interrupted run keeps its work.
_CHUNK = 512


def text_key(text: str) -> bytes:
    """16 bytes of SHA-256: collisions are negligible at corpus sizes and keys stay small."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class EmbeddingCache:
    """Embeddings of one encoder build at one truncation length, stored as chunk files.

    The directory name carries the encoder's model hash and ``max_tokens``: a rebuilt encoder
    or another truncation gets a fresh cache rather than stale vectors.
    """

    def __init__(self, encoder: SentenceEncoder, encoder_sha256: str, root: Path) -> None:
        self.encoder = encoder
        self.directory = Path(root) / f"e5-{encoder_sha256[:12]}-t{encoder.max_tokens}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rows: dict[bytes, np.ndarray] = {}
        for chunk in sorted(self.directory.glob("chunk-*.npz")):
            with np.load(chunk) as arrays:
                keys, vectors = arrays["keys"], arrays["vectors"]
            for key, vector in zip(keys, vectors, strict=True):
                self._rows[key.tobytes()] = vector

    def __len__(self) -> int:
        return len(self._rows)

    def encode(self, texts: Sequence[str], *, progress=None) -> np.ndarray:
        """Embeddings of ``texts`` (float32, (n, 384)), computing and saving only missing ones."""
        keys = [text_key(text) for text in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._rows:
                missing.setdefault(key, text)
        pending = list(missing.items())
        for start in range(0, len(pending), _CHUNK):
            chunk = pending[start : start + _CHUNK]
            vectors = self.encoder.encode([text for _, text in chunk])
            chunk_keys = np.frombuffer(b"".join(key for key, _ in chunk), dtype="V16")
            index = len(list(self.directory.glob("chunk-*.npz")))
            np.savez(self.directory / f"chunk-{index:05d}.npz", keys=chunk_keys, vectors=vectors)
            for (key, _), vector in zip(chunk, vectors, strict=True):
                self._rows[key] = vector
            if progress is not None:
                progress(start + len(chunk), len(pending))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = self._rows[key]
        return out
