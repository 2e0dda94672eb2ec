import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalysisState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYSIS_STATE_UNSPECIFIED: _ClassVar[AnalysisState]
    ANALYSIS_STATE_PENDING: _ClassVar[AnalysisState]
    ANALYSIS_STATE_ANALYZED: _ClassVar[AnalysisState]
ANALYSIS_STATE_UNSPECIFIED: AnalysisState
ANALYSIS_STATE_PENDING: AnalysisState
ANALYSIS_STATE_ANALYZED: AnalysisState

class SubmitDocumentRequest(_message.Message):
    __slots__ = ("text", "title", "url", "published_at")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    text: str
    title: str
    url: str
    published_at: _timestamp_pb2.Timestamp
    def __init__(self, text: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubmitDocumentResponse(_message.Message):
    __slots__ = ("document_id", "created", "analysis_state")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATE_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    created: bool
    analysis_state: AnalysisState
    def __init__(self, document_id: _Optional[str] = ..., created: _Optional[bool] = ..., analysis_state: _Optional[_Union[AnalysisState, str]] = ...) -> None: ...
