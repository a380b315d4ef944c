"""One of N processes logging to the same SQLite store at once (see test_faults.py)."""

import os
import sys
import time

import loopml

worker, start_file = int(sys.argv[1]), sys.argv[2]
runs, points = int(sys.argv[3]), int(sys.argv[4])
while not os.path.exists(start_file):  # start together, to collide as much as possible
    time.sleep(0.005)
for r in range(runs):
    with loopml.init(
        project="concurrent", name=f"w{worker}-r{r}", config={"worker": worker, "r": r}
    ) as run:
        for step in range(points):
            run.log({"v": float(worker * 1_000_000 + r * 10_000 + step)}, step=step)
            if step % 250 == 0:
                run.log_params({f"checkpoint_{step}": step})
print("ok", flush=True)
