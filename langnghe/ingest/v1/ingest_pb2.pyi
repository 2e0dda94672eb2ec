import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalysisState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYSIS_STATE_UNSPECIFIED: _ClassVar[AnalysisState]
    ANALYSIS_STATE_PENDING: _ClassVar[AnalysisState]
    ANALYSIS_STATE_ANALYZED: _ClassVar[AnalysisState]

class SourceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_KIND_UNSPECIFIED: _ClassVar[SourceKind]
    SOURCE_KIND_PRESS: _ClassVar[SourceKind]
    SOURCE_KIND_WEBSITE: _ClassVar[SourceKind]
    SOURCE_KIND_SOCIAL: _ClassVar[SourceKind]
    SOURCE_KIND_PUSH: _ClassVar[SourceKind]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_RSS: _ClassVar[Channel]
    CHANNEL_ATOM: _ClassVar[Channel]
    CHANNEL_NEWS_SITEMAP: _ClassVar[Channel]
    CHANNEL_SITEMAP: _ClassVar[Channel]
    CHANNEL_HTML_LISTING: _ClassVar[Channel]
    CHANNEL_YOUTUBE_CHANNEL_FEED: _ClassVar[Channel]
    CHANNEL_JSON_FEED: _ClassVar[Channel]
    CHANNEL_WEBHOOK: _ClassVar[Channel]

class SourceHealth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_HEALTH_UNSPECIFIED: _ClassVar[SourceHealth]
    SOURCE_HEALTH_HEALTHY: _ClassVar[SourceHealth]
    SOURCE_HEALTH_FAILING: _ClassVar[SourceHealth]
    SOURCE_HEALTH_DISABLED: _ClassVar[SourceHealth]
    SOURCE_HEALTH_NEW: _ClassVar[SourceHealth]
ANALYSIS_STATE_UNSPECIFIED: AnalysisState
ANALYSIS_STATE_PENDING: AnalysisState
ANALYSIS_STATE_ANALYZED: AnalysisState
SOURCE_KIND_UNSPECIFIED: SourceKind
SOURCE_KIND_PRESS: SourceKind
SOURCE_KIND_WEBSITE: SourceKind
SOURCE_KIND_SOCIAL: SourceKind
SOURCE_KIND_PUSH: SourceKind
CHANNEL_UNSPECIFIED: Channel
CHANNEL_RSS: Channel
CHANNEL_ATOM: Channel
CHANNEL_NEWS_SITEMAP: Channel
CHANNEL_SITEMAP: Channel
CHANNEL_HTML_LISTING: Channel
CHANNEL_YOUTUBE_CHANNEL_FEED: Channel
CHANNEL_JSON_FEED: Channel
CHANNEL_WEBHOOK: Channel
SOURCE_HEALTH_UNSPECIFIED: SourceHealth
SOURCE_HEALTH_HEALTHY: SourceHealth
SOURCE_HEALTH_FAILING: SourceHealth
SOURCE_HEALTH_DISABLED: SourceHealth
SOURCE_HEALTH_NEW: SourceHealth

class SubmitDocumentRequest(_message.Message):
    __slots__ = ("text", "title", "url", "published_at", "external_id", "source_id", "author_handle", "submitter_unit", "feedback")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_UNIT_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    text: str
    title: str
    url: str
    published_at: _timestamp_pb2.Timestamp
    external_id: str
    source_id: str
    author_handle: str
    submitter_unit: str
    feedback: Feedback
    def __init__(self, text: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., external_id: _Optional[str] = ..., source_id: _Optional[str] = ..., author_handle: _Optional[str] = ..., submitter_unit: _Optional[str] = ..., feedback: _Optional[_Union[Feedback, _Mapping]] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("channel", "ward_code", "citizen_keys")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    WARD_CODE_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_KEYS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    ward_code: str
    citizen_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channel: _Optional[str] = ..., ward_code: _Optional[str] = ..., citizen_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitDocumentResponse(_message.Message):
    __slots__ = ("document_id", "created", "analysis_state")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATE_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    created: bool
    analysis_state: AnalysisState
    def __init__(self, document_id: _Optional[str] = ..., created: _Optional[bool] = ..., analysis_state: _Optional[_Union[AnalysisState, str]] = ...) -> None: ...

class SubmitDocumentsRequest(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[SubmitDocumentRequest]
    def __init__(self, documents: _Optional[_Iterable[_Union[SubmitDocumentRequest, _Mapping]]] = ...) -> None: ...

class SubmitDocumentsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitDocumentResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitDocumentResult, _Mapping]]] = ...) -> None: ...

class SubmitDocumentResult(_message.Message):
    __slots__ = ("stored", "invalid")
    STORED_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    stored: SubmitDocumentResponse
    invalid: FieldViolations
    def __init__(self, stored: _Optional[_Union[SubmitDocumentResponse, _Mapping]] = ..., invalid: _Optional[_Union[FieldViolations, _Mapping]] = ...) -> None: ...

class FieldViolations(_message.Message):
    __slots__ = ("violations",)
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    def __init__(self, violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ...) -> None: ...

class FieldViolation(_message.Message):
    __slots__ = ("field", "code", "message")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    field: str
    code: str
    message: str
    def __init__(self, field: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("id", "name", "kind", "channel", "urls", "outlet", "districts", "sectors", "language", "min_interval_s", "max_interval_s", "enabled", "disabled_reason", "status", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    OUTLET_FIELD_NUMBER: _ClassVar[int]
    DISTRICTS_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    MAX_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: SourceKind
    channel: Channel
    urls: _containers.RepeatedScalarFieldContainer[str]
    outlet: str
    districts: _containers.RepeatedScalarFieldContainer[str]
    sectors: _containers.RepeatedScalarFieldContainer[str]
    language: str
    min_interval_s: int
    max_interval_s: int
    enabled: bool
    disabled_reason: str
    status: SourceStatus
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[SourceKind, str]] = ..., channel: _Optional[_Union[Channel, str]] = ..., urls: _Optional[_Iterable[str]] = ..., outlet: _Optional[str] = ..., districts: _Optional[_Iterable[str]] = ..., sectors: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ..., min_interval_s: _Optional[int] = ..., max_interval_s: _Optional[int] = ..., enabled: _Optional[bool] = ..., disabled_reason: _Optional[str] = ..., status: _Optional[_Union[SourceStatus, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SourceStatus(_message.Message):
    __slots__ = ("health", "last_fetch_at", "last_success_at", "consecutive_failures", "last_error", "items_per_day", "interval_s", "next_fetch_at")
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    LAST_FETCH_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_AT_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    ITEMS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    NEXT_FETCH_AT_FIELD_NUMBER: _ClassVar[int]
    health: SourceHealth
    last_fetch_at: _timestamp_pb2.Timestamp
    last_success_at: _timestamp_pb2.Timestamp
    consecutive_failures: int
    last_error: str
    items_per_day: float
    interval_s: int
    next_fetch_at: _timestamp_pb2.Timestamp
    def __init__(self, health: _Optional[_Union[SourceHealth, str]] = ..., last_fetch_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_success_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consecutive_failures: _Optional[int] = ..., last_error: _Optional[str] = ..., items_per_day: _Optional[float] = ..., interval_s: _Optional[int] = ..., next_fetch_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SourceSpec(_message.Message):
    __slots__ = ("name", "kind", "channel", "urls", "outlet", "districts", "sectors", "language", "min_interval_s", "max_interval_s", "start_disabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    OUTLET_FIELD_NUMBER: _ClassVar[int]
    DISTRICTS_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    MAX_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    START_DISABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: SourceKind
    channel: Channel
    urls: _containers.RepeatedScalarFieldContainer[str]
    outlet: str
    districts: _containers.RepeatedScalarFieldContainer[str]
    sectors: _containers.RepeatedScalarFieldContainer[str]
    language: str
    min_interval_s: int
    max_interval_s: int
    start_disabled: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[SourceKind, str]] = ..., channel: _Optional[_Union[Channel, str]] = ..., urls: _Optional[_Iterable[str]] = ..., outlet: _Optional[str] = ..., districts: _Optional[_Iterable[str]] = ..., sectors: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ..., min_interval_s: _Optional[int] = ..., max_interval_s: _Optional[int] = ..., start_disabled: _Optional[bool] = ...) -> None: ...

class AddSourceRequest(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: SourceSpec
    def __init__(self, source: _Optional[_Union[SourceSpec, _Mapping]] = ...) -> None: ...

class UpdateSourceRequest(_message.Message):
    __slots__ = ("id", "source", "update_mask")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: SourceSpec
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, id: _Optional[str] = ..., source: _Optional[_Union[SourceSpec, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class SetSourceEnabledRequest(_message.Message):
    __slots__ = ("id", "enabled", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    enabled: bool
    reason: str
    def __init__(self, id: _Optional[str] = ..., enabled: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class GetSourceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListSourcesRequest(_message.Message):
    __slots__ = ("kind", "channel", "outlet", "district", "sector", "health", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OUTLET_FIELD_NUMBER: _ClassVar[int]
    DISTRICT_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: SourceKind
    channel: Channel
    outlet: str
    district: str
    sector: str
    health: SourceHealth
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[SourceKind, str]] = ..., channel: _Optional[_Union[Channel, str]] = ..., outlet: _Optional[str] = ..., district: _Optional[str] = ..., sector: _Optional[str] = ..., health: _Optional[_Union[SourceHealth, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSourcesResponse(_message.Message):
    __slots__ = ("sources", "next_page_token", "total_count")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[Source]
    next_page_token: str
    total_count: int
    def __init__(self, sources: _Optional[_Iterable[_Union[Source, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class ImportSourcesRequest(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[SourceSpec]
    def __init__(self, sources: _Optional[_Iterable[_Union[SourceSpec, _Mapping]]] = ...) -> None: ...

class ImportSourcesResponse(_message.Message):
    __slots__ = ("created", "updated", "errors")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    created: int
    updated: int
    errors: _containers.RepeatedCompositeFieldContainer[ImportError]
    def __init__(self, created: _Optional[int] = ..., updated: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ImportError, _Mapping]]] = ...) -> None: ...

class ImportError(_message.Message):
    __slots__ = ("index", "violations")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    index: int
    violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    def __init__(self, index: _Optional[int] = ..., violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ...) -> None: ...

class SourceHealthReportRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SourceHealthReportResponse(_message.Message):
    __slots__ = ("healthy", "failing", "disabled", "new", "attention")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    FAILING_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    ATTENTION_FIELD_NUMBER: _ClassVar[int]
    healthy: int
    failing: int
    disabled: int
    new: int
    attention: _containers.RepeatedCompositeFieldContainer[Source]
    def __init__(self, healthy: _Optional[int] = ..., failing: _Optional[int] = ..., disabled: _Optional[int] = ..., new: _Optional[int] = ..., attention: _Optional[_Iterable[_Union[Source, _Mapping]]] = ...) -> None: ...

class EraseDocumentsRequest(_message.Message):
    __slots__ = ("url", "external_id", "author_handle", "source_id", "requested_by", "reason")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    url: str
    external_id: str
    author_handle: str
    source_id: str
    requested_by: str
    reason: str
    def __init__(self, url: _Optional[str] = ..., external_id: _Optional[str] = ..., author_handle: _Optional[str] = ..., source_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseDocumentsResponse(_message.Message):
    __slots__ = ("erased", "audit_id")
    ERASED_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    erased: int
    audit_id: str
    def __init__(self, erased: _Optional[int] = ..., audit_id: _Optional[str] = ...) -> None: ...

class WatchDocumentsRequest(_message.Message):
    __slots__ = ("heartbeat_interval_s",)
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_s: int
    def __init__(self, heartbeat_interval_s: _Optional[int] = ...) -> None: ...

class DocumentEvent(_message.Message):
    __slots__ = ("analyzed", "heartbeat")
    ANALYZED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    analyzed: DocumentAnalyzed
    heartbeat: Heartbeat
    def __init__(self, analyzed: _Optional[_Union[DocumentAnalyzed, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class DocumentAnalyzed(_message.Message):
    __slots__ = ("document_id", "source_kind", "source_id", "outlet", "sentiment_label", "analyzed_at", "timeline_at")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTLET_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_LABEL_FIELD_NUMBER: _ClassVar[int]
    ANALYZED_AT_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_AT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    source_kind: str
    source_id: str
    outlet: str
    sentiment_label: str
    analyzed_at: _timestamp_pb2.Timestamp
    timeline_at: _timestamp_pb2.Timestamp
    def __init__(self, document_id: _Optional[str] = ..., source_kind: _Optional[str] = ..., source_id: _Optional[str] = ..., outlet: _Optional[str] = ..., sentiment_label: _Optional[str] = ..., analyzed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeline_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("at", "replica")
    AT_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    replica: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replica: _Optional[str] = ...) -> None: ...
