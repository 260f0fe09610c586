"""Spread 4 group communication, in pure Python.

``protocol`` is the wire format (frames in, bytes out, no I/O), ``client`` a
blocking client of it, ``daemon`` a single-host Spread-compatible daemon.  The
group gateway actor built on the client is ``gateways.group.spread``.
"""
