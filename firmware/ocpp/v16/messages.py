"""The OCPP 1.6 message names this package queues in the common outbox (each row's `action`).

Each is also the name of its request class in `ocpp.v16.call`, which the delivery loop builds from it.
"""

from __future__ import annotations

START_TRANSACTION = "StartTransaction"
STOP_TRANSACTION = "StopTransaction"
METER_VALUES = "MeterValues"
STATUS_NOTIFICATION = "StatusNotification"
