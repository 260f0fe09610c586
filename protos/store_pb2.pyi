from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObjectHeader(_message.Message):
    __slots__ = ("id", "size", "sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    size: int
    sha256: str
    def __init__(self, id: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("header", "block")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    header: ObjectHeader
    block: bytes
    def __init__(self, header: _Optional[_Union[ObjectHeader, _Mapping]] = ..., block: _Optional[bytes] = ...) -> None: ...

class PutReply(_message.Message):
    __slots__ = ("id", "size", "sha256", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    size: int
    sha256: str
    version: int
    def __init__(self, id: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetReply(_message.Message):
    __slots__ = ("header", "block")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    header: ObjectHeader
    block: bytes
    def __init__(self, header: _Optional[_Union[ObjectHeader, _Mapping]] = ..., block: _Optional[bytes] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteReply(_message.Message):
    __slots__ = ("existed",)
    EXISTED_FIELD_NUMBER: _ClassVar[int]
    existed: bool
    def __init__(self, existed: _Optional[bool] = ...) -> None: ...

class InventoryEntry(_message.Message):
    __slots__ = ("id", "size", "sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    size: int
    sha256: str
    def __init__(self, id: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class StatRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ObjectStat(_message.Message):
    __slots__ = ("id", "size", "sha256", "version", "nodes", "spooled")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SPOOLED_FIELD_NUMBER: _ClassVar[int]
    id: str
    size: int
    sha256: str
    version: int
    nodes: _containers.RepeatedScalarFieldContainer[str]
    spooled: bool
    def __init__(self, id: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., version: _Optional[int] = ..., nodes: _Optional[_Iterable[str]] = ..., spooled: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class ListReply(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeStats(_message.Message):
    __slots__ = ("node", "address", "state", "objects", "bytes", "disk_used", "disk_total")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_FIELD_NUMBER: _ClassVar[int]
    node: str
    address: str
    state: str
    objects: int
    bytes: int
    disk_used: int
    disk_total: int
    def __init__(self, node: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[str] = ..., objects: _Optional[int] = ..., bytes: _Optional[int] = ..., disk_used: _Optional[int] = ..., disk_total: _Optional[int] = ...) -> None: ...

class StoreStats(_message.Message):
    __slots__ = ("objects", "bytes", "under_replicated", "spooled", "live_nodes", "nodes", "note")
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    UNDER_REPLICATED_FIELD_NUMBER: _ClassVar[int]
    SPOOLED_FIELD_NUMBER: _ClassVar[int]
    LIVE_NODES_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    objects: int
    bytes: int
    under_replicated: int
    spooled: int
    live_nodes: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeStats]
    note: str
    def __init__(self, objects: _Optional[int] = ..., bytes: _Optional[int] = ..., under_replicated: _Optional[int] = ..., spooled: _Optional[int] = ..., live_nodes: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeStats, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class NodeHello(_message.Message):
    __slots__ = ("node", "address", "disk_used", "disk_total", "scrub")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    node: str
    address: str
    disk_used: int
    disk_total: int
    scrub: bool
    def __init__(self, node: _Optional[str] = ..., address: _Optional[str] = ..., disk_used: _Optional[int] = ..., disk_total: _Optional[int] = ..., scrub: _Optional[bool] = ...) -> None: ...

class InventoryReport(_message.Message):
    __slots__ = ("hello", "entry")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    hello: NodeHello
    entry: InventoryEntry
    def __init__(self, hello: _Optional[_Union[NodeHello, _Mapping]] = ..., entry: _Optional[_Union[InventoryEntry, _Mapping]] = ...) -> None: ...

class InventoryReply(_message.Message):
    __slots__ = ("accepted", "rejected", "delete")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: _containers.RepeatedScalarFieldContainer[str]
    delete: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[str]] = ..., delete: _Optional[_Iterable[str]] = ...) -> None: ...

class InventoryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CopyToRequest(_message.Message):
    __slots__ = ("id", "target", "sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    target: str
    sha256: str
    def __init__(self, id: _Optional[str] = ..., target: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class CopyToReply(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class UsageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeUsage(_message.Message):
    __slots__ = ("node", "objects", "bytes", "disk_used", "disk_total")
    NODE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_FIELD_NUMBER: _ClassVar[int]
    node: str
    objects: int
    bytes: int
    disk_used: int
    disk_total: int
    def __init__(self, node: _Optional[str] = ..., objects: _Optional[int] = ..., bytes: _Optional[int] = ..., disk_used: _Optional[int] = ..., disk_total: _Optional[int] = ...) -> None: ...
