"""MongoDB access: the client every service opens, and the collections and indexes they share."""

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

DEFAULT_DATABASE = "langnghe"
DOCUMENTS = "documents"

DOCUMENT_INDEXES = [
    # The same text is one document, however often and by whom it is submitted.
    IndexModel([("content_hash", ASCENDING)], name="content_hash_unique", unique=True),
    # The analysis queue: what is pending and due first.
    IndexModel(
        [("analysis_state", ASCENDING), ("analysis_due_at", ASCENDING)], name="analysis_queue"
    ),
    IndexModel([("search_terms", ASCENDING)], name="search_terms"),
    IndexModel([("sentiment.label", ASCENDING), ("_id", DESCENDING)], name="sentiment_recent"),
]


def connect(uri: str, app_name: str) -> AsyncMongoClient:
    """A client for any MongoDB URI; datetimes come back time-zone aware, in UTC."""
    return AsyncMongoClient(uri, appname=app_name, tz_aware=True, serverSelectionTimeoutMS=5_000)


def database(client: AsyncMongoClient) -> AsyncDatabase:
    """The database named in the URI, or ``langnghe``."""
    return client.get_default_database(default=DEFAULT_DATABASE)


async def ensure_document_indexes(db: AsyncDatabase) -> None:
    await db[DOCUMENTS].create_indexes(DOCUMENT_INDEXES)
