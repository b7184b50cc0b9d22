"""Run a command; print "<wall seconds> <peak RSS MB> <exit code>" as the last stdout line.

The peak RSS is the command's own (getrusage of the only child this process waits for)."""
import resource
import subprocess
import sys
import time

started = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{wall:.3f} {peak_kb / 1024:.1f} {rc}")
