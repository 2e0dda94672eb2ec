"""Multilingual sentence embeddings (e5-small, int8 ONNX) with onnxruntime, tokenizers and numpy."""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MANIFEST_FILE = "manifest.json"
DIM = 384
MAX_POSITIONS = 512
# onnxruntime would fuse the graph's residual Add + LayerNormalization and bias Add + Gelu back
# into SkipLayerNormalization and BiasGelu, whose CPU kernels are the slower (build_encoder's
# build_graph has the figures).
UNWANTED_FUSIONS = ["SkipLayerNormFusion", "BiasGeluFusion"]
PAD_ID = 1  # XLM-R "<pad>"; masked out, so its value never reaches the embedding
# e5 was trained with these prefixes. "query: " is the model card's choice for symmetric tasks
# (similarity, clustering, classification), which is what social listening does with it.
QUERY = "query: "
PASSAGE = "passage: "


class EncoderLoadError(RuntimeError):
    """An encoder directory is missing, incomplete, or its files do not match the manifest."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class SentenceEncoder:
    """L2-normalised 384-d embeddings; build the directory with services.nlp.build_encoder."""

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        *,
        max_tokens: int = 256,
        prefix: str = QUERY,
        identity: tuple[str, str, str] = ("e5-small", "unversioned", ""),
    ) -> None:
        if not 2 < max_tokens <= MAX_POSITIONS:
            raise ValueError(f"max_tokens must be in 3..{MAX_POSITIONS}, got {max_tokens}")
        self._session = session
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.prefix = prefix
        # (name, version, SHA-256 of the ONNX file), reported by the ModelInfo RPC.
        self.name, self.version, self.sha256 = identity
        # The post-processor adds <s> and </s>; truncation keeps them inside max_tokens.
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.no_padding()

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        max_tokens: int = 256,
        intra_op_threads: int = 2,
        prefix: str = QUERY,
        verify: bool = True,
        spinning: bool = True,
    ) -> Self:
        """Open a built directory; ``verify`` checks both files against the manifest's SHA-256."""
        directory = Path(directory)
        try:
            manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
            model_path = directory / manifest["model_file"]
            tokenizer_path = directory / manifest["tokenizer_file"]
            hashes = manifest["files"]
            dim = manifest["dims"]["hidden"]
            identity = (
                manifest["model"],
                f"{manifest['precision']}-builder{manifest['builder_version']}",
                hashes[model_path.name],
            )
        except FileNotFoundError as exc:
            raise EncoderLoadError(
                f"no encoder in {directory}: run python -m services.nlp.build_encoder"
            ) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EncoderLoadError(f"{directory / MANIFEST_FILE} is unreadable: {exc!r}") from exc
        if dim != DIM:
            raise EncoderLoadError(f"{directory}: embedding size {dim}, expected {DIM}")
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise EncoderLoadError(f"{path} is missing")
            if verify and _sha256(path) != hashes.get(path.name):
                raise EncoderLoadError(f"{path} does not match the SHA-256 in its manifest")

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        # One request's batch uses the cores; parallel graph branches would only contend.
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning threads answer a little sooner on idle cores but burn the time of processes
        # sharing them: on two busy cores, not spinning measured 1.6x the throughput.
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spinning else "0"
        )
        try:
            session = ort.InferenceSession(
                str(model_path),
                options,
                providers=["CPUExecutionProvider"],
                disabled_optimizers=UNWANTED_FUSIONS,
            )
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # onnxruntime and tokenizers raise their own exception types
            raise EncoderLoadError(f"cannot open the encoder in {directory}: {exc}") from exc
        return cls(session, tokenizer, max_tokens=max_tokens, prefix=prefix, identity=identity)

    @property
    def dim(self) -> int:
        return DIM

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with <s>/</s>, prefixed and truncated as ``encode`` feeds them."""
        encodings = self._tokenizer.encode_batch_fast([self.prefix + t for t in texts])
        return [e.ids for e in encodings]

    def _covered(self, texts: Sequence[str], encodings: Sequence) -> list[int]:
        lengths = []
        for text, encoding in zip(texts, encodings, strict=True):
            if len(encoding.ids) < self.max_tokens:
                lengths.append(len(text))
                continue
            end = max((stop for start, stop in encoding.offsets if stop > start), default=0)
            lengths.append(min(len(text), max(0, end - len(self.prefix))))
        return lengths

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``texts`` in their order: float32, shape (n, 384), unit L2 norm."""
        _check(texts, batch_size)
        return self._embed(self.tokenize(texts), batch_size)

    def encode_with_windows(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[np.ndarray, list[int]]:
        """``encode``, and how many characters of each text the encoder read before truncation
        stopped it, from one tokenisation: other evidence can then be taken from the same window
        (an article's title and lead)."""
        _check(texts, batch_size)
        encodings = self._tokenizer.encode_batch([self.prefix + t for t in texts])
        embeddings = self._embed([e.ids for e in encodings], batch_size)
        return embeddings, self._covered(texts, encodings)

    def _embed(self, ids: Sequence[Sequence[int]], batch_size: int) -> np.ndarray:
        out = np.empty((len(ids), DIM), dtype=np.float32)
        if not ids:
            return out
        # Length-sorted batches pad little; results go back to the caller's order through `order`.
        order = np.argsort([len(i) for i in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.full((len(chunk), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            (embeddings,) = self._session.run(
                ["sentence_embedding"], {"input_ids": input_ids, "attention_mask": mask}
            )
            out[chunk] = embeddings
        return out


def _check(texts: Sequence[str], batch_size: int) -> None:
    if isinstance(texts, str):
        raise TypeError("encode takes a sequence of strings, not one string")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
