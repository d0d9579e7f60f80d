"""CustomerInformation in OCPP 2.0.1: what the station keeps about a customer, reported (N09) and cleared
(N10).

CustomerInformationRequest {requestId, report, clear, idToken? / customerIdentifier? / customerCertificate?}:
* neither `report` nor `clear` → Rejected; no customer reference at all → Invalid (N09.FR.04 says the CSMS
  names one); else Accepted.
* With `report`, once the answer is out: NotifyCustomerInformation parts (seqNo from 0, `tbc` on all but the
  last, `generatedAt`, the requestId; `data` is text of at most 512 characters per part) saying what this
  station keeps about the idToken: its authorization-cache entry, its Local Authorization List entry, and
  the transactions it ran or runs. The station keeps nothing by customerIdentifier or customerCertificate
  (no ISO 15118 contract certificates here): for those the report says so. With `clear` as well, the report
  describes the data before it was cleared.
* With `clear`: the cache entry goes, and the idToken is removed from the ended transactions kept; the
  Local Authorization List entry stays (the CSMS owns the list and changes it with SendLocalList) and so
  does a running transaction's token (it is needed to stop it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from firmware.ocpp.common.auth_store import AuthEntry, AuthStore, Token
from firmware.ocpp.v201.charge_point import after, on
from firmware.ocpp.v201.tx_store import TxStore

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

PART_CHARS = 512  # NotifyCustomerInformationRequest.data: string[512]


def _entry(entry: AuthEntry) -> str:
    text = str(entry.status)
    if entry.expiry is not None:
        text += f" until {entry.expiry.isoformat()}"
    if entry.group is not None:
        text += f", group {entry.group}"
    return text


def parts(text: str) -> list[str]:
    """`text` in pieces of at most PART_CHARS characters (one piece for an empty text)."""
    return [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]


class CustomerInformation201:
    def __init__(self, store: AuthStore, transactions: TxStore, now: Callable[[], str],
                 connection: Callable[[], ChargePoint201 | None]) -> None:
        self._store = store
        self._transactions = transactions
        self._now = now
        self._connection = connection
        self._accepted: dict[str, str] = {}  # CALL id -> the report to send once the answer is out

    async def online(self, cp: ChargePoint201) -> None:
        return None

    def describe(self, token: Token) -> str:
        """What this station keeps about one idToken, as one text."""
        lines = [f"idToken {token.text} ({token.type or 'any type'}):"]
        cached = self._store.cached(token)
        listed = self._store.listed(token)
        kept = self._transactions.of_token(token.text)
        if cached is not None:
            lines.append(f"authorization cache: {_entry(cached)}")
        if listed is not None:
            lines.append(f"local authorization list: {_entry(listed)}")
        lines += [f"transaction {tx} on EVSE {evse}: {'ended' if ended else 'running'}"
                  for tx, evse, ended in kept]
        if len(lines) == 1:
            lines.append("no data stored")
        return "\n".join(lines)

    def clear(self, token: Token) -> None:
        self._store.forget(token)
        self._transactions.forget_token(token.text)

    @on(Action.customer_information)
    def on_customer_information(self, request_id: int, report: bool, clear: bool, call_unique_id: str,
                                id_token: dict[str, Any] | None = None,
                                customer_identifier: str | None = None,
                                customer_certificate: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not report and not clear:
            return call_result.CustomerInformation(status="Rejected")
        if id_token is None and customer_identifier is None and customer_certificate is None:
            return call_result.CustomerInformation(status="Invalid")
        token = None if id_token is None else Token(id_token["id_token"], id_token["type"])
        texts = []
        if token is not None:
            texts.append(self.describe(token))
            if clear:
                self.clear(token)
        if customer_identifier is not None:
            texts.append(f"customerIdentifier {customer_identifier}: no data stored")
        if customer_certificate is not None:
            serial = customer_certificate.get("serial_number", "?")
            texts.append(f"customerCertificate {serial}: no data stored")
        if report:
            self._accepted[call_unique_id] = "\n".join(texts)
        return call_result.CustomerInformation(status="Accepted")

    @after(Action.customer_information)
    async def after_customer_information(self, request_id: int, call_unique_id: str, **kwargs: Any) -> None:
        text = self._accepted.pop(call_unique_id, None)
        cp = self._connection()
        if text is None or cp is None:
            return
        pieces = parts(text)
        generated = self._now()
        for seq_no, piece in enumerate(pieces):
            await cp.call(call.NotifyCustomerInformation(
                data=piece, seq_no=seq_no, generated_at=generated, request_id=request_id,
                tbc=seq_no < len(pieces) - 1), suppress=False)
