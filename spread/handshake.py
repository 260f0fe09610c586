"""The four handshake frames of a Spread 4 session (pure encode/decode).

1. c2d connect request: version (3 bytes), flags (low nibble: membership
   messages wanted, high nibble: priority), name length, name (no NUL).
2. d2c auth list: a signed length byte and space-terminated method names, or a
   single negative byte (the reject code) instead of the length.
3. c2d auth choice: 3 NUL-padded 30-byte method names (90 bytes).
4. d2c accept: ACCEPT_SESSION (1), daemon version (3 bytes), the private group
   name's length and the name (no NUL); or a negative result byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from spread.constants import (
    ACCEPT_SESSION,
    AUTH_CHOICE_SIZE,
    AUTH_METHOD_SIZE,
    AUTH_METHODS_MAX,
    CONNECT_FIXED_SIZE,
    LIB_VERSION,
)
from spread.errors import ProtocolError, SpreadRejected


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _version(data: bytes) -> tuple[int, int, int]:
    return (data[0], data[1], data[2])


# -- 1. connect request ----------------------------------------------------
@dataclass(frozen=True)
class ConnectRequest:
    name: bytes  # the private name as sent (may be empty: the daemon invents one)
    membership: bool = True
    priority: int = 0
    version: tuple[int, int, int] = LIB_VERSION
    flags_rest: int = 0  # bits of the flags byte other than membership/priority (0 from libspread)

    def encode(self) -> bytes:
        if len(self.name) > 255:
            raise ProtocolError(f"private name of {len(self.name)} bytes does not fit a length byte")
        if not 0 <= self.priority <= 15:
            raise ProtocolError(f"priority {self.priority} is not 0..15")
        flags = (self.priority << 4) | int(self.membership) | self.flags_rest
        return bytes((*self.version, flags, len(self.name))) + self.name


def connect_name_length(fixed: bytes) -> int:
    """How many name bytes follow the 5 fixed bytes of a connect request."""
    if len(fixed) != CONNECT_FIXED_SIZE:
        raise ProtocolError(f"connect request needs {CONNECT_FIXED_SIZE} fixed bytes, got {len(fixed)}")
    return fixed[4]


def decode_connect(data: bytes) -> ConnectRequest:
    if len(data) < CONNECT_FIXED_SIZE:
        raise ProtocolError(f"connect request of {len(data)} bytes is shorter than {CONNECT_FIXED_SIZE}")
    n = data[4]
    if len(data) != CONNECT_FIXED_SIZE + n:
        raise ProtocolError(f"connect request says {n} name bytes but carries {len(data) - CONNECT_FIXED_SIZE}")
    flags = data[3]
    return ConnectRequest(
        name=bytes(data[5:]),
        membership=bool(flags & 0x01),
        priority=flags >> 4,
        version=_version(data),
        flags_rest=flags & 0x0E,
    )


# -- 2. auth list ------------------------------------------------------------
@dataclass(frozen=True)
class AuthList:
    methods: tuple[str, ...] = ("NULL",)

    def encode(self) -> bytes:
        text = "".join(f"{m} " for m in self.methods).encode("ascii")
        if len(text) > 127:
            raise ProtocolError("auth list longer than 127 bytes")
        return bytes((len(text),)) + text


def auth_list_length(first: int) -> int:
    """Length of the auth list that follows the first byte; raises on a reject byte."""
    code = _signed(first)
    if code < 0:
        raise SpreadRejected(code, "the daemon refused the connect request")
    return code


def decode_auth_list(data: bytes) -> AuthList:
    if not data:
        raise ProtocolError("empty auth list frame")
    n = auth_list_length(data[0])
    if len(data) != 1 + n:
        raise ProtocolError(f"auth list says {n} bytes but carries {len(data) - 1}")
    try:
        text = data[1:].decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"auth list is not ASCII: {exc}") from None
    if text and not text.endswith(" "):
        raise ProtocolError(f"auth list {text!r} does not end with a space")
    return AuthList(tuple(text.split(" ")[:-1]) if text else ())


def encode_reject(code: int) -> bytes:
    """The single byte a daemon sends instead of the auth list (or the accept byte)."""
    if not -128 <= code < 0:
        raise ProtocolError(f"reject code {code} is not a negative byte")
    return bytes((code & 0xFF,))


# -- 3. auth choice ----------------------------------------------------------
@dataclass(frozen=True)
class AuthChoice:
    methods: tuple[bytes, ...] = (b"NULL",)
    raw: bytes | None = None  # the exact 90 bytes when decoded

    @property
    def names(self) -> list[str]:
        return [m.decode("latin-1") for m in self.methods]

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if len(self.methods) > AUTH_METHODS_MAX:
            raise ProtocolError(f"at most {AUTH_METHODS_MAX} auth methods")
        out = bytearray()
        for m in self.methods:
            if len(m) >= AUTH_METHOD_SIZE:
                raise ProtocolError(f"auth method name {m!r} is too long")
            out += m.ljust(AUTH_METHOD_SIZE, b"\0")
        return bytes(out.ljust(AUTH_CHOICE_SIZE, b"\0"))


def decode_auth_choice(data: bytes) -> AuthChoice:
    if len(data) != AUTH_CHOICE_SIZE:
        raise ProtocolError(f"auth choice must be {AUTH_CHOICE_SIZE} bytes, got {len(data)}")
    methods = []
    for i in range(AUTH_METHODS_MAX):
        field = data[i * AUTH_METHOD_SIZE : (i + 1) * AUTH_METHOD_SIZE]
        name = field.split(b"\0", 1)[0]
        if name:
            methods.append(bytes(name))
    return AuthChoice(tuple(methods), raw=bytes(data))


# -- 4. accept -----------------------------------------------------------------
@dataclass(frozen=True)
class Accept:
    private_group: str
    version: tuple[int, int, int]

    def encode(self) -> bytes:
        name = self.private_group.encode("latin-1")
        if len(name) > 255:
            raise ProtocolError("private group name does not fit a length byte")
        return bytes((ACCEPT_SESSION, *self.version, len(name))) + name


ACCEPT_FIXED_SIZE = 5  # result byte, version (3), name length


def accept_result(first: int) -> None:
    """Check the result byte of an accept frame; raises on a reject code."""
    code = _signed(first)
    if code == ACCEPT_SESSION:
        return
    if code < 0:
        raise SpreadRejected(code, "the daemon refused the session")
    raise ProtocolError(f"unexpected session result byte {first:#04x}")


def decode_accept(data: bytes) -> Accept:
    if not data:
        raise ProtocolError("empty accept frame")
    accept_result(data[0])
    if len(data) < ACCEPT_FIXED_SIZE:
        raise ProtocolError(f"accept frame of {len(data)} bytes is shorter than {ACCEPT_FIXED_SIZE}")
    n = data[4]
    if len(data) != ACCEPT_FIXED_SIZE + n:
        raise ProtocolError(f"accept says a {n}-byte private group but carries {len(data) - ACCEPT_FIXED_SIZE}")
    return Accept(private_group=data[5:].decode("latin-1"), version=_version(data[1:4]))
