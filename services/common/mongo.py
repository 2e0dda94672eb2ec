"""MongoDB access: the client every service opens, and the collections and indexes they share."""

from collections.abc import Sequence

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase

DEFAULT_DATABASE = "langnghe"
DOCUMENTS = "documents"

ERASURES = "erasures"
# Pages found not worth storing (too short, undecodable, ...), not fetched again for a while.
SKIPPED_URLS = "skipped_urls"

# Each key is set only on the documents it identifies, hence partial unique indexes.
_WHERE_SET = {"$type": "string"}
DOCUMENT_INDEXES = [
    # The same text is one document, however often and by whom it is submitted; documents that
    # carry the sender's own id are told apart by that instead (two citizens may write alike).
    IndexModel(
        [("text_key", ASCENDING)],
        name="text_key_unique",
        unique=True,
        partialFilterExpression={"text_key": _WHERE_SET},
    ),
    IndexModel(
        [("ext_key", ASCENDING)],
        name="ext_key_unique",
        unique=True,
        partialFilterExpression={"ext_key": _WHERE_SET},
    ),
    # A collected page is one document however often it is fetched.
    IndexModel(
        [("url_key", ASCENDING)],
        name="url_key_unique",
        unique=True,
        partialFilterExpression={"url_key": _WHERE_SET},
    ),
    IndexModel([("alternate_urls", ASCENDING)], name="alternate_urls"),
    IndexModel([("url", ASCENDING)], name="url"),
    IndexModel([("author_handle", ASCENDING)], name="author_handle"),
    # Retention: MongoDB deletes a document once its expire_at has passed.
    IndexModel([("expire_at", ASCENDING)], name="retention", expireAfterSeconds=0),
    # The analysis queue: what is pending and due first.
    IndexModel(
        [("analysis_state", ASCENDING), ("analysis_due_at", ASCENDING)], name="analysis_queue"
    ),
    IndexModel([("search_terms", ASCENDING)], name="search_terms"),
    IndexModel([("story_id", ASCENDING), ("_id", DESCENDING)], name="story"),
    IndexModel([("source_id", ASCENDING), ("_id", DESCENDING)], name="source_recent"),
    IndexModel([("sentiment.label", ASCENDING), ("_id", DESCENDING)], name="sentiment_recent"),
    # What nlp found (services/ingest/analysis.py): filters by sector, place, entity, key phrase
    # or topic, newest first. The lists are multikey indexes.
    IndexModel([("sector_ids", ASCENDING), ("_id", DESCENDING)], name="sectors_recent"),
    IndexModel([("locality_codes", ASCENDING), ("_id", DESCENDING)], name="localities_recent"),
    IndexModel([("entity_keys", ASCENDING), ("_id", DESCENDING)], name="entities_recent"),
    IndexModel([("keyword_keys", ASCENDING), ("_id", DESCENDING)], name="keywords_recent"),
    IndexModel([("topic.label", ASCENDING), ("_id", DESCENDING)], name="topic_recent"),
    IndexModel([("timeline_at", DESCENDING), ("_id", DESCENDING)], name="timeline"),
    IndexModel([("outlet", ASCENDING), ("timeline_at", DESCENDING)], name="outlet_timeline"),
]


def connect(
    uri: str,
    app_name: str,
    event_listeners: Sequence[monitoring.CommandListener | monitoring.ConnectionPoolListener] = (),
) -> AsyncMongoClient:
    """A client for any MongoDB URI; datetimes come back time-zone aware, in UTC."""
    return AsyncMongoClient(
        uri,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        event_listeners=list(event_listeners),
    )


def database(client: AsyncMongoClient) -> AsyncDatabase:
    """The database named in the URI, or ``langnghe``."""
    return client.get_default_database(default=DEFAULT_DATABASE)


SKIPPED_URL_INDEXES = [
    IndexModel([("url_key", ASCENDING)], name="url_key_unique", unique=True),
    IndexModel([("expire_at", ASCENDING)], name="expiry", expireAfterSeconds=0),
]


async def ensure_document_indexes(db: AsyncDatabase) -> None:
    await db[DOCUMENTS].create_indexes(DOCUMENT_INDEXES)
    await db[SKIPPED_URLS].create_indexes(SKIPPED_URL_INDEXES)
