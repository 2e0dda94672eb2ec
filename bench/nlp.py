"""Benchmark the nlp service's whole analysis against a BERT-base-sized transformers pipeline.

Starts the real nlp gRPC server as its own process, sends it (a) short social posts and (b) news
articles of 400-800 words, both made here from the bench's own Vietnamese sentence templates, in
batches from a few concurrent clients, and measures documents/s of the whole Analyze call, the
time of each analysis stage (from the server's metrics) and the server's peak RSS. In the same
run, a Hugging Face ``pipeline("text-classification")`` over a randomly initialised BERT of
PhoBERT-base's shape classifies the same posts with the same batch size, on the same cores. The
three phases alternate over a few rounds, and the speed-up is the median of the rounds' ratios,
so that a shared machine's changing load weighs on both sides alike.

``python bench/nlp.py [--seconds 12] [--rounds 3] [--clients 4] [--batch 32]`` ends with one
JSON line:
{"posts_per_s", "articles_per_s", "baseline_posts_per_s", "speedup", "peak_rss_mb",
"posts_cpu_ms", "articles_cpu_ms", "baseline_cpu_ms", "cpu_speedup"} (CPU milliseconds a
document: the nlp server's process over all its threads, and the baseline's).
The baseline needs torch: ``pip install -e '.[bench]'``.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import grpc
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.devstack.processes import ServiceProcess, free_port, grpc_serving

# ----------------------------------------------------------------------------- the documents

PLACES = [
    "Quận 7",
    "Q.1",
    "phường Bến Nghé",
    "TP Thủ Đức",
    "quận Bình Thạnh",
    "đường Nguyễn Hữu Cảnh",
    "ngã tư Hàng Xanh",
    "cầu Sài Gòn",
    "chợ Bà Chiểu",
    "huyện Nhà Bè",
    "phường Tân Phong",
    "đường Võ Văn Kiệt",
]
POST_TEMPLATES = [
    "Mưa có nửa tiếng mà {place} đã ngập tới đầu gối, xe chết máy la liệt.",
    "Kẹt xe ở {place} từ sáng tới giờ, đi làm trễ mất rồi, mệt mỏi quá.",
    "Rác ở {place} chất đống cả tuần không ai dọn, mùi hôi lắm mọi người ơi.",
    "Cảm ơn cán bộ phường đã hướng dẫn làm giấy tờ rất nhanh, hài lòng lắm.",
    "Công viên mới ở {place} đẹp quá, tối nào cả nhà mình cũng ra đi dạo.",
    "ko dc j het, ket xe o {place} may tieng roi",
    "Đèn đường ở {place} hỏng cả tháng nay, tối đi về sợ lắm.",
    "Tuyến xe buýt mới qua {place} chạy đúng giờ, tài xế thân thiện, tuyệt vời!",
    "Sao giá điện tháng này tăng vọt vậy, nhà em có dùng gì thêm đâu.",
    "hom nay di ngang {place} thay nuoc ngap qua troi, ai di thi tranh nha",
    "Làm căn cước ở {place} xếp hàng từ 6 giờ sáng mà tới trưa chưa xong.",
    "Bệnh viện quận đông quá, chờ khám cả buổi, mong thành phố tăng thêm bác sĩ.",
    "Trường gần nhà mới xây thêm phòng học, con mình đi học vui lắm.",
    "Công trình ở {place} đào đường rồi bỏ đó, bụi mù mịt, khổ dân quá.",
    "Có ai biết vụ cháy ở {place} chiều nay sao chưa ạ? Thấy khói đen cả góc trời.",
    "Tiệm này bán online mà giao hàng nhanh ghê, đóng gói cẩn thận, sẽ ủng hộ tiếp.",
]
TITLE_TEMPLATES = [
    "Triều cường dâng cao, nhiều tuyến đường ở {place} ngập sâu",
    "Thành phố khởi công dự án chống ngập tại {place}",
    "Người dân {place} kiến nghị sớm sửa chữa hệ thống thoát nước",
    "Mở rộng dịch vụ công trực tuyến, người dân {place} bớt phải xếp hàng",
    "Giao thông qua {place} ùn tắc kéo dài trong giờ cao điểm",
]
ARTICLE_SENTENCES = [
    "Theo ghi nhận của phóng viên, từ sáng sớm nhiều phương tiện đã phải di chuyển chậm qua {place}.",
    "Người dân sống gần {place} cho biết tình trạng này đã kéo dài nhiều năm mà chưa được giải quyết dứt điểm.",
    "Đại diện ủy ban nhân dân phường cho biết đơn vị đã báo cáo sự việc lên cấp trên và đang chờ phương án xử lý.",
    "Một số hộ kinh doanh dọc tuyến đường phải đóng cửa sớm vì khách không thể ghé vào mua hàng.",
    "Sở Giao thông Vận tải đã điều lực lượng phân luồng, hướng dẫn xe máy đi vào các tuyến đường song song.",
    "Theo kế hoạch, dự án sẽ được triển khai trong hai năm với tổng vốn đầu tư hơn một nghìn tỷ đồng.",
    "Các chuyên gia cho rằng cần đầu tư đồng bộ hệ thống cống thoát nước thay vì chỉ nâng cao mặt đường.",
    "Bà Lan, một người dân sống ở khu vực này hơn hai mươi năm, cho biết mỗi mùa mưa gia đình bà đều phải kê đồ đạc lên cao.",
    "Trong khi đó, lượng rác thải sinh hoạt bị vứt xuống kênh rạch khiến dòng chảy bị tắc nghẽn nghiêm trọng.",
    "Chính quyền địa phương kêu gọi người dân không xả rác bừa bãi và phối hợp với đội thu gom đúng giờ.",
    "Nhiều phụ huynh lo lắng vì con em phải lội nước đến trường trong những ngày mưa lớn.",
    "Cơ quan chức năng cho biết sẽ tổ chức lấy ý kiến cộng đồng trước khi phê duyệt phương án cuối cùng.",
    "Ông Minh, chủ một tiệm sửa xe gần {place}, nói rằng lượng xe chết máy tăng gấp đôi mỗi khi triều cường lên.",
    "Thành phố cũng đang thí điểm hệ thống cảm biến đo mực nước để cảnh báo sớm cho người tham gia giao thông.",
    "Ngoài ra, các tuyến xe buýt đi qua khu vực này đã được điều chỉnh lộ trình tạm thời để tránh điểm ngập.",
    "Theo số liệu của cơ quan thống kê, dân số khu vực đã tăng nhanh trong mười năm qua, gây áp lực lên hạ tầng.",
    "Đại biểu Hội đồng nhân dân thành phố đề nghị công khai tiến độ từng hạng mục để người dân cùng giám sát.",
    "Một số chuyên gia quy hoạch đề xuất giữ lại các khu đất trống làm hồ điều tiết nước mưa.",
]


def make_posts(n: int, rng: random.Random) -> list[str]:
    return [rng.choice(POST_TEMPLATES).format(place=rng.choice(PLACES)) for _ in range(n)]


def make_articles(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(title, text) pairs; each text has 400-800 words in paragraphs of four to six sentences."""
    articles = []
    for _ in range(n):
        target = rng.randint(400, 800)
        sentences, words = [], 0
        while True:
            sentence = rng.choice(ARTICLE_SENTENCES).format(place=rng.choice(PLACES))
            if words + len(sentence.split()) > target and words >= 400:
                break
            sentences.append(sentence)
            words += len(sentence.split())
        paragraphs, i = [], 0
        while i < len(sentences):
            step = rng.randint(4, 6)
            paragraphs.append(" ".join(sentences[i : i + step]))
            i += step
        title = rng.choice(TITLE_TEMPLATES).format(place=rng.choice(PLACES))
        articles.append((title, "\n\n".join(paragraphs)))
    return articles


# ----------------------------------------------------------------------------- the nlp server


class RssSampler:
    """Samples a process's resident memory every 100 ms; the kernel's VmHWM is the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _status(self, key: str) -> int:
        text = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)[1])

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.max_rss_kb = max(self.max_rss_kb, self._status("VmRSS"))
            except (OSError, TypeError):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {
            "peak_rss_mb": self._status("VmHWM") / 1024,
            "max_sampled_rss_mb": self.max_rss_kb / 1024,
        }


async def stage_seconds(metrics_port: int) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=5) as http:
        body = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    return {
        m[1]: float(m[2])
        for m in re.finditer(r'^langnghe_nlp_stage_seconds_sum\{stage="(\w+)"\} (\S+)$', body, re.M)
    }


async def drive(
    stub: nlp_pb2_grpc.NlpServiceStub,
    inputs: list[nlp_pb2.TextInput],
    *,
    batch: int,
    clients: int,
    seconds: float,
) -> tuple[int, float]:
    """Send batches from ``clients`` concurrent callers for ``seconds``; (documents, elapsed)."""
    batches = itertools.cycle(
        [inputs[i : i + batch] for i in range(0, len(inputs) - batch + 1, batch)]
    )
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            request = nlp_pb2.AnalyzeRequest(texts=next(batches))
            reply = await stub.Analyze(request, timeout=120)
            done += len(reply.analyses)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done, time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    stub, metrics_port: int, pid: int, inputs, *, batch: int, clients: int, seconds: float
):
    """(documents, seconds, {stage: server seconds}) of one phase; the stage "process_cpu" is
    the server's CPU time over all its threads, which other processes' load moves far less than
    wall time: on a shared machine it tells whether the service did less work."""
    before = await stage_seconds(metrics_port)
    cpu_before = cpu_seconds(pid)
    done, elapsed = await drive(stub, inputs, batch=batch, clients=clients, seconds=seconds)
    cpu = cpu_seconds(pid) - cpu_before
    after = await stage_seconds(metrics_port)
    return (
        done,
        elapsed,
        {k: v - before.get(k, 0.0) for k, v in after.items()} | {"process_cpu": cpu},
    )


async def bench_server(args, posts: list[str], articles: list[tuple[str, str]], baseline) -> dict:
    """Rounds of posts, baseline and articles, interleaved, so that the load of a shared machine
    changing during the run weighs on every side alike; the speed-up is the median of rounds."""
    port, metrics_port = free_port(), free_port()
    env = {
        "LANGNGHE_NLP_PORT": str(port),
        "LANGNGHE_NLP_METRICS_PORT": str(metrics_port),
        "LANGNGHE_NLP_METRICS_HOST": "127.0.0.1",
        "LANGNGHE_NLP_LOG_LEVEL": "WARNING",
    }
    server = ServiceProcess("nlp", "services.nlp", env=env)
    started = time.perf_counter()
    await server.start()
    try:
        await server.wait_ready(lambda: grpc_serving(port), 180)
        print(f"nlp server ready in {time.perf_counter() - started:.1f} s", flush=True)
        sampler = RssSampler(server.process.pid)
        sampler.start()
        post_inputs = [nlp_pb2.TextInput(id=str(i), text=t) for i, t in enumerate(posts)]
        article_inputs = [
            nlp_pb2.TextInput(id=str(i), title=title, text=text)
            for i, (title, text) in enumerate(articles)
        ]
        phase_s = args.seconds / args.rounds
        totals = {name: [0, 0.0, {}] for name in ("posts", "articles", "baseline")}
        ratios = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = nlp_pb2_grpc.NlpServiceStub(channel)
            await drive(stub, post_inputs, batch=args.batch, clients=1, seconds=0.5)  # warm-up
            await drive(stub, article_inputs, batch=args.article_batch, clients=1, seconds=0.5)
            for round_ in range(args.rounds):
                rates = {}
                for name, inputs, batch in (
                    ("posts", post_inputs, args.batch),
                    ("baseline", None, args.batch),
                    ("articles", article_inputs, args.article_batch),
                ):
                    if name == "baseline":
                        if baseline is None:
                            continue
                        done, elapsed, cpu = await asyncio.to_thread(baseline, phase_s)
                        stages = {"process_cpu": cpu}
                    else:
                        done, elapsed, stages = await measure(
                            stub,
                            metrics_port,
                            server.process.pid,
                            inputs,
                            batch=batch,
                            clients=args.clients,
                            seconds=phase_s,
                        )
                    total = totals[name]
                    total[0] += done
                    total[1] += elapsed
                    for stage, seconds in stages.items():
                        total[2][stage] = total[2].get(stage, 0.0) + seconds
                    rates[name] = done / elapsed
                if "baseline" in rates:
                    ratios.append(rates["posts"] / rates["baseline"])
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{name} {rate:.1f}/s" for name, rate in rates.items())
                    + (f"; speed-up {ratios[-1]:.2f}" if "baseline" in rates else ""),
                    flush=True,
                )
        result = {"ratios": ratios}
        for name, (done, elapsed, stages) in totals.items():
            if done:
                result[f"{name}_per_s"] = done / elapsed
                result[f"{name}_stage_ms_per_doc"] = {
                    stage: round(1000 * seconds / done, 3) for stage, seconds in stages.items()
                }
        for name in ("posts", "articles"):
            print(
                f"{name}: {result[f'{name}_per_s']:.1f}/s over {totals[name][1]:.1f} s; server "
                f"ms per document by stage {result[f'{name}_stage_ms_per_doc']}",
                flush=True,
            )
        result.update(sampler.stop())
        return result
    finally:
        await server.stop()


# ----------------------------------------------------------------------------- the baseline


def bert_base_pipeline(corpus: list[str], batch: int):
    """A PhoBERT-base-shaped classifier with random weights behind transformers' pipeline,
    with a WordPiece vocabulary trained here on the bench's own posts (about one token per
    Vietnamese syllable, as PhoBERT's segmented BPE gives)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        PreTrainedTokenizerFast,
        pipeline,
    )

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        corpus, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials)
    )
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(t, wordpiece.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=256,
    )
    # PhoBERT-base: 12 layers, hidden 768, 12 heads, FF 3072, 64k vocabulary, 258 positions.
    config = BertConfig(
        vocab_size=64_001,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=258,
        num_labels=3,
    )
    model = BertForSequenceClassification(config).eval()
    return pipeline(
        "text-classification", model=model, tokenizer=tokenizer, device="cpu", batch_size=batch
    )


def baseline_runner(posts: list[str], batch: int):
    """A callable that classifies batches of ``posts`` for some seconds: (posts, seconds, CPU
    seconds of this process, which does nothing else meanwhile)."""
    # The nlp server's threads do not spin while idle; the baseline's OpenMP threads get the
    # same treatment, which only helps it on shared cores. Set before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    classify = bert_base_pipeline(posts, batch)
    classify(posts[:batch], truncation=True)  # warm-up
    batches = itertools.cycle([posts[i : i + batch] for i in range(0, len(posts), batch)])

    def run(seconds: float) -> tuple[int, float, float]:
        done, started, cpu = 0, time.perf_counter(), time.process_time()
        with torch.inference_mode():
            while time.perf_counter() - started < seconds:
                done += len(classify(next(batches), truncation=True))
        return done, time.perf_counter() - started, time.process_time() - cpu

    return run


def cpu_figures(server: dict) -> dict[str, float]:
    """CPU milliseconds a document on each side, and the speed-up they give: the work each side
    does, which a shared machine's load moves far less than wall time."""
    figures = {}
    for name in ("posts", "articles", "baseline"):
        stages = server.get(f"{name}_stage_ms_per_doc", {})
        if "process_cpu" in stages:
            figures[f"{name}_cpu_ms"] = stages["process_cpu"]
    if "posts_cpu_ms" in figures and "baseline_cpu_ms" in figures:
        figures["cpu_speedup"] = round(figures["baseline_cpu_ms"] / figures["posts_cpu_ms"], 2)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="measured time of each side, over all rounds"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--clients", type=int, default=4, help="concurrent gRPC callers")
    parser.add_argument("--batch", type=int, default=32, help="posts per call (and baseline)")
    parser.add_argument("--article-batch", type=int, default=8, help="articles per call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the torch baseline")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    posts = make_posts(2048, rng)
    articles = make_articles(96, rng)
    words = [len(text.split()) for _, text in articles]
    print(
        f"{len(posts)} posts (mean {sum(map(len, posts)) / len(posts):.0f} characters), "
        f"{len(articles)} articles ({min(words)}-{max(words)} words); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    baseline = None if args.no_baseline else baseline_runner(posts, args.batch)
    server = asyncio.run(bench_server(args, posts, articles, baseline))
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    speedup = statistics.median(server["ratios"]) if server["ratios"] else None
    print(
        json.dumps(
            {
                "posts_per_s": round(server["posts_per_s"], 1),
                "articles_per_s": round(server["articles_per_s"], 1),
                "baseline_posts_per_s": (
                    round(server["baseline_per_s"], 1) if "baseline_per_s" in server else None
                ),
                "speedup": None if speedup is None else round(speedup, 2),
                "peak_rss_mb": round(server["peak_rss_mb"], 1),
                **cpu_figures(server),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
