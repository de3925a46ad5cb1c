"""Where a batch's tasks run: in this process, one at a time, or as Ray tasks on a local or joined cluster.

Ray does all the scheduling (one task per image or sequence chunk; a GPU each where the cluster has
GPUs, a CPU each otherwise, or more when there are fewer tasks than CPUs) and retries a task whose
worker died; a task's result folder appears only when complete, so a retry or a resumed batch never
sees half a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from diffpaint.batch.tasks import ChunkTask, ImageTask, run_task

Task = ImageTask | ChunkTask
RETRIES = 3  # a task whose worker dies (killed, out of memory, node lost) runs again up to this often


@dataclass(frozen=True)
class Outcome:
    task: Task
    summary: str  # one line on the result, or why it failed
    failed: bool


OnDone = Callable[[Outcome], None]


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run_in_process(tasks: Sequence[Task], on_done: OnDone) -> None:
    """Each task in turn, here; a failing item is reported and the batch goes on."""
    for task in tasks:
        try:
            on_done(Outcome(task, run_task(task), False))
        except Exception as e:  # an item's failure (bad image, out of memory …) must not sink the batch
            on_done(Outcome(task, f"{type(e).__name__}: {e}", True))


def run_on_ray(tasks: Sequence[Task], on_done: OnDone, address: str | None = None) -> None:
    """Every task as a Ray task; results reported as they finish. Joins the cluster at `address` (or
    RAY_ADDRESS), starts a local one when neither is given, or uses the Ray this process already runs."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        resources = ray.cluster_resources()
        # A GPU per task where there are GPUs; else CPUs shared out, so fewer items than CPUs (one long
        # sequence) still use every core (Ray sets a task's thread count from its CPUs).
        cpus = 1 if resources.get("GPU") else max(1, int(resources.get("CPU", 1)) // max(1, len(tasks)))
        remote = ray.remote(num_cpus=cpus, num_gpus=1 if resources.get("GPU") else 0, max_retries=RETRIES)(run_task)
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            try:
                on_done(Outcome(task, ray.get(ready[0]), False))
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if isinstance(e.cause, BaseException) else e
                on_done(Outcome(task, f"{type(cause).__name__}: {cause}", True))
            except ray.exceptions.RayError as e:  # the worker died more often than it was retried
                on_done(Outcome(task, f"{type(e).__name__}: {str(e).splitlines()[0]}", True))
    finally:
        if started:
            ray.shutdown()


class BatchProgress:
    """One line per finished item, with the count across the batch, elapsed time and an estimate of
    the time left (from the mean time per item so far)."""

    def __init__(self, total: int, skipped: int, write: Callable[[str], None]):
        self.total, self.done, self.failed = total, skipped, 0
        self.fresh = 0
        self.write = write
        self.start = time.perf_counter()

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        self.fresh += 1
        self.failed += outcome.failed
        elapsed = time.perf_counter() - self.start
        left = (self.total - self.done) * elapsed / self.fresh
        status = "FAILED" if outcome.failed else "done"
        self.write(f"[{self.done}/{self.total}] {outcome.task.name}: {status} ({outcome.summary}); "
                   f"{elapsed:.0f} s elapsed, ~{left:.0f} s left")
