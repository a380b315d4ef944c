"""A process that logs as fast as it can and records, after each log() returns, how many did.

Usage: python _crash_child.py ACK_FILE RUN_ID_FILE
The acknowledgement counter lives in a shared memory map, so it survives SIGKILL exactly like
the journal does: every count it shows was written after the matching log() call returned.
"""

import mmap
import struct
import sys

import loopml

ack_path, id_path = sys.argv[1], sys.argv[2]
with open(ack_path, "r+b") as f:
    ack = mmap.mmap(f.fileno(), 8)
run = loopml.init(project="crash", config={"kind": "sigkill"})
with open(id_path, "w") as f:
    f.write(run.id)
i = 0
while True:
    run.log({"x": float(i), "y": -float(i)}, step=i)
    if i % 1000 == 0:
        run.set_tags({"progress": str(i)})
    i += 1
    struct.pack_into("<q", ack, 0, i)
