"""`python -m tools.csms`: run the development CSMS in the foreground, logging every OCPP frame to stdout."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from collections.abc import Sequence

from tools.csms.server import DevCsms


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.csms", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port (default 9000; 0 picks a free one)")
    parser.add_argument(
        "--accept", action="append", metavar="TAG", help="accept only these idTags (repeatable; default: all)"
    )
    parser.add_argument("--block", action="append", default=[], metavar="TAG", help="answer Blocked for TAG")
    parser.add_argument(
        "--boot-status", choices=["Accepted", "Pending", "Rejected"], default="Accepted", help="boot answer"
    )
    parser.add_argument("--heartbeat-interval", type=int, default=300, help="seconds (BootNotification.conf)")
    parser.add_argument(
        "--password",
        action="append",
        default=[],
        metavar="CP_ID=PASSWORD",
        help="require HTTP Basic auth; repeat per charge point",
    )
    parser.add_argument("--tls-cert", help="serve wss:// with this certificate chain (PEM)")
    parser.add_argument("--tls-key", help="private key for --tls-cert (PEM)")
    parser.add_argument("--console", action="store_true",
                        help="read CSMS->charger calls from the keyboard (`help` lists them); quit ends")
    args = parser.parse_args(argv)
    for item in args.password:
        if "=" not in item:
            parser.error(f"--password {item!r}: expected CP_ID=PASSWORD")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


async def serve(args: argparse.Namespace) -> None:
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(args.tls_cert, args.tls_key)
    credentials = dict(item.split("=", 1) for item in args.password) if args.password else None
    csms = DevCsms(
        args.host,
        args.port,
        accepted_tags=args.accept,
        blocked_tags=args.block,
        boot_status=args.boot_status,
        heartbeat_interval=args.heartbeat_interval,
        credentials=credentials,
        ssl_context=context,
    )
    async with csms:
        if args.console:
            from tools.csms.console import Console

            await Console(csms).run()
        else:
            await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"dev CSMS: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
