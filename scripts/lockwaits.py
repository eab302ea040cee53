"""The uninterruptible waits of one thread (state D when it left its core: a lock on the
process's mappings, a page being read in), recorded with `perf record -e
sched:sched_switch -g` on every core while a benchmark runs, and summed up by where in the
kernel the thread waited.

A thread that sleeps in D waits for something another thread holds. In the VM that is
mostly the mmap lock: mprotect takes it for writing, so a write fault's protection call
(WriteTracker, SignalProtection) and a page fault that cannot take the per-mapping lock
wait while another thread (the PageReleaseThread arming or releasing a checkpoint) changes
protections. The scheduler trace says for how long, and its kernel stack why.

Needs linux-perf and the right to trace every core (root, or CAP_PERFMON with
kernel.perf_event_paranoid <= 1).
"""
import collections
import os
import re
import signal
import statistics
import subprocess

SWITCH_RE = re.compile(r"^\s*([\d.]+):\s+.*prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)")
WINDOW_S = 0.1  # waits are also summed per window of this length: an update's come together

# The kernel frame that names a wait, first match up the stack wins.
CAUSES = [("do_mprotect_pkey", "mprotect (mmap lock for writing)"),
          ("lock_mm_and_find_vma", "page fault (mmap lock)"),
          ("do_madvise", "madvise (mmap lock)"),
          ("__vm_munmap", "munmap (mmap lock)"),
          ("vm_mmap_pgoff", "mmap (mmap lock)"),
          ("filemap_fault", "page fault (reading a file's page)"),
          ("handle_userfault", "page fault (userfaultfd)")]


class Recorder:
    """`perf record` of the context switches into and out of thread `tid`, with kernel
    stacks, until stop(). start() answers False (and records nothing) where perf cannot."""

    def __init__(self, tid, path):
        self.tid = tid
        self.path = path
        self.process = None

    def start(self):
        try:
            self.process = subprocess.Popen(
                ["perf", "record", "-q", "-a", "-g", "-e", "sched:sched_switch",
                 "--filter", f"prev_pid == {self.tid} || next_pid == {self.tid}", "-o", self.path],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except OSError:
            return False
        try:  # perf that cannot trace exits at once
            self.process.wait(0.5)
            return False
        except subprocess.TimeoutExpired:
            return True

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)


def summarize(path, tid):
    """{waits, medianUs, maxUs, totalMs, worstWindowMs, windowsOver2Ms, causes: {cause: (waits, ms)}}
    of thread `tid`'s D waits in the recording at `path`; None when there is none to read."""
    if not os.path.exists(path):
        return None
    text = subprocess.run(["perf", "script", "-i", path, "-F", "time,trace,ip,sym"], capture_output=True,
                          text=True).stdout
    waits = []  # (start s, µs, cause)
    began = None  # (time, cause) of the wait in progress
    for event in text.split("\n\n"):
        lines = event.strip().splitlines()
        if not lines:
            continue
        m = SWITCH_RE.match(lines[0])
        if not m:
            continue
        t, prev, state, following = float(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))
        if following == tid and began is not None:
            waits.append((began[0], (t - began[0]) * 1e6, began[1]))
            began = None
        if prev == tid and state.startswith("D"):
            frames = [line.split()[1].split("+")[0] for line in lines[1:] if len(line.split()) > 1]
            cause = next((name for frame, name in CAUSES if frame in frames), frames[3] if len(frames) > 3 else "?")
            began = (t, cause)
    if not waits:
        return {"waits": 0, "medianUs": 0.0, "maxUs": 0.0, "totalMs": 0.0, "worstWindowMs": 0.0,
                "windowsOver2Ms": 0, "causes": {}}
    windows = collections.defaultdict(float)
    causes = collections.defaultdict(lambda: [0, 0.0])
    for start, us, cause in waits:
        windows[int(start / WINDOW_S)] += us
        causes[cause][0] += 1
        causes[cause][1] += us / 1000.0
    durations = [us for _, us, _ in waits]
    return {"waits": len(waits), "medianUs": statistics.median(durations), "maxUs": max(durations),
            "totalMs": sum(durations) / 1000.0, "worstWindowMs": max(windows.values()) / 1000.0,
            "windowsOver2Ms": sum(1 for us in windows.values() if us > 2000),
            "causes": {c: tuple(v) for c, v in sorted(causes.items(), key=lambda kv: -kv[1][1])}}
