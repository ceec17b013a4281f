#!/usr/bin/python3
"""The echo server of the echo benchmark in Python: asyncio streams (asyncio.start_server).

    /usr/bin/python3 bench/echo/echo_asyncio.py --port P [--loop asyncio|uvloop]

Run it with Debian's /usr/bin/python3, where python3-uvloop installs. P = 0 lets the kernel
pick a free port. Listens on 127.0.0.1 only, prints one line `port=<N>` (flushed) once
listening, then serves until SIGTERM or SIGINT (exit status 0).

Each connection: `data = await reader.read(65536)`, `writer.write(data)`,
`await writer.drain()`, until EOF; then close. Both loops set TCP_NODELAY on the sockets.
--loop uvloop runs the same code on uvloop's loop (asyncio.Runner(loop_factory=...)).
"""
import argparse
import asyncio
import signal
import sys


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"port={server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def parse_args():
    p = argparse.ArgumentParser(description="asyncio streams echo server (echo benchmark)")
    p.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    return p.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            sys.exit("echo_asyncio.py: uvloop is not installed (Debian: apt-get install python3-uvloop)")
        loop_factory = uvloop.new_event_loop
    else:
        loop_factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main(args.port))
