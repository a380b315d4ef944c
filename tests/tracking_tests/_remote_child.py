"""A client process for the team-server fault tests: logs N points to LOOPML_TRACKING_URI.

argv: project, number of points, then ``finish`` (end the run) or ``kill`` (SIGKILL itself
after logging everything, before its writer has uploaded all of it).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import loopml

project, n, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
run = loopml.init(project=project)
print(run.id, flush=True)
for i in range(n):
    run.log({"x": float(i)}, step=i)
    if i % 500 == 499:
        time.sleep(0.02)  # spread the points over time, so uploads happen while logging
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
run.finish()
