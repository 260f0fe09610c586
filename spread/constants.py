"""Numbers of the Spread 4 client protocol (as in Spread 4.4.0's ``sp.h``)."""

from __future__ import annotations

# The size limit and the codes the group port names are the port's (ports/group.py): one value each,
# named here again for the protocol's modules, which take every Spread number from this one.
from ports.group import (  # noqa: F401 - re-exported
    CONNECTION_CLOSED,
    ILLEGAL_GROUP,
    ILLEGAL_MESSAGE,
    ILLEGAL_SERVICE,
    MAX_PAYLOAD,
    MESSAGE_TOO_LONG,
    REJECT_ILLEGAL_NAME,
    REJECT_NOT_UNIQUE,
)
from ports.group import ERROR_TEXTS as GROUP_ERROR_TEXTS

# -- versions -------------------------------------------------------------
LIB_VERSION = (4, 4, 0)  # what this client announces in its connect request
DAEMON_VERSION = (4, 4, 0)  # what this daemon announces in its accept

# -- sizes ----------------------------------------------------------------
MAX_PRIVATE_NAME = 10  # a user's part of a private group name
MAX_PROC_NAME = 20  # a daemon's name, NUL included
MAX_GROUP_NAME = 32  # every name field on the wire, NUL-padded
HEADER_SIZE = 48  # type, sender, num_groups, hint, data_len
CONNECT_FIXED_SIZE = 5  # version (3), flags, name length
AUTH_METHOD_SIZE = 30  # MAX_AUTH_NAME
AUTH_METHODS_MAX = 3  # MAX_AUTH_METHODS
AUTH_CHOICE_SIZE = AUTH_METHOD_SIZE * AUTH_METHODS_MAX  # 90
# Spread 4's MAX_MESSAGE_BODY_LEN: 100 scatter elements of (1472 - 32) bytes, the bound of a frame's
# data_len field.  What a multicast may really carry is less: MAX_MULTICAST_SIZE and max_body below
# (the group port's MAX_PAYLOAD is max_body(1), a multicast to one group).
MAX_MESSAGE_BODY_LEN = 100 * (1472 - 32)
# Not a Spread number: a bound on the group list of one frame, so a decoder
# never allocates for a garbage count (1000 groups = 32000 bytes).
MAX_GROUPS_IN_MESSAGE = 1000

# -- the real daemon's limits (Spread 4.4.0, measured on loopback: issue 10) ----------------
# What one multicast may carry: body + 32 x (number of destination groups) <= 143,152 bytes.
# Measured: 143,120 B to one group was delivered and 143,121 B crashed the daemon; 143,088 B to
# two groups was delivered and 143,089 B crashed it.  Between 143,153 and 143,952 the real daemon
# aborts altogether (``Message_add_scat_element: Assertion 'msg->num_elements <
# MAX_SCATTER_ELEMENTS' failed``: its 100 scatter elements are full), taking every client with
# it; above 143,952 (MAX_MESSAGE_BODY_LEN minus its 48-byte header) it closes the sender's session.
MAX_MULTICAST_SIZE = 143_152
# Spread 4.4.0's MAX_GROUPS_PER_MESSAGE: a frame naming more destinations closes its session.
MAX_GROUPS_PER_MESSAGE = 100
# Spread 4.4.0's MaxSessionMessages default: a session with this many messages queued in the
# daemon (beyond what the kernel buffers hold) is cut off for not reading.
MAX_SESSION_MESSAGES = 1000
# Where libspread and the real daemon put the local socket of port P: ``/tmp/P``.
UNIX_SOCKET_DIR = "/tmp"
# Spread 4.4.0's socket buffers for a session (Sess_accept raises SO_SNDBUF/SO_RCVBUF to 200 KiB),
# which with MAX_SESSION_MESSAGES is how far a silent reader gets before it is cut off.
SESSION_SOCKET_BUFFER = 200 * 1024


def max_body(groups: int) -> int:
    """The largest body one multicast to ``groups`` destinations may carry on a real Spread 4.4.0
    daemon (``MAX_MULTICAST_SIZE`` less 32 bytes per group name); callers size their chunks from it."""
    if not 1 <= groups <= MAX_GROUPS_PER_MESSAGE:
        raise ValueError(f"a multicast names 1 to {MAX_GROUPS_PER_MESSAGE} groups, not {groups}")
    return MAX_MULTICAST_SIZE - MAX_GROUP_NAME * groups


# -- endian marker (set = little-endian writer) ----------------------------
ENDIAN_TYPE = 0x80000080

# -- service types ----------------------------------------------------------
UNRELIABLE_MESS = 0x00000001
RELIABLE_MESS = 0x00000002
FIFO_MESS = 0x00000004
CAUSAL_MESS = 0x00000008
AGREED_MESS = 0x00000010
SAFE_MESS = 0x00000020
REGULAR_MESS = 0x0000003F
SELF_DISCARD = 0x00000040
DROP_RECV = 0x01000000  # a receive-side flag of libspread; never on the wire

REG_MEMB_MESS = 0x00001000
TRANSITION_MESS = 0x00002000
CAUSED_BY_JOIN = 0x00000100
CAUSED_BY_LEAVE = 0x00000200
CAUSED_BY_DISCONNECT = 0x00000400
CAUSED_BY_NETWORK = 0x00000800
MEMBERSHIP_MESS = 0x00003F00

JOIN_MESS = 0x00010000
LEAVE_MESS = 0x00020000
KILL_MESS = 0x00040000
GROUPS_MESS = 0x00080000
REJECT_MESS = 0x00400000

# Spread 4.4.0 allows exactly one of these in a client's frame (its Sess_validate_read_header counts
# bits 0..5, the services, and bits 16..18, the requests): AGREED|SAFE, or a JOIN that is also a
# multicast, closes the session.  SELF_DISCARD (bit 6) is a flag beside the service, not one of them.
REQUEST_KIND_BITS = (
    UNRELIABLE_MESS,
    RELIABLE_MESS,
    FIFO_MESS,
    CAUSAL_MESS,
    AGREED_MESS,
    SAFE_MESS,
    JOIN_MESS,
    LEAVE_MESS,
    KILL_MESS,
)

SERVICE_NAMES = {
    "UNRELIABLE": UNRELIABLE_MESS,
    "RELIABLE": RELIABLE_MESS,
    "FIFO": FIFO_MESS,
    "CAUSAL": CAUSAL_MESS,
    "AGREED": AGREED_MESS,
    "SAFE": SAFE_MESS,
}

FLAG_NAMES = (
    (UNRELIABLE_MESS, "UNRELIABLE_MESS"),
    (RELIABLE_MESS, "RELIABLE_MESS"),
    (FIFO_MESS, "FIFO_MESS"),
    (CAUSAL_MESS, "CAUSAL_MESS"),
    (AGREED_MESS, "AGREED_MESS"),
    (SAFE_MESS, "SAFE_MESS"),
    (SELF_DISCARD, "SELF_DISCARD"),
    (CAUSED_BY_JOIN, "CAUSED_BY_JOIN"),
    (CAUSED_BY_LEAVE, "CAUSED_BY_LEAVE"),
    (CAUSED_BY_DISCONNECT, "CAUSED_BY_DISCONNECT"),
    (CAUSED_BY_NETWORK, "CAUSED_BY_NETWORK"),
    (REG_MEMB_MESS, "REG_MEMB_MESS"),
    (TRANSITION_MESS, "TRANSITION_MESS"),
    (JOIN_MESS, "JOIN_MESS"),
    (LEAVE_MESS, "LEAVE_MESS"),
    (KILL_MESS, "KILL_MESS"),
    (GROUPS_MESS, "GROUPS_MESS"),
    (REJECT_MESS, "REJECT_MESS"),
)


def flag_names(service_type: int) -> list[str]:
    """The names of the bits set in ``service_type`` (as the transcripts list them)."""
    return [name for bit, name in FLAG_NAMES if service_type & bit]


# -- session results and errors --------------------------------------------
ACCEPT_SESSION = 1
ILLEGAL_SPREAD = -1
COULD_NOT_CONNECT = -2
REJECT_QUOTA = -3
REJECT_NO_NAME = -4
# REJECT_ILLEGAL_NAME -5, REJECT_NOT_UNIQUE -6, CONNECTION_CLOSED -8, ILLEGAL_SERVICE -12, ILLEGAL_MESSAGE -13,
# ILLEGAL_GROUP -14 and MESSAGE_TOO_LONG -17 come from the port, above.
REJECT_VERSION = -7
REJECT_AUTH = -9
ILLEGAL_SESSION = -11
BUFFER_TOO_SHORT = -15
GROUPS_TOO_SHORT = -16
NET_ERROR_ON_SESSION = -18

# The codes the group port names come with the port's words (ports/group.py), so
# the Spread client and the port's in-memory twin describe a failure alike.
ERROR_TEXTS = {
    **GROUP_ERROR_TEXTS,
    ILLEGAL_SPREAD: ("ILLEGAL_SPREAD", "the daemon address is not a valid Spread address"),
    COULD_NOT_CONNECT: ("COULD_NOT_CONNECT", "could not connect to the Spread daemon"),
    REJECT_QUOTA: ("REJECT_QUOTA", "the daemon has reached its limit of connections"),
    REJECT_NO_NAME: ("REJECT_NO_NAME", "the daemon requires a private name"),
    REJECT_VERSION: ("REJECT_VERSION", "the daemon does not accept this client library version"),
    REJECT_AUTH: ("REJECT_AUTH", "the daemon rejected the authentication"),
    ILLEGAL_SESSION: ("ILLEGAL_SESSION", "the connection is not open"),
    BUFFER_TOO_SHORT: ("BUFFER_TOO_SHORT", "the receive buffer is too short for the message"),
    GROUPS_TOO_SHORT: ("GROUPS_TOO_SHORT", "the group array is too short for the message"),
    NET_ERROR_ON_SESSION: ("NET_ERROR_ON_SESSION", "a network error broke the connection to the daemon"),
}


def error_name(code: int) -> str:
    return ERROR_TEXTS.get(code, (f"UNKNOWN_ERROR_{code}", ""))[0]


def error_text(code: int) -> str:
    name, text = ERROR_TEXTS.get(code, (f"UNKNOWN_ERROR_{code}", "an unknown Spread error code"))
    return f"{name} ({code}): {text}"
