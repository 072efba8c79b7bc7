"""Worker processes: forked, and killed with their parent.

Rendering and the PDF stage both run their work on a pool of processes
(each with its own GIL: two threads cutting PDFs took turns on one).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor


def worker_pool(workers: int) -> Executor:
    """``workers`` forked processes that die with this one; threads where there is no fork."""
    if "fork" not in mp.get_all_start_methods():
        return ThreadPoolExecutor(max_workers=workers)
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=die_with_parent,
                               initargs=(os.getpid(),))


def die_with_parent(parent: int) -> None:
    """A pool worker's first act: ask the kernel to kill it when its parent dies, even by SIGKILL.

    Otherwise a killed run leaves its workers holding the caller's stdout and
    stderr (a CI job waiting on them hangs).  Linux only (prctl).
    """
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    for s in (signal.SIGTERM, signal.SIGHUP):  # the parent handles these and stops the pool
        signal.signal(s, signal.SIG_DFL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
