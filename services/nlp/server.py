"""The NlpService gRPC servicer: validates a batch, runs the models off the event loop."""

import asyncio
from dataclasses import dataclass

import grpc

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.common.text import normalize_text
from services.nlp.classifiers import ClassScores, TaskHeads
from services.nlp.encoder import SentenceEncoder
from services.nlp.settings import NlpSettings

_LABELS = {
    "negative": nlp_pb2.SENTIMENT_LABEL_NEGATIVE,
    "neutral": nlp_pb2.SENTIMENT_LABEL_NEUTRAL,
    "positive": nlp_pb2.SENTIMENT_LABEL_POSITIVE,
}


@dataclass(frozen=True, slots=True)
class LoadedModels:
    encoder: SentenceEncoder
    encoder_sha256: str
    heads: TaskHeads

    def analyze(self, texts: list[str]) -> dict[str, list[ClassScores]]:
        # One encoder pass per text; its embedding feeds every head.
        return self.heads.predict(texts, self.encoder.encode(texts))


class NlpServicer(nlp_pb2_grpc.NlpServiceServicer):
    """Answers UNAVAILABLE until ``models_loaded`` is called, as health says NOT_SERVING."""

    def __init__(self, settings: NlpSettings) -> None:
        self._settings = settings
        self._models: LoadedModels | None = None

    def models_loaded(self, models: LoadedModels) -> None:
        self._models = models

    async def Analyze(
        self, request: nlp_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> nlp_pb2.AnalyzeResponse:
        if self._models is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "models are still loading")
        if len(request.texts) > self._settings.max_texts_per_call:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{len(request.texts)} texts in one call; the limit is "
                f"{self._settings.max_texts_per_call}",
            )
        for i, item in enumerate(request.texts):
            if len(item.text) + len(item.title) > self._settings.max_text_chars:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"texts[{i}] is longer than {self._settings.max_text_chars:,} characters",
                )
        texts = [normalize_text(f"{t.title}\n{t.text}") for t in request.texts]
        # The models are CPU-bound; a thread keeps health checks and new calls answered.
        predictions = await asyncio.to_thread(self._models.analyze, texts)
        return nlp_pb2.AnalyzeResponse(
            analyses=[
                nlp_pb2.Analysis(
                    id=item.id,
                    sentiment=_sentiment_message(predictions["sentiment"][i]),
                    toxicity=_classification(predictions["toxicity"][i]),
                    emotion=_classification(predictions["emotion"][i]),
                    topic=_classification(predictions["topic"][i]),
                )
                for i, item in enumerate(request.texts)
            ]
        )

    async def ModelInfo(
        self, request: nlp_pb2.ModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> nlp_pb2.ModelInfoResponse:
        if self._models is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "models are still loading")
        heads = self._models.heads
        return nlp_pb2.ModelInfoResponse(
            models=[
                nlp_pb2.Model(
                    task="embedding",
                    name="multilingual-e5-small-int8",
                    version=str(self._models.encoder.max_tokens),
                    sha256=self._models.encoder_sha256,
                ),
                *(
                    nlp_pb2.Model(
                        task=task, name=heads.name, version=heads.version, sha256=heads.sha256
                    )
                    for task in heads.tasks
                ),
            ]
        )


def _classification(scores: ClassScores) -> nlp_pb2.Classification:
    ranked = sorted(scores.probabilities.items(), key=lambda item: item[1], reverse=True)
    return nlp_pb2.Classification(
        label=scores.label,
        score=scores.score,
        probabilities=[nlp_pb2.LabelScore(label=label, probability=p) for label, p in ranked],
    )


def _sentiment_message(prediction: ClassScores) -> nlp_pb2.Sentiment:
    p = prediction.probabilities
    return nlp_pb2.Sentiment(
        label=_LABELS[prediction.label],
        score=prediction.score,
        negative=p["negative"],
        neutral=p["neutral"],
        positive=p["positive"],
    )
