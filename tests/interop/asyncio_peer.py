"""The CPython asyncio side of tests/test_interop.cpp: an independent implementation of the
same protocol for aio to talk to.

    asyncio_peer.py client lines|blob PORT   connects to 127.0.0.1:PORT, sends, checks the echo
    asyncio_peer.py server lines|blob        echoes one connection, prints its port first

lines: 1000 lines of every byte but "\n", of lengths from 0 to 60000 (below aio's default
64 KiB readline limit), read back with readline. blob: 10 MiB of random bytes, read back to
end of file. The client sends while it reads (neither side may wait for the other to finish),
then half-closes (write_eof); the echo side closes after end of file.

Each prints one report line on stdout and exits 0, or prints a reason on stderr and exits 1:
    client: "ok sent=<bytes> crc=<zlib crc32 of the bytes sent>"
    server: "<port>" first, then "ok received=<bytes> crc=<crc32 of the bytes received>"
Every step has a deadline, so a stuck peer fails instead of hanging the test.
"""

import asyncio
import os
import random
import sys
import zlib

LINE_COUNT = 1000
LONGEST_LINE = 60000
BLOB_SIZE = 10 * 1024 * 1024
CHUNK = 65536
DEADLINE = 60.0


def make_lines():
    rng = random.Random(20261129)
    lines = []
    for i in range(LINE_COUNT):
        if i % 250 == 0:
            length = 0
        elif i % 250 == 1:
            length = LONGEST_LINE
        else:
            length = rng.randrange(0, 2000)
        # (Not rng.randbytes: Python 3.9+ only.)
        body = rng.getrandbits(8 * length).to_bytes(length, "little") if length else b""
        body = body.replace(b"\n", b"\r")
        lines.append(body + b"\n")
    return lines


def fail(why):
    print(f"asyncio_peer: {why}", file=sys.stderr, flush=True)
    sys.exit(1)


async def run_client(mode, port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    chunks = make_lines() if mode == "lines" else [os.urandom(BLOB_SIZE)]
    sent = b"".join(chunks)

    async def send():
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    if mode == "lines":
        for i, line in enumerate(chunks):
            got = await reader.readline()
            if got != line:
                fail(f"line {i}: sent {len(line)} bytes, got {len(got)} back, not the same")
        rest = await reader.read()
        if rest:
            fail(f"{len(rest)} bytes after the last line")
    else:
        got = await reader.read()  # to end of file
        if got != sent:
            fail(f"sent {len(sent)} bytes, got {len(got)} back, not the same")
    await sender
    writer.close()
    await writer.wait_closed()
    print(f"ok sent={len(sent)} crc={zlib.crc32(sent)}", flush=True)


async def run_server(mode):
    finished = asyncio.get_running_loop().create_future()

    async def echo(reader, writer):
        received = 0
        crc = 0
        while True:
            data = await (reader.readline() if mode == "lines" else reader.read(CHUNK))
            if not data:
                break
            received += len(data)
            crc = zlib.crc32(data, crc)
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        if not finished.done():
            finished.set_result((received, crc))

    server = await asyncio.start_server(echo, "127.0.0.1", 0, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    received, crc = await finished
    server.close()
    await server.wait_closed()
    print(f"ok received={received} crc={crc}", flush=True)


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "client" and args[1] in ("lines", "blob"):
        work = run_client(args[1], int(args[2]))
    elif len(args) == 2 and args[0] == "server" and args[1] in ("lines", "blob"):
        work = run_server(args[1])
    else:
        fail("usage: asyncio_peer.py client lines|blob PORT | server lines|blob")
    try:
        asyncio.run(asyncio.wait_for(work, DEADLINE))
    except asyncio.TimeoutError:
        fail(f"no result within {DEADLINE} s")


if __name__ == "__main__":
    main()
