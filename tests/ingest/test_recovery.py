"""Nothing is lost when nlp is down: the document waits, and is analysed once nlp is back."""

import asyncio
import time

import grpc
from pymongo.asynchronous.database import AsyncDatabase

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.common.errors import invalid_input_from_rpc_error
from services.common.mongo import DOCUMENTS
from services.devstack.processes import ServiceProcess, free_port, grpc_serving
from tests.conftest import FAST_RETRIES


def ingest_process(
    mongo_server: str, db: AsyncDatabase, nlp_port: int
) -> tuple[ServiceProcess, int]:
    port = free_port()
    return (
        ServiceProcess(
            "ingest",
            "services.ingest",
            env={
                "LANGNGHE_INGEST_PORT": str(port),
                "LANGNGHE_INGEST_METRICS_PORT": str(free_port()),
                "LANGNGHE_INGEST_MONGODB_URI": f"mongodb://{mongo_server}/{db.name}"
                "?directConnection=true",
                "LANGNGHE_INGEST_NLP_TARGET": f"127.0.0.1:{nlp_port}",
                **FAST_RETRIES,
            },
        ),
        port,
    )


async def test_document_waits_for_nlp_and_is_analysed_when_it_returns(
    mongo_server: str, mongo_db: AsyncDatabase
) -> None:
    nlp_port = free_port()
    ingest, ingest_port = ingest_process(mongo_server, mongo_db, nlp_port)
    nlp = ServiceProcess(
        "nlp",
        "services.nlp",
        env={"LANGNGHE_NLP_PORT": str(nlp_port), "LANGNGHE_NLP_METRICS_PORT": str(free_port())},
    )
    await ingest.start()
    try:
        await ingest.wait_ready(lambda: grpc_serving(ingest_port), 30)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest_port}") as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            response = await stub.SubmitDocument(
                ingest_pb2.SubmitDocumentRequest(
                    text="Cống thoát nước trên đường Lê Văn Lương bị tắc, nước ngập tới gối.",
                    title="Ngập do cống tắc",
                ),
                timeout=10,
            )
            assert response.created
            assert response.analysis_state == ingest_pb2.ANALYSIS_STATE_PENDING
            stored = await mongo_db[DOCUMENTS].find_one({})
            assert stored["analysis_state"] == "pending"
            assert stored["analysis_error"].startswith("UNAVAILABLE")

            await nlp.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                stored = await mongo_db[DOCUMENTS].find_one({})
                if stored["analysis_state"] == "analyzed":
                    break
                await asyncio.sleep(0.2)
            assert stored["analysis_state"] == "analyzed"
            assert stored["sentiment"]["label"] == "NEGATIVE"
            assert "analysis_error" not in stored

            # Submitting the same text again returns the same, now analysed, document.
            again = await stub.SubmitDocument(
                ingest_pb2.SubmitDocumentRequest(
                    text="Cống thoát nước trên đường Lê Văn Lương bị tắc, nước ngập tới gối."
                ),
                timeout=10,
            )
            assert (again.document_id, again.created) == (response.document_id, False)
            assert again.analysis_state == ingest_pb2.ANALYSIS_STATE_ANALYZED
            assert await mongo_db[DOCUMENTS].count_documents({}) == 1
    finally:
        await nlp.stop()
        await ingest.stop()


async def test_invalid_submission_is_refused_with_field_violations(
    mongo_server: str, mongo_db: AsyncDatabase
) -> None:
    ingest, port = ingest_process(mongo_server, mongo_db, free_port())
    await ingest.start()
    try:
        await ingest.wait_ready(lambda: grpc_serving(port), 30)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            request = ingest_pb2.SubmitDocumentRequest(text="", url="not a url")
            try:
                await stub.SubmitDocument(request, timeout=10)
            except grpc.aio.AioRpcError as error:
                invalid = invalid_input_from_rpc_error(error)
            else:
                raise AssertionError("an empty text was accepted")
        assert invalid is not None
        assert {(v.field, v.code) for v in invalid.violations} == {
            ("text", "REQUIRED"),
            ("url", "INVALID_URL"),
        }
        assert await mongo_db[DOCUMENTS].count_documents({}) == 0
    finally:
        await ingest.stop()
