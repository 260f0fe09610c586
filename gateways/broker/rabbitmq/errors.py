"""RabbitMQ's channel errors as the port's errors.

The errors an actor catches are the port's (``ports/broker.py``: ``BrokerError``
and its AMQP-named subclasses), the same from this gateway and from its fake
twin: ``NotFound`` (no such queue: call ``declare()``; also an unroutable
publish), ``PreconditionFailed`` (ack/reject of an unknown, stale or foreign
delivery tag; a queue redeclared with other arguments), ``NotAllowed`` (a
consumer name already consuming), ``PublishRejected`` (nacked) and
``BrokerUnavailable`` (unreachable in time).  Any other channel error RabbitMQ
sends becomes ``ChannelRefused``, which only this gateway raises: it keeps
RabbitMQ's own reply code and text.
"""

from __future__ import annotations

import pika.exceptions

from ports.broker import BrokerError, NotAllowed, NotFound, PreconditionFailed


class ChannelRefused(BrokerError):
    """Any other channel error, with RabbitMQ's own reply code and text."""

    def __init__(self, reply_code: int, reply_text: str, message: str) -> None:
        self.reply_code = reply_code
        self.reply_text = reply_text
        super().__init__(message)


def channel_error(error: pika.exceptions.ChannelClosedByBroker, what: str) -> BrokerError:
    """The port's exception for RabbitMQ's channel error."""
    message = f"rabbitmq refused {what}: {error.reply_text}"
    kind = {404: NotFound, 406: PreconditionFailed, 530: NotAllowed}.get(error.reply_code)
    if kind is not None:
        return kind(message)
    return ChannelRefused(error.reply_code, str(error.reply_text).split(" - ")[0], message)
