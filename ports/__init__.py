"""The ports: what an actor may expect of the outside world, and nothing of how.

Each module names one port as a ``typing.Protocol`` (the methods of its gateway
actor), the domain events its gateway tells listeners, and the errors a caller
may catch.  A real gateway and its fake twin both satisfy the port, and one
conformance suite (``tests/conformance/``) runs against both.  Ports import
neither ``actors`` nor ``gateways``: both import them.
"""
