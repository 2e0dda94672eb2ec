"""The NlpService gRPC servicer: validates a batch, runs the models off the event loop."""

import asyncio
from collections.abc import Sequence

import grpc

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.common.text import normalize_text
from services.nlp.sentiment import SentimentModel, SentimentPrediction
from services.nlp.settings import NlpSettings

_LABELS = {
    "negative": nlp_pb2.SENTIMENT_LABEL_NEGATIVE,
    "neutral": nlp_pb2.SENTIMENT_LABEL_NEUTRAL,
    "positive": nlp_pb2.SENTIMENT_LABEL_POSITIVE,
}


class NlpServicer(nlp_pb2_grpc.NlpServiceServicer):
    """Answers UNAVAILABLE until ``models_loaded`` is called, as health says NOT_SERVING."""

    def __init__(self, settings: NlpSettings) -> None:
        self._settings = settings
        self._sentiment: SentimentModel | None = None

    def models_loaded(self, sentiment: SentimentModel) -> None:
        self._sentiment = sentiment

    async def Analyze(
        self, request: nlp_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> nlp_pb2.AnalyzeResponse:
        if self._sentiment is None:
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
        predictions = await asyncio.to_thread(self._sentiment.predict, texts)
        return nlp_pb2.AnalyzeResponse(
            analyses=[
                nlp_pb2.Analysis(id=item.id, sentiment=_sentiment_message(p))
                for item, p in zip(request.texts, predictions, strict=True)
            ]
        )

    async def ModelInfo(
        self, request: nlp_pb2.ModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> nlp_pb2.ModelInfoResponse:
        if self._sentiment is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "models are still loading")
        models: Sequence[tuple[str, SentimentModel]] = [("sentiment", self._sentiment)]
        return nlp_pb2.ModelInfoResponse(
            models=[
                nlp_pb2.Model(task=task, name=m.name, version=m.version, sha256=m.sha256)
                for task, m in models
            ]
        )


def _sentiment_message(prediction: SentimentPrediction) -> nlp_pb2.Sentiment:
    p = prediction.probabilities
    return nlp_pb2.Sentiment(
        label=_LABELS[prediction.label],
        score=prediction.score,
        negative=p["negative"],
        neutral=p["neutral"],
        positive=p["positive"],
    )
