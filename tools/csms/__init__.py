"""Development CSMS (OCPP 1.6J central system) for the demo, end-to-end tests and bench work.

`from tools.csms import DevCsms`; run standalone with `python -m tools.csms --port 9000`.
"""

from tools.csms.server import CsmsSession, DevCsms, Received, Transaction, utc_z

__all__ = ["CsmsSession", "DevCsms", "Received", "Transaction", "utc_z"]
