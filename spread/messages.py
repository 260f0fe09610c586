"""Message frames of the Spread 4 client protocol (pure encode/decode).

After the handshake every frame, in both directions, is a 48-byte header,
``num_groups`` 32-byte NUL-padded group names, then ``data_len`` body bytes::

    0  4  type       service bits | 0x80000080 when the writer is little-endian
    4 32  sender     a private group (requests, regular messages) or a group (membership)
   36  4  num_groups
   40  4  hint       (mess_type << 8) & 0x00ffff00 | marker, in its OWN byte order
   44  4  data_len

The writer's host order is used, marked by the endian bits; the hint carries
its own marker because a daemon passes it through untouched.  A membership
message's body (group id, vs-sets) is in the header's byte order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from spread.constants import (
    CAUSED_BY_DISCONNECT,
    CAUSED_BY_JOIN,
    CAUSED_BY_LEAVE,
    CAUSED_BY_NETWORK,
    ENDIAN_TYPE,
    HEADER_SIZE,
    JOIN_MESS,
    KILL_MESS,
    LEAVE_MESS,
    MAX_GROUP_NAME,
    MAX_GROUPS_IN_MESSAGE,
    MAX_MESSAGE_BODY_LEN,
    MEMBERSHIP_MESS,
    REG_MEMB_MESS,
    REGULAR_MESS,
    REJECT_MESS,
    SELF_DISCARD,
    TRANSITION_MESS,
)
from spread.errors import ProtocolError

LITTLE = "little"
BIG = "big"
_PREFIX = {LITTLE: "<", BIG: ">"}
_HINT_MESS_TYPE = 0x00FFFF00
GROUP_ID_SIZE = 12

CAUSES = {
    CAUSED_BY_JOIN: "join",
    CAUSED_BY_LEAVE: "leave",
    CAUSED_BY_DISCONNECT: "disconnect",
    CAUSED_BY_NETWORK: "network",
}


# -- names -------------------------------------------------------------------
def encode_name(name: str | bytes) -> bytes:
    """A name as a 32-byte NUL-padded field (at most 31 bytes, so a NUL ends it)."""
    raw = name.encode("latin-1") if isinstance(name, str) else name
    if len(raw) >= MAX_GROUP_NAME:
        raise ProtocolError(f"name {raw!r} is {len(raw)} bytes; at most {MAX_GROUP_NAME - 1} fit", code=-14)
    return raw.ljust(MAX_GROUP_NAME, b"\0")


def decode_name(field_bytes: bytes) -> str:
    """The name in a 32-byte field: the bytes before the first NUL (the rest may be garbage)."""
    return field_bytes.split(b"\0", 1)[0].decode("latin-1")


# -- byte order ----------------------------------------------------------------
def _order_of(raw: bytes, what: str) -> str:
    """The writer's byte order from the marker bits (bytes 0 and 3, high bit, in either order)."""
    first, last = raw[0] & 0x80, raw[3] & 0x80
    if first and last:
        return LITTLE
    if not first and not last:
        return BIG
    raise ProtocolError(f"{what} field {raw.hex()} has a half-set endian marker")


def _unmarked(raw: bytes, order: str) -> int:
    return int.from_bytes(raw, order) & ~ENDIAN_TYPE & 0xFFFFFFFF


def _marked(value: int, order: str) -> bytes:
    if order == LITTLE:
        value |= ENDIAN_TYPE
    elif order != BIG:
        raise ProtocolError(f"unknown byte order {order!r}")
    return value.to_bytes(4, order)


def _int32(raw: bytes, order: str) -> int:
    return int.from_bytes(raw, order, signed=True)


# -- header ------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    service_type: int  # without the endian marker
    sender_field: bytes  # the raw 32 bytes
    num_groups: int
    mess_type: int  # signed 16 bits, as libspread reports it
    data_len: int
    byte_order: str
    hint_byte_order: str

    @property
    def sender(self) -> str:
        return decode_name(self.sender_field)

    @property
    def rest_size(self) -> int:
        """Bytes that follow the header: group names and body."""
        return MAX_GROUP_NAME * self.num_groups + self.data_len


def decode_header(data: bytes) -> Header:
    if len(data) != HEADER_SIZE:
        raise ProtocolError(f"a message header is {HEADER_SIZE} bytes, got {len(data)}")
    order = _order_of(data[0:4], "type")
    hint_order = _order_of(data[40:44], "hint")
    service_type = _unmarked(data[0:4], order)
    hint = _unmarked(data[40:44], hint_order)
    if hint & ~_HINT_MESS_TYPE:
        raise ProtocolError(f"hint {data[40:44].hex()} has bits outside mess_type")
    num_groups = _int32(data[36:40], order)
    data_len = _int32(data[44:48], order)
    if not 0 <= num_groups <= MAX_GROUPS_IN_MESSAGE:
        raise ProtocolError(f"num_groups {num_groups} is not 0..{MAX_GROUPS_IN_MESSAGE}", code=-16)
    if not 0 <= data_len <= MAX_MESSAGE_BODY_LEN:
        raise ProtocolError(f"data_len {data_len} is not 0..{MAX_MESSAGE_BODY_LEN}", code=-17)
    mess_type = (hint >> 8) & 0xFFFF
    if mess_type >= 0x8000:
        mess_type -= 0x10000
    return Header(service_type, bytes(data[4:36]), num_groups, mess_type, data_len, order, hint_order)


# -- membership body -------------------------------------------------------------
@dataclass(frozen=True)
class GroupId:
    proc_id: int  # the daemon's IPv4 address as a 32-bit number
    memb_time: int  # when the daemon membership formed (Unix seconds)
    index: int  # per-group counter of membership changes

    def encode(self, order: str) -> bytes:
        return struct.pack(_PREFIX[order] + "Iii", self.proc_id, self.memb_time, self.index)

    @property
    def proc_id_as_ip(self) -> str:
        return ".".join(str(b) for b in self.proc_id.to_bytes(4, "big"))


@dataclass(frozen=True)
class Membership:
    """The body of a membership message: group id and vs-sets (empty for a transition)."""

    group_id: GroupId
    vs_sets: tuple[tuple[str, ...], ...] = ()
    local_vs_set_offset: int = 0
    transition: bool = False  # a TRANSITION_MESS body: the group id only

    @property
    def changed_member(self) -> str:
        """Who joined, left or disconnected (the single member of the vs-set)."""
        return self.vs_sets[0][0] if self.vs_sets and self.vs_sets[0] else ""

    def encode(self, order: str) -> bytes:
        p = _PREFIX[order]
        out = bytearray(self.group_id.encode(order))
        if self.transition:
            return bytes(out)
        out += struct.pack(p + "ii", len(self.vs_sets), self.local_vs_set_offset)
        for members in self.vs_sets:
            out += struct.pack(p + "i", len(members))
            for m in members:
                out += encode_name(m)
        return bytes(out)


def decode_membership(data: bytes, order: str) -> Membership:
    p = _PREFIX[order]
    if len(data) < GROUP_ID_SIZE:
        raise ProtocolError(f"membership body of {len(data)} bytes has no group id")
    group_id = GroupId(*struct.unpack(p + "Iii", data[:GROUP_ID_SIZE]))
    if len(data) == GROUP_ID_SIZE:
        return Membership(group_id, transition=True)
    if len(data) < GROUP_ID_SIZE + 8:
        raise ProtocolError(f"membership body of {len(data)} bytes is cut inside the vs-set counts")
    num_sets, offset = struct.unpack(p + "ii", data[12:20])
    if num_sets < 0 or num_sets > (len(data) - 20) // 4:
        raise ProtocolError(f"membership body claims {num_sets} vs-sets in {len(data)} bytes")
    pos = 20
    sets = []
    for _ in range(num_sets):
        if pos + 4 > len(data):
            raise ProtocolError("membership body is cut inside a vs-set count")
        (n,) = struct.unpack(p + "i", data[pos : pos + 4])
        pos += 4
        if n < 0 or pos + n * MAX_GROUP_NAME > len(data):
            raise ProtocolError(f"vs-set claims {n} members beyond the body's end")
        sets.append(tuple(decode_name(data[pos + i * 32 : pos + (i + 1) * 32]) for i in range(n)))
        pos += n * MAX_GROUP_NAME
    if pos != len(data):
        raise ProtocolError(f"membership body has {len(data) - pos} bytes after its vs-sets")
    if not 0 <= offset <= max(0, pos - 20 - 4):
        raise ProtocolError(f"local vs-set offset {offset} is outside the vs-sets")
    return Membership(group_id, tuple(sets), offset)


# -- messages ------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """One message frame, decoded; ``encode()`` gives back the exact bytes it came from."""

    service_type: int
    sender: str
    groups: tuple[str, ...] = ()
    mess_type: int = 0
    data: bytes = b""
    byte_order: str = LITTLE
    hint_byte_order: str | None = None  # None: the same as byte_order
    # The raw 32-byte name fields, kept so a relayed or re-encoded frame carries
    # them verbatim (libspread may leave garbage after the NUL).
    sender_field: bytes | None = field(default=None, repr=False, compare=False)
    group_fields: tuple[bytes, ...] | None = field(default=None, repr=False, compare=False)
    membership: Membership | None = field(default=None, compare=False)

    # -- what kind of message ---------------------------------------------------
    @property
    def is_regular(self) -> bool:
        return bool(self.service_type & REGULAR_MESS) and not self.service_type & (
            MEMBERSHIP_MESS | JOIN_MESS | LEAVE_MESS | KILL_MESS
        )

    @property
    def is_membership(self) -> bool:
        return bool(self.service_type & MEMBERSHIP_MESS)

    @property
    def is_reg_memb(self) -> bool:
        return bool(self.service_type & REG_MEMB_MESS)

    @property
    def is_transition(self) -> bool:
        return bool(self.service_type & TRANSITION_MESS)

    @property
    def is_self_leave(self) -> bool:
        """The leaver's notice: CAUSED_BY_LEAVE without REG_MEMB_MESS, sender = the group."""
        return bool(self.service_type & CAUSED_BY_LEAVE) and not self.service_type & (REG_MEMB_MESS | TRANSITION_MESS)

    @property
    def is_reject(self) -> bool:
        return bool(self.service_type & REJECT_MESS)

    @property
    def cause(self) -> str:
        for bit, name in CAUSES.items():
            if self.service_type & bit:
                return name
        return ""

    @property
    def self_discard(self) -> bool:
        return bool(self.service_type & SELF_DISCARD)

    # -- bytes ---------------------------------------------------------------------
    def encode(self) -> bytes:
        order = self.byte_order
        hint_order = self.hint_byte_order or order
        if order not in _PREFIX or hint_order not in _PREFIX:
            raise ProtocolError(f"unknown byte order {order!r}/{hint_order!r}")
        if self.service_type & ENDIAN_TYPE or not 0 <= self.service_type <= 0xFFFFFFFF:
            raise ProtocolError(f"service type {self.service_type:#x} overlaps the endian marker")
        if not -0x8000 <= self.mess_type <= 0xFFFF:
            raise ProtocolError(f"mess_type {self.mess_type} does not fit 16 bits")
        sender = self.sender_field if self.sender_field is not None else encode_name(self.sender)
        groups = self.group_fields if self.group_fields is not None else tuple(encode_name(g) for g in self.groups)
        if len(sender) != MAX_GROUP_NAME or any(len(g) != MAX_GROUP_NAME for g in groups):
            raise ProtocolError("name fields must be 32 bytes")
        if len(groups) > MAX_GROUPS_IN_MESSAGE:
            raise ProtocolError(f"{len(groups)} groups; at most {MAX_GROUPS_IN_MESSAGE}", code=-16)
        if len(self.data) > MAX_MESSAGE_BODY_LEN:
            raise ProtocolError(f"body of {len(self.data)} bytes", code=-17)
        hint = (self.mess_type << 8) & _HINT_MESS_TYPE
        p = _PREFIX[order]
        return b"".join(
            (
                _marked(self.service_type, order),
                sender,
                struct.pack(p + "i", len(groups)),
                _marked(hint, hint_order),
                struct.pack(p + "i", len(self.data)),
                *groups,
                self.data,
            )
        )


def decode_message(data: bytes) -> Message:
    """Decode one whole message frame (header, groups, body)."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"a message frame is at least {HEADER_SIZE} bytes, got {len(data)}")
    header = decode_header(bytes(data[:HEADER_SIZE]))
    return decode_rest(header, bytes(data[HEADER_SIZE:]))


def decode_rest(header: Header, rest: bytes) -> Message:
    """Decode the groups and body that follow an already decoded header."""
    if len(rest) != header.rest_size:
        raise ProtocolError(
            f"frame says {header.num_groups} groups and {header.data_len} body bytes "
            f"({header.rest_size} bytes) but {len(rest)} follow the header"
        )
    split = MAX_GROUP_NAME * header.num_groups
    fields = tuple(rest[i : i + MAX_GROUP_NAME] for i in range(0, split, MAX_GROUP_NAME))
    body = rest[split:]
    membership = None
    if header.service_type & REG_MEMB_MESS or header.service_type & TRANSITION_MESS and body:
        membership = decode_membership(body, header.byte_order)
    return Message(
        service_type=header.service_type,
        sender=header.sender,
        groups=tuple(decode_name(f) for f in fields),
        mess_type=header.mess_type,
        data=body,
        byte_order=header.byte_order,
        hint_byte_order=None if header.hint_byte_order == header.byte_order else header.hint_byte_order,
        sender_field=header.sender_field,
        group_fields=fields,
        membership=membership,
    )


# -- the frames a client sends -----------------------------------------------------------
def join_request(private_group: str, group: str) -> Message:
    return Message(JOIN_MESS, private_group, (group,))


def leave_request(private_group: str, group: str) -> Message:
    return Message(LEAVE_MESS, private_group, (group,))


def kill_request(private_group: str) -> Message:
    return Message(KILL_MESS, private_group, (private_group,))


def data_message(
    sender: str, groups: tuple[str, ...] | list[str], service_type: int, mess_type: int, data: bytes
) -> Message:
    return Message(service_type, sender, tuple(groups), mess_type, bytes(data))


# -- the frames a daemon sends -------------------------------------------------------------
def membership_message(
    group: str, members: tuple[str, ...] | list[str], cause_bit: int, group_id: GroupId, changed: str
) -> Message:
    """REG_MEMB_MESS: sender = the group, groups = the members (sorted), one vs-set of the changed member."""
    body = Membership(group_id, ((changed,),)).encode(LITTLE)
    return Message(
        REG_MEMB_MESS | cause_bit,
        group,
        tuple(members),
        0,
        body,
        membership=Membership(group_id, ((changed,),)),
    )


def self_leave_message(group: str) -> Message:
    """The leaver's own notice: a bare header, CAUSED_BY_LEAVE, sender = the group."""
    return Message(CAUSED_BY_LEAVE, group)


def transition_message(group: str, group_id: GroupId) -> Message:
    membership = Membership(group_id, transition=True)
    return Message(TRANSITION_MESS, group, (), 0, membership.encode(LITTLE), membership=membership)


def reject_message(original: Message) -> Message:
    """A message the daemon refuses, handed back to its sender with REJECT_MESS set."""
    from dataclasses import replace

    return replace(original, service_type=original.service_type | REJECT_MESS, byte_order=LITTLE)
