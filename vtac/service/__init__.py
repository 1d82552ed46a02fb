"""The message-driven service: wire messages, per-burst state and the SDB client.

Foundations only; the AMQP consumer builds on them. Nothing here is imported by the one-off command, so
``vtac make-qpo-vt`` does not pay for pydantic models, requests or database drivers it does not use.
"""
