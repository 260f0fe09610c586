"""RabbitMQ gateway: the job queue on a real broker, through pika.

``RabbitBroker`` satisfies the broker port (``ports/broker.py``) as its fake
twin ``MemoryBroker`` (``gateways/broker/memory.py``) does, and imports nothing
of it: ``declare``, ``publish``, ``consume``, ``ack``, ``reject``, ``cancel``,
``is_connected``, ``stats``, ``dead_letters``.  What leaves it is
``JobDelivered`` events, told to the listener (``tell_call(listener,
"on_job_delivered", event)``); nothing of pika's frames or channels escapes.
As with the twin, call ``ack``/``reject`` as proxy calls with a future, not
with ``tell_call``: an error in a told call would crash the gateway actor.

One part per module, each with its share of the design notes:

* ``topology.py``: the exchange, the job queue and the dead-letter queue, and
  their idempotent declaration (classic or quorum);
* ``link.py``: the connection thread, why the actor owns none, and reconnection
  with backoff;
* ``publishing.py``: the publish link (confirms, at-least-once resends,
  ``stats``, ``dead_letters``);
* ``consuming.py``: the consume link (one channel per consumer, prefetch 1,
  the gateway's delivery tags that are never reused, stale tags, dead
  listeners);
* ``delivery_count.py``: how ``JobDelivered.deliveries`` is counted on quorum
  and on classic queues (the decision, pure);
* ``errors.py``: RabbitMQ's channel errors as the port's errors, and
  ``ChannelRefused`` for the rest;
* ``actor.py``: ``RabbitBroker``, the actor that hands each call to a link.
"""

from gateways.broker.rabbitmq.actor import RabbitBroker
from gateways.broker.rabbitmq.consuming import STALE_TAGS_KEPT
from gateways.broker.rabbitmq.delivery_count import (
    DELIVERIES_HEADER,
    QUORUM_COUNT_HEADER,
)
from gateways.broker.rabbitmq.errors import ChannelRefused
from gateways.broker.rabbitmq.link import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    COMMAND_TIMEOUT,
    redact,
)
from gateways.broker.rabbitmq.publishing import CONTENT_TYPE, PERSISTENT
from gateways.broker.rabbitmq.topology import QUEUE_TYPES, Topology
from ports.broker import (
    BrokerError,
    BrokerUnavailable,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    PublishRejected,
)

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "COMMAND_TIMEOUT",
    "CONTENT_TYPE",
    "DELIVERIES_HEADER",
    "PERSISTENT",
    "QUEUE_TYPES",
    "QUORUM_COUNT_HEADER",
    "STALE_TAGS_KEPT",
    "BrokerError",
    "BrokerUnavailable",
    "ChannelRefused",
    "NotAllowed",
    "NotFound",
    "PreconditionFailed",
    "PublishRejected",
    "RabbitBroker",
    "Topology",
    "redact",
]
