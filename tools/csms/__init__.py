"""Development CSMS (OCPP 1.6J and 2.0.1 central system) for the demo, end-to-end tests and bench work.

`from tools.csms import DevCsms`; run standalone with `python -m tools.csms --port 9000`.
"""

from tools.csms.basics import Received, Transaction, utc_z
from tools.csms.server import CsmsSession, DevCsms

__all__ = ["CsmsSession", "DevCsms", "Received", "Transaction", "utc_z"]
