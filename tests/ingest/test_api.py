"""The IngestService contract over real gRPC: sources, pushed batches and erasure."""

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from bson import ObjectId
from google.protobuf.field_mask_pb2 import FieldMask

from langnghe.ingest.v1 import ingest_pb2 as pb
from langnghe.ingest.v1 import ingest_pb2_grpc
from services.common.errors import invalid_input_from_rpc_error
from services.common.mongo import DOCUMENTS, ERASURES, connect, database
from services.devstack.stack import Stack


@pytest.fixture
async def ingest(stack: Stack) -> AsyncIterator[ingest_pb2_grpc.IngestServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.ports.ingest}") as channel:
        yield ingest_pb2_grpc.IngestServiceStub(channel)


@pytest.fixture
async def db(stack: Stack):
    client = connect(stack.mongodb_uri, "tests")
    yield database(client)
    await client.close()


def unique() -> str:
    return uuid.uuid4().hex[:10]


def feed(tag: str, **fields: object) -> pb.SourceSpec:
    values = {
        "name": f"Báo thử {tag}",
        "kind": pb.SOURCE_KIND_PRESS,
        "channel": pb.CHANNEL_RSS,
        "urls": [f"https://bao-{tag}.example.vn/rss/thoi-su.rss"],
        "outlet": f"Báo thử {tag}",
        "sectors": ["giao_thong"],
    } | fields
    return pb.SourceSpec(**values)


async def violations_of(call) -> set[tuple[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    invalid = invalid_input_from_rpc_error(error.value)
    assert invalid is not None, error.value
    return {(v.field, v.code) for v in invalid.violations}


async def test_source_lifecycle(ingest: ingest_pb2_grpc.IngestServiceStub) -> None:
    tag = unique()
    source = await ingest.AddSource(pb.AddSourceRequest(source=feed(tag)), timeout=10)
    assert source.enabled
    assert source.status.health == pb.SOURCE_HEALTH_NEW
    assert source.min_interval_s == 600
    assert source.language == "vi"

    updated = await ingest.UpdateSource(
        pb.UpdateSourceRequest(
            id=source.id,
            source=pb.SourceSpec(name="Tuổi Trẻ — Thời sự", min_interval_s=300),
            update_mask=FieldMask(paths=["name", "min_interval_s"]),
        ),
        timeout=10,
    )
    assert (updated.name, updated.min_interval_s, updated.outlet) == (
        "Tuổi Trẻ — Thời sự",
        300,
        f"Báo thử {tag}",
    )

    disabled = await ingest.SetSourceEnabled(
        pb.SetSourceEnabledRequest(id=source.id, enabled=False, reason="trang báo đổi địa chỉ"),
        timeout=10,
    )
    assert not disabled.enabled
    assert disabled.disabled_reason == "trang báo đổi địa chỉ"
    assert disabled.status.health == pb.SOURCE_HEALTH_DISABLED
    fetched = await ingest.GetSource(pb.GetSourceRequest(id=source.id), timeout=10)
    assert fetched == disabled

    report = await ingest.SourceHealthReport(pb.SourceHealthReportRequest(), timeout=10)
    assert report.disabled >= 1
    assert source.id in {s.id for s in report.attention}


async def test_source_errors_name_fields(ingest: ingest_pb2_grpc.IngestServiceStub) -> None:
    assert await violations_of(
        ingest.AddSource(pb.AddSourceRequest(source=pb.SourceSpec(name="Thiếu loại")), timeout=10)
    ) == {("kind", "INVALID"), ("channel", "INVALID"), ("urls", "REQUIRED")}
    tag = unique()
    await ingest.AddSource(pb.AddSourceRequest(source=feed(tag)), timeout=10)
    assert await violations_of(
        ingest.AddSource(pb.AddSourceRequest(source=feed(tag)), timeout=10)
    ) == {("urls", "DUPLICATE")}
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await ingest.GetSource(pb.GetSourceRequest(id="6b0d0000aaaaaaaaaaaaaaaa"), timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert await violations_of(
        ingest.GetSource(pb.GetSourceRequest(id="không-phải-id"), timeout=10)
    ) == {("id", "INVALID")}


async def test_import_and_list_with_filters(ingest: ingest_pb2_grpc.IngestServiceStub) -> None:
    tag = unique()
    specs = [feed(f"{tag}-{i}", outlet=f"Nhóm {tag}") for i in range(5)]
    specs.append(pb.SourceSpec(name="", kind=pb.SOURCE_KIND_PRESS))
    result = await ingest.ImportSources(pb.ImportSourcesRequest(sources=specs), timeout=10)
    assert (result.created, result.updated) == (5, 0)
    assert [e.index for e in result.errors] == [5]
    again = await ingest.ImportSources(pb.ImportSourcesRequest(sources=specs[:5]), timeout=10)
    assert (again.created, again.updated) == (0, 5)

    page = await ingest.ListSources(
        pb.ListSourcesRequest(outlet=f"Nhóm {tag}", kind=pb.SOURCE_KIND_PRESS, page_size=3),
        timeout=10,
    )
    assert page.total_count == 5
    assert len(page.sources) == 3
    rest = await ingest.ListSources(
        pb.ListSourcesRequest(outlet=f"Nhóm {tag}", page_size=3, page_token=page.next_page_token),
        timeout=10,
    )
    assert len(rest.sources) == 2
    assert not rest.next_page_token
    none = await ingest.ListSources(
        pb.ListSourcesRequest(outlet=f"Nhóm {tag}", kind=pb.SOURCE_KIND_SOCIAL), timeout=10
    )
    assert none.total_count == 0


async def test_pushed_batches_are_idempotent_by_external_id(
    ingest: ingest_pb2_grpc.IngestServiceStub, db
) -> None:
    tag = unique()
    portal = await ingest.AddSource(
        pb.AddSourceRequest(
            source=pb.SourceSpec(
                name=f"Cổng phản ánh {tag}", kind=pb.SOURCE_KIND_PUSH, channel=pb.CHANNEL_WEBHOOK
            )
        ),
        timeout=10,
    )
    same_words = "Đèn đường hẻm 42 bị hỏng mấy tuần nay, buổi tối rất tối và nguy hiểm."
    batch = pb.SubmitDocumentsRequest(
        documents=[
            pb.SubmitDocumentRequest(
                text=same_words, external_id=f"{tag}-1", source_id=portal.id, author_handle="a1"
            ),
            # Another citizen writes the same words: a separate report, not a duplicate.
            pb.SubmitDocumentRequest(text=same_words, external_id=f"{tag}-2", source_id=portal.id),
            pb.SubmitDocumentRequest(text="", external_id=f"{tag}-3", source_id=portal.id),
        ]
    )
    first = await ingest.SubmitDocuments(batch, timeout=20)
    kinds = [r.WhichOneof("result") for r in first.results]
    assert kinds == ["stored", "stored", "invalid"]
    assert [v.code for v in first.results[2].invalid.violations] == ["REQUIRED"]
    assert all(r.stored.created for r in first.results[:2])
    assert all(r.stored.analysis_state == pb.ANALYSIS_STATE_ANALYZED for r in first.results[:2])

    second = await ingest.SubmitDocuments(batch, timeout=20)
    assert [r.stored.document_id for r in second.results[:2]] == [
        r.stored.document_id for r in first.results[:2]
    ]
    assert not any(r.stored.created for r in second.results[:2])
    stored = (
        await db[DOCUMENTS]
        .find({"source_id": {"$exists": True}, "ext_key": {"$regex": tag}})
        .to_list()
    )
    assert len(stored) == 2
    assert {d["source_kind"] for d in stored} == {"push"}

    too_many = pb.SubmitDocumentsRequest(documents=[pb.SubmitDocumentRequest(text="x")] * 501)
    assert await violations_of(ingest.SubmitDocuments(too_many, timeout=10)) == {
        ("documents", "TOO_LONG")
    }
    unknown = pb.SubmitDocumentRequest(text="Tin", source_id="6b0d0000aaaaaaaaaaaaaaaa")
    assert await violations_of(ingest.SubmitDocument(unknown, timeout=10)) == {
        ("source_id", "INVALID")
    }


async def test_erasure_by_url_external_id_and_author_is_audited(
    ingest: ingest_pb2_grpc.IngestServiceStub, db
) -> None:
    tag = unique()
    url = f"https://tin.example.vn/bai-{tag}.html"
    await ingest.SubmitDocument(
        pb.SubmitDocumentRequest(text=f"Bài có địa chỉ {tag}", url=url), timeout=10
    )
    await ingest.SubmitDocument(
        pb.SubmitDocumentRequest(text=f"Bình luận thứ nhất {tag}", author_handle=f"nguoidung{tag}"),
        timeout=10,
    )
    await ingest.SubmitDocument(
        pb.SubmitDocumentRequest(text=f"Bình luận thứ hai {tag}", author_handle=f"nguoidung{tag}"),
        timeout=10,
    )
    await ingest.SubmitDocument(
        pb.SubmitDocumentRequest(text=f"Phản ánh riêng {tag}", external_id=f"pa-{tag}"), timeout=10
    )

    by_url = await ingest.EraseDocuments(
        pb.EraseDocumentsRequest(url=url, requested_by="Phòng pháp chế", reason="yêu cầu gỡ bài"),
        timeout=10,
    )
    by_author = await ingest.EraseDocuments(
        pb.EraseDocumentsRequest(author_handle=f"nguoidung{tag}", requested_by="Người dùng"),
        timeout=10,
    )
    by_external_id = await ingest.EraseDocuments(
        pb.EraseDocumentsRequest(external_id=f"pa-{tag}", requested_by="Cổng 1022"), timeout=10
    )
    assert (by_url.erased, by_author.erased, by_external_id.erased) == (1, 2, 1)
    assert await db[DOCUMENTS].count_documents({"search_terms": tag}) == 0
    audit = await db[ERASURES].find_one({"_id": ObjectId(by_author.audit_id)})
    assert audit["requested_by"] == "Người dùng"
    assert audit["selector"] == {"author_handle": f"nguoidung{tag}"}
    assert audit["erased"] == 2

    assert await violations_of(
        ingest.EraseDocuments(pb.EraseDocumentsRequest(requested_by="ai đó"), timeout=10)
    ) == {("selector", "REQUIRED")}
    assert await violations_of(
        ingest.EraseDocuments(pb.EraseDocumentsRequest(url=url), timeout=10)
    ) == {("requested_by", "REQUIRED")}
