"""The asyncio side of bench/subprocess/run_spawn.sh (same modes and output as spawn_aio)."""
import asyncio
import sys
import time


async def spawn_some(count):
    for _ in range(count):
        p = await asyncio.create_subprocess_exec("true")
        if await p.wait() != 0:
            raise SystemExit("true failed")


async def spawn(n, k):
    t0 = time.perf_counter()
    await asyncio.gather(*(spawn_some(n // k + (1 if w < n % k else 0)) for w in range(k)))
    print(f"children_per_s={n / (time.perf_counter() - t0):.0f}")


async def pipe(nbytes):
    data = b"x" * nbytes
    t0 = time.perf_counter()
    p = await asyncio.create_subprocess_exec(
        "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate(data)
    seconds = time.perf_counter() - t0
    if len(out) != nbytes or await p.wait() != 0:
        raise SystemExit("cat lost data")
    print(f"mib_per_s={nbytes / seconds / (1 << 20):.0f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "spawn":
        asyncio.run(spawn(int(sys.argv[2]), int(sys.argv[3])))
    elif len(sys.argv) == 3 and sys.argv[1] == "pipe":
        asyncio.run(pipe(int(sys.argv[2])))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} spawn N K | pipe BYTES")
