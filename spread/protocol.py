"""The Spread 4 client protocol in one import: constants, frames, errors.

Pure encode/decode, no I/O.  ``handshake`` holds the four connect frames,
``messages`` the message frames (requests, data, membership), ``constants``
the numbers, ``errors`` the exceptions.
"""

from __future__ import annotations

from spread.constants import *  # noqa: F403 - this module is the protocol in one import
from spread.errors import (  # noqa: F401
    MessageTooLong,
    ProtocolError,
    SpreadConnectionError,
    SpreadError,
    SpreadRejected,
)
from spread.handshake import (  # noqa: F401
    ACCEPT_FIXED_SIZE,
    Accept,
    AuthChoice,
    AuthList,
    ConnectRequest,
    accept_result,
    auth_list_length,
    connect_name_length,
    decode_accept,
    decode_auth_choice,
    decode_auth_list,
    decode_connect,
    encode_reject,
)
from spread.messages import (  # noqa: F401
    BIG,
    CAUSES,
    LITTLE,
    GroupId,
    Header,
    Membership,
    Message,
    data_message,
    decode_header,
    decode_membership,
    decode_message,
    decode_name,
    decode_rest,
    encode_name,
    join_request,
    kill_request,
    leave_request,
    membership_message,
    reject_message,
    self_leave_message,
    transition_message,
)
