"""Data-parallel training with Hugging Face ``accelerate``: the pieces SFT and RRHF share.

The same ``perfrl-train sft ...`` command runs in one process (as it always did) or in N
processes started by a launcher, each with its own share of every batch::

    accelerate launch --num_processes 4 -m perfrl_train.cli sft ...          # 4 GPUs
    accelerate launch --multi_gpu --num_processes 2 -m perfrl_train.cli sft --cpu ...  # 2 CPU
    torchrun --nproc_per_node 2 -m perfrl_train.cli sft --cpu ...             # the same

(on a machine without a GPU, ``accelerate launch --cpu`` starts ONE process: accelerate's
multi-CPU mode is for MPI; ``--multi_gpu`` with ``--cpu`` on the trainer gives gloo processes).

A caller may rely on:

- :func:`make_accelerator` returning an ``Accelerator`` whose ``num_processes`` is 1 and which
  changes nothing in a single process (no wrapping, no scaling, the same arithmetic);
- :func:`rank_share` splitting one global batch (the same indices on every process) so that
  every index goes to exactly one process;
- :func:`data_parallel_loss` making the processes' gradients, once averaged by DDP, the
  gradient of the token-mean loss over the whole global batch, exactly as one process
  computes it on the concatenated batch (up to float rounding);
- :func:`rng_state` / :func:`restore_rng_state` capturing and restoring one process's
  Python, numpy and torch generators.
"""

from __future__ import annotations

import random

from .errors import PerfRLError


class DataParallelError(PerfRLError):
    """A data-parallel run is configured in a way that cannot work (batch too small)."""


def make_accelerator(cpu: bool = False):
    """The ``Accelerator`` of this process (the launcher's settings come from the environment;
    ``cpu`` keeps it off a GPU). Mixed precision stays off: the trainers' ``--bf16`` decides."""
    from accelerate import Accelerator

    return Accelerator(cpu=cpu, mixed_precision="no")


def check_batch_fits(batch_size: int, num_processes: int) -> None:
    """Every process needs at least one example of each global batch."""
    if batch_size < num_processes:
        raise DataParallelError(
            f"--batch-size {batch_size} is smaller than the {num_processes} processes: each "
            "process needs at least one pair per step (the batch size is the global one, "
            "split across processes)")


def rank_share(indices: list[int], rank: int, num_processes: int) -> list[int]:
    """This process's part of a global batch: every ``num_processes``-th index from ``rank``
    (batches are length-grouped, so interleaving keeps the shares' lengths alike)."""
    return indices[rank::num_processes]


def data_parallel_loss(mean_loss, local_tokens, global_tokens, num_processes: int):
    """The loss this process back-propagates so that DDP's gradient average equals the
    gradient of the token-mean loss over the global batch.

    ``mean_loss`` is this process's token-mean cross-entropy over ``local_tokens`` target
    tokens; the global batch has ``global_tokens``. One process: ``mean_loss`` itself."""
    if num_processes == 1:
        return mean_loss
    return mean_loss * (local_tokens * num_processes / global_tokens)


def rng_state() -> dict:
    """This process's Python, numpy and torch generator states (picklable)."""
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def restore_rng_state(state: dict) -> None:
    import numpy as np
    import torch

    if "python" in state:
        random.setstate(state["python"])
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    if "torch" in state:
        torch.set_rng_state(state["torch"])


def gather_from_all(value) -> list:
    """Every process's ``value`` (picklable), by rank; ``[value]`` in a single process (a
    collective: all processes call it)."""
    from accelerate.utils import gather_object

    return list(gather_object([value]))


def gather_rng_states(accelerator) -> list[dict]:
    """Every process's :func:`rng_state`, by rank (a collective: all processes call it)."""
    return gather_from_all(rng_state())


def reduce_sum(accelerator, value: float) -> float:
    """``value`` summed over the processes (float64; a collective in several processes)."""
    if accelerator.num_processes == 1:
        return value
    import torch

    tensor = torch.tensor(float(value), dtype=torch.float64, device=accelerator.device)
    return float(accelerator.reduce(tensor, reduction="sum"))


def any_process(accelerator, flag: bool) -> bool:
    """True on every process when ``flag`` is true on at least one (a collective)."""
    return reduce_sum(accelerator, 1.0 if flag else 0.0) > 0


class StopSignals:
    """While active (a ``with`` block), SIGTERM and SIGINT ask the training loop to stop at the
    end of the current step instead of killing it, so it can write a checkpoint first;
    :attr:`requested` names the first signal. A second signal stops at once (the default
    action). Outside the main thread (no signal handlers there) it does nothing."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self
        for number in (signal.SIGTERM, signal.SIGINT):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, _frame) -> None:
        import signal

        if self.requested is not None:  # asked twice: stop now
            signal.signal(number, self._previous.get(number, signal.SIG_DFL))
            signal.raise_signal(number)
            return
        self.requested = signal.Signals(number).name

    def __exit__(self, *_exc) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
