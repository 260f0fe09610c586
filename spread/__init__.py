"""Spread 4 group communication, in pure Python: a protocol library with a client and a server.

``protocol`` is the wire format in one import (``constants``, ``handshake``,
``messages``, ``errors``: frames in, bytes out, no I/O), ``stream`` reads whole
frames from a socket, ``names`` holds Spread's rules for names, ``address`` its
``PORT@HOST`` notation, ``client`` is a blocking client (what libspread's SP_*
calls do) and ``daemon`` a single-host Spread-compatible daemon (its local
socket in ``unix_socket``), which ``daemon_actor`` runs as a Pykka actor.  The group gateway built on the client
is ``gateways.group.spread``.
"""
