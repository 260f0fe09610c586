"""Tell, don't ask: send an actor a method call without waiting for it.

A proxy call (``proxy.method(x)``) always carries a future; when nobody waits
on that future, an exception inside the method is silently kept in it and the
actor goes on.  A *told* call has no future, so an exception crashes the actor
(Pykka calls ``on_failure`` and stops it), which is what lets a supervisor see
the crash and restart it.  Events between actors therefore go through
``tell_call``; ``proxy.method(...).get()`` is for the edges (a gRPC handler
thread, a test) and for gateways that must answer (a publisher confirm).
"""

from __future__ import annotations

from typing import Any

import pykka
from pykka.messages import ProxyCall


def ref_of(listener: pykka.ActorRef | pykka.ActorProxy) -> pykka.ActorRef:
    """The ``ActorRef`` of a listener given as a ref or a proxy (a gateway keeps refs: a proxy would
    ask the actor for its attributes); anything else is a ``TypeError``."""
    if isinstance(listener, pykka.ActorProxy):
        return listener.actor_ref
    if isinstance(listener, pykka.ActorRef):
        return listener
    raise TypeError(f"a listener is an ActorRef or ActorProxy, not {type(listener).__name__}")


def tell_call(target: pykka.ActorRef | pykka.ActorProxy, method: str, *args: Any, **kwargs: Any) -> bool:
    """Tell ``target`` to run ``method(*args, **kwargs)``.

    Returns False, instead of raising, when the target is already dead: an
    event for a stopped actor is dropped, the way a listener that went away
    no longer hears anything.
    """
    ref = target.actor_ref if isinstance(target, pykka.ActorProxy) else target
    try:
        ref.tell(ProxyCall(attr_path=(method,), args=args, kwargs=kwargs))
    except pykka.ActorDeadError:
        return False
    return True
