"""Waiting for another thread without sleeping: polling a flag outside the GIL.

A thread that blocks on a lock sleeps, and waking it costs what the kernel and, in a virtual
machine, the hypervisor take to restart an idle core: on the 2-core Xeon VM (guest halt
polling off) a shard handed to a sleeping thread started 50-170 us after the call, against
loops of 0.4-8 ms (issue 12). ``poll`` instead watches one int64 of a shared array, with a
``pause`` between reads and ``sched_yield`` every 16th, so that another thread that needs the
core (OpenBLAS's) gets it. It runs in numba without the GIL, so the other thread can run
Python meanwhile.

The hand-off of ``rnnkit.core.threads`` (one posting thread, kept workers):

* a worker that finished a job polls for the next one for a while before it sleeps on its
  lock (``finish_and_wait``); when one comes it also waits until the posting thread's own
  shard has started its loop, whose first act is ``announce``: from then on that thread
  does not hold the GIL, so the worker takes it without sleeping on it;
* the posting thread polls for the workers' "done" before it sleeps on their locks.

The flags are hints only: the locks of ``rnnkit.core.threads`` stay the synchronisation, and
a thread that sees a flag still takes its lock, which is then free. A budget that runs out
just means sleeping on the lock, as before.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, register_jitable

_X86 = llvm.get_process_triple().startswith(("x86_64", "i686", "i386"))
_POSIX = sys.platform != "win32"  # sched_yield is in the C library
GO, CALL, DONE = 0, 1, 2  # a worker's flags (int64): its job number, the call the job is part
# of, the number of its last job done


@intrinsic
def _load(typingctx, flags, i):
    """flags[i] of an int64 array, read with acquire ordering (never hoisted out of a loop)."""
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64):
        return None
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)
    return types.int64(flags, types.intp), codegen


@intrinsic
def _store(typingctx, flags, i, value):
    """flags[i] = value, written with release ordering."""
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64):
        return None
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()
    return types.void(flags, types.intp, types.int64), codegen


def _pause(builder):
    if _X86:
        fnty = ir.FunctionType(ir.VoidType(), [])
        builder.call(builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=fnty), [])


@intrinsic
def _relax(typingctx):
    """One ``pause`` on x86 (the spin-wait hint, ~10-40 ns), nothing elsewhere."""
    def codegen(context, builder, signature, args):
        _pause(builder)
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _yield(typingctx):
    """sched_yield(): the core goes to another runnable thread, if there is one (``pause``
    where the C library has no such call)."""
    def codegen(context, builder, signature, args):
        if not _POSIX:
            _pause(builder)
            return context.get_dummy_value()
        fn = builder.module.globals.get("sched_yield")
        if fn is None:
            fn = ir.Function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@njit(nogil=True, cache=True)
def poll(flags, i, want, polls):
    """True as soon as flags[i] == want, False after ``polls`` reads without it."""
    for n in range(polls):
        if _load(flags, i) == want:
            return True
        if n & 15 == 15:
            _yield()
        else:
            _relax()
    return False


@register_jitable(inline="always")
def announce(sync):
    """Called first by a loop that runs under ``rnnkit.core.threads.run_sharded``: sync[0] =
    sync[1] (int64, [started, call]), telling the workers that wait for it
    (``finish_and_wait``) that this thread no longer holds the GIL."""
    _store(sync, 0, _load(sync, 1))


@njit(nogil=True, cache=True)
def finish_and_wait(flags, seq, sync, idle_polls, polls):
    """A worker's side, outside the GIL: flags[DONE] = seq (its job is over), then poll for
    flags[GO] == seq + 1 (the next job) at most ``idle_polls`` times; once seen, poll until
    sync[0] equals flags[CALL] (the posting thread's own shard has started: the GIL is
    free), at most ``polls`` times. False if no job came."""
    _store(flags, DONE, seq)
    if not poll(flags, GO, seq + 1, idle_polls):
        return False
    poll(sync, 0, _load(flags, CALL), polls)
    return True


def polls_per_us() -> float:
    """How many of ``poll``'s reads take a microsecond here (measured once, ~0.1 ms)."""
    flags = np.zeros(1, np.int64)
    poll(flags, 0, 1, 16)  # compiled or loaded
    n = 4096
    t0 = time.perf_counter()
    poll(flags, 0, 1, n)
    return n / max((time.perf_counter() - t0) * 1e6, 1e-3)
