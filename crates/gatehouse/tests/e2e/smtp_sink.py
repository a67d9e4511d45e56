#!/usr/bin/env python3
"""A loopback SMTP sink for Gatehouse's end-to-end tests, built on aiosmtpd (a real SMTP
server nobody here wrote).

Each message received is written, as the raw bytes of its DATA, to
`<directory>/<nanoseconds>-<n>.eml` (names sort by arrival; written under a temporary name and
renamed, so a reader never sees half a message). Recipients whose address starts with
`--reject-prefix` are refused with `550 5.1.1` (a permanent failure).

Usage: smtp_sink.py DIRECTORY [--port N] [--reject-prefix PREFIX]

Prints `PORT <n>` on one line once it accepts connections; runs until killed. Started again
with the same `--port`, it listens on that port again (SO_REUSEADDR).
"""

import argparse
import asyncio
import os
import sys
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, reject_prefix):
        self.directory = directory
        self.reject_prefix = reject_prefix
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_prefix and address.lower().startswith(self.reject_prefix):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{time.time_ns():020d}-{self.count:06d}.eml"
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reject-prefix", default="")
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)
    handler = Sink(args.directory, args.reject_prefix.lower())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.localhost", decode_data=False),
        host="127.0.0.1",
        port=args.port,
        reuse_address=True,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
