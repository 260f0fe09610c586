from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATE_UNSPECIFIED: _ClassVar[State]
    READY: _ClassVar[State]
    PROCESSING: _ClassVar[State]
    FAILED: _ClassVar[State]
    NOT_FOUND: _ClassVar[State]
STATE_UNSPECIFIED: State
READY: State
PROCESSING: State
FAILED: State
NOT_FOUND: State

class UploadHeader(_message.Message):
    __slots__ = ("filename", "keywords", "content_type", "size")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    content_type: str
    size: int
    def __init__(self, filename: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("header", "block")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    block: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., block: _Optional[bytes] = ...) -> None: ...

class UploadReply(_message.Message):
    __slots__ = ("id", "size")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    size: int
    def __init__(self, id: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("id", "report")
    ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    id: str
    report: bool
    def __init__(self, id: _Optional[str] = ..., report: _Optional[bool] = ...) -> None: ...

class DownloadStatus(_message.Message):
    __slots__ = ("state", "message", "size")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    state: State
    message: str
    size: int
    def __init__(self, state: _Optional[_Union[State, str]] = ..., message: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class DownloadReply(_message.Message):
    __slots__ = ("status", "block")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    status: DownloadStatus
    block: bytes
    def __init__(self, status: _Optional[_Union[DownloadStatus, _Mapping]] = ..., block: _Optional[bytes] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("id", "wait_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    wait_ms: int
    def __init__(self, id: _Optional[str] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class KeywordCount(_message.Message):
    __slots__ = ("keyword", "count")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    count: int
    def __init__(self, keyword: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("id", "state", "message", "filename", "counts")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: State
    message: str
    filename: str
    counts: _containers.RepeatedCompositeFieldContainer[KeywordCount]
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[State, str]] = ..., message: _Optional[str] = ..., filename: _Optional[str] = ..., counts: _Optional[_Iterable[_Union[KeywordCount, _Mapping]]] = ...) -> None: ...

class PendingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PendingEntry(_message.Message):
    __slots__ = ("id", "status", "attempts", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    attempts: int
    reason: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class PendingReply(_message.Message):
    __slots__ = ("member", "leader", "synced", "entries", "version")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    SYNCED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    member: str
    leader: bool
    synced: bool
    entries: _containers.RepeatedCompositeFieldContainer[PendingEntry]
    version: int
    def __init__(self, member: _Optional[str] = ..., leader: _Optional[bool] = ..., synced: _Optional[bool] = ..., entries: _Optional[_Iterable[_Union[PendingEntry, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...
