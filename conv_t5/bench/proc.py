"""Worker processes of the benchmark, and the guard that keeps memory in budget.

Each benchmark point lives in a process of its own, forked from a
multiprocessing fork server that has imported TensorFlow and the models once
(`preload`), so its peak RSS is its own and an out-of-memory point
cannot take the run (or a colleague's process) down with it. The parent
talks to a worker over a pipe; while it waits, it polls the worker's RSS and
the machine's MemAvailable and kills the worker that would exceed the budget.
"""

import multiprocessing
import os
import time

_CONTEXT = []


def context():
  """The fork-server context; its server preloads conv_t5.preload."""
  if not _CONTEXT:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["conv_t5.bench.preload"])
    _CONTEXT.append(ctx)
  return _CONTEXT[0]


def meminfo_mb(field="MemAvailable"):
  with open("/proc/meminfo") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) / 1024.0
  return float("nan")


def rss_mb(pid):
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return 0.0


class ChildFailed(Exception):
  """The child died, exceeded the memory budget, or reported an error."""

  def __init__(self, status, note, machine_low=False):
    super().__init__(f"{status}: {note}")
    self.status, self.note = status, note
    self.machine_low = machine_low  # killed for the machine, not its budget


class Guard:
  """Memory limits for the children.

  Args:
    budget_mb: a child whose RSS exceeds this is killed ("oom").
    reserve_mb: if the machine's MemAvailable falls below this, the largest
      child that is running a command (else the largest child) is killed
      ("oom", machine_low), whatever its own size.
  """

  def __init__(self, budget_mb, reserve_mb):
    self.budget_mb, self.reserve_mb = budget_mb, reserve_mb
    self.children = []

  def check(self):
    low = meminfo_mb() < self.reserve_mb
    alive = [c for c in self.children if c.alive()]
    for c in alive:
      c.max_rss_seen = max(c.max_rss_seen, rss_mb(c.proc.pid))
      if c.max_rss_seen > self.budget_mb:
        c.kill("oom", f"RSS {c.max_rss_seen:.0f} MB exceeded the budget of "
               f"{self.budget_mb:.0f} MB")
    alive = [c for c in alive if c.alive()]
    if low and alive:
      busy = [c for c in alive if c.busy] or alive
      big = max(busy, key=lambda c: rss_mb(c.proc.pid))
      big.kill("oom", f"machine MemAvailable fell below {self.reserve_mb:.0f}"
               f" MB (this worker: {rss_mb(big.proc.pid):.0f} MB, "
               f"{len(alive) - 1} other workers alive)", machine_low=True)


class Child:
  """A worker process (module.serve(conn, payload)) answering commands."""

  def __init__(self, module, payload, guard, log_path):
    from conv_t5.bench import worker  # pylint: disable=g-import-not-at-top
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ctx = context()
    self.guard = guard
    self.log_path = log_path
    self.killed = None
    self.busy = "build"
    self.max_rss_seen = 0.0
    self.conn, child_conn = ctx.Pipe()
    self.proc = ctx.Process(target=worker.run,
                            args=(module, payload, child_conn, log_path),
                            daemon=True)
    self.proc.start()
    child_conn.close()
    guard.children.append(self)

  def alive(self):
    return self.proc.exitcode is None

  def kill(self, status, note, machine_low=False):
    if self.alive():
      self.proc.kill()
      self.proc.join()
    if self.killed is None:
      self.killed = (status, note, machine_low)

  def _stderr_tail(self, lines=3):
    try:
      with open(self.log_path) as f:
        tail = [l.strip() for l in f.readlines() if l.strip()][-lines:]
      return " | ".join(tail)[-400:]
    except OSError:
      return ""

  def receive(self, timeout_s=None):
    """The next message; raises ChildFailed if the child cannot answer."""
    start = time.monotonic()
    while True:
      if self.killed:
        raise ChildFailed(*self.killed)
      if self.conn.poll(0.1):
        try:
          msg = self.conn.recv()
        except (EOFError, OSError):
          self.proc.join(timeout=10)
          if self.killed:
            raise ChildFailed(*self.killed)  # pylint: disable=raise-missing-from
          raise ChildFailed("error", f"worker exited with code "  # pylint: disable=raise-missing-from
                            f"{self.proc.exitcode}: {self._stderr_tail()}")
        if "error" in msg:
          self.kill("error", msg["error"])
          raise ChildFailed("error", msg["error"])
        self.busy = None
        return msg
      if not self.alive() and not self.conn.poll():
        self.kill("error", f"worker exited with code {self.proc.exitcode}: "
                  f"{self._stderr_tail()}")
      self.guard.check()
      if timeout_s and time.monotonic() - start > timeout_s:
        self.kill("timeout", f"no answer within {timeout_s:.0f} s")

  def send(self, msg):
    if self.killed:
      raise ChildFailed(*self.killed)
    try:
      self.conn.send(msg)
    except (BrokenPipeError, OSError):
      pass  # receive() reports why

  def request(self, msg, timeout_s=None):
    self.send(msg)
    self.busy = msg.get("cmd")
    return self.receive(timeout_s)

  def close(self):
    if self.alive():
      try:
        self.conn.send({"cmd": "exit"})
      except (BrokenPipeError, OSError):
        pass
      self.proc.join(timeout=30)
      if self.alive():
        self.proc.kill()
        self.proc.join()
    self.conn.close()
    if self in self.guard.children:
      self.guard.children.remove(self)
