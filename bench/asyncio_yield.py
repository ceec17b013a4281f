#!/usr/bin/python3
"""The yield benchmark in Python, for scale: 200 tasks x 1000 `await asyncio.sleep(0)`.

Runs on asyncio's default loop and, when Debian's python3-uvloop is installed, on uvloop.
Prints the median ns per yield of 7 runs (after a warm-up), like the C++ benchmarks.
    /usr/bin/python3 bench/asyncio_yield.py   # Debian's Python, where python3-uvloop installs
"""
import asyncio
import statistics
import time

TASKS, YIELDS, REPS = 200, 1000, 7


async def yielder(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def main():
    t0 = time.perf_counter_ns()
    await asyncio.gather(*(asyncio.create_task(yielder(YIELDS)) for _ in range(TASKS)))
    return (time.perf_counter_ns() - t0) / (TASKS * YIELDS)


def measure(new_loop):
    samples = []
    for i in range(REPS + 1):
        loop = new_loop()
        try:
            ns = loop.run_until_complete(main())
        finally:
            loop.close()
        if i:  # the first run is the warm-up
            samples.append(ns)
    return statistics.median(samples)


print(f"yield: {TASKS} tasks x {YIELDS} sleep(0), median ns per yield of {REPS}")
print(f"  asyncio  {measure(asyncio.new_event_loop):8.1f}")
try:
    import uvloop
except ImportError:
    print("  uvloop        n/a (apt-get install python3-uvloop)")
else:
    print(f"  uvloop   {measure(uvloop.new_event_loop):8.1f}")
