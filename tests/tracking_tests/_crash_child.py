"""A process that logs as fast as it can and records, after each log() returns, how many did.

Usage: python _crash_child.py ACK_FILE RUN_ID_FILE
The acknowledgement counter is written with ``pwrite`` after each log() call returns, so every
count it shows was written after the matching call returned, and it survives SIGKILL: the kernel
holds it as soon as the call does. Not a shared memory map: on the VMs CI runs on, one page
rewritten in a tight loop sometimes reads back as zeros after its writer is killed (see "Why
logging is fast and safe" in docs/tracking.md), and the counter would lie.
"""

import os
import struct
import sys

import loopml

ack_path, id_path = sys.argv[1], sys.argv[2]
ack = os.open(ack_path, os.O_WRONLY)
run = loopml.init(project="crash", config={"kind": "sigkill"})
with open(id_path, "w") as f:
    f.write(run.id)
i = 0
while True:
    run.log({"x": float(i), "y": -float(i)}, step=i)
    if i % 1000 == 0:
        run.set_tags({"progress": str(i)})
    i += 1
    os.pwrite(ack, struct.pack("<q", i), 0)
