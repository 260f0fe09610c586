from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSvcRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("ip", "port")
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ip: str
    port: int
    def __init__(self, ip: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class ListSvcsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SvcInfo(_message.Message):
    __slots__ = ("address", "name", "load")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    address: ServerInfo
    name: str
    load: int
    def __init__(self, address: _Optional[_Union[ServerInfo, _Mapping]] = ..., name: _Optional[str] = ..., load: _Optional[int] = ...) -> None: ...

class SvcList(_message.Message):
    __slots__ = ("svcs",)
    SVCS_FIELD_NUMBER: _ClassVar[int]
    svcs: _containers.RepeatedCompositeFieldContainer[SvcInfo]
    def __init__(self, svcs: _Optional[_Iterable[_Union[SvcInfo, _Mapping]]] = ...) -> None: ...
