"""The benchmarks users care about, beside ``rnnkit bench``'s layer table (issue 12).

* ``model``: one training step of a whole model, ``SequenceModel`` (LSTM, last-step head,
  MSE loss, Adam) against its torch twin (``rnnkit.to_torch``), each driven by its engine
  (``NumpyEngine`` / ``TorchEngine``, what ``--engine numpy|torch`` run): forward, loss,
  backward, gradient norm and the Adam update. Target: <= 1.0x torch.
* ``stream``: streaming inference one step at a time at batch 1, the fused path
  ``layer.stream().step`` (and the plain ``layer.step`` beside it) against
  ``torch.nn.LSTMCell``/``GRUCell`` under ``no_grad`` (the fastest torch way measured: the
  layer module called on one step is 1.1-50x slower), in microseconds per step; target
  < 5 us at H=64 for the fused path. And its memory: the tracemalloc peak of 100 and of
  10,000 steps.
* ``commands``: each command's default training, ``--engine numpy`` against
  ``--engine torch``, in sequences per second. The command runs with its defaults until its
  first update, where its engine, model and first batch are taken (:func:`capture`); then
  both engines repeat updates of that model on that batch. Target: numpy at least as fast.

Every section interleaves rnnkit and torch (``rnnkit.cli.bench_timing``) and returns rows
of Markdown cells with their target and a verdict from the repetitions' paired ratios
(``bench_timing.judge``): "meets", "misses" or "inside the noise".
"""
from __future__ import annotations

import tempfile
import tracemalloc

import numpy as np

from rnnkit.cli.bench_timing import interleaved, judge, median_iqr, ratio_cell, with_spread

MODEL_SHAPES = [(32, 50, 1, 64), (64, 100, 128, 128), (16, 200, 64, 256)]  # (B, T, I, H)
STREAM_SIZES = [("lstm", 64), ("lstm", 256), ("gru", 64), ("gru", 256)]  # (cell, H)
STREAM_INPUT = 8  # features per step
COMMANDS = ("forecast", "classify", "textgen", "translate")
MEMORY_STEPS = (100, 10_000)


def _step(engine, batch):
    """One training update of ``engine`` on ``batch``: what the Trainer runs per batch."""
    def run():
        engine.forward(batch, None, True)
        engine.update()
    return run


def _engine_row(numpy_engine, torch_engine, batch, repeat, warmup):
    """Interleaved updates of both engines: ([rnnkit s], [torch s]) samples."""
    return interleaved([_step(numpy_engine, batch), _step(torch_engine, batch)], repeat,
                       warmup)


# --- a model's training step -------------------------------------------------------------
MODEL_HEAD = ("| model (B, T, I, H) | rnnkit ms | torch ms | ratio | target | verdict |\n"
              "|---|---|---|---|---|---|")


def model_step(shapes, repeat, warmup, log=print) -> list[str]:
    """Rows for SequenceModel("lstm", head="last") + MSE + Adam against its torch twin."""
    from rnnkit.interop.torch_engine import TorchEngine
    from rnnkit.nn.losses import MSELoss
    from rnnkit.nn.models import SequenceModel
    from rnnkit.train.engine import NumpyEngine
    from rnnkit.train.optim import Adam
    from rnnkit.train.tasks import SupervisedTask

    rows = []
    for B, T, I, H in shapes:
        model = SequenceModel("lstm", input_size=I, hidden_size=H, output_size=1, seed=0)
        rng = np.random.default_rng(0)
        batch = {"x": rng.standard_normal((B, T, I)).astype(np.float32),  # (B, T, I)
                 "y": rng.standard_normal((B, 1)).astype(np.float32)}  # (B, 1)
        loss, task = MSELoss(), SupervisedTask(MSELoss())
        ours = NumpyEngine(model, task, Adam(model, lr=1e-3))
        theirs = TorchEngine(model, loss, task, optimizer=Adam(model, lr=1e-3))
        t_ours, t_theirs = _engine_row(ours, theirs, batch, repeat, warmup)
        ratios = t_ours / t_theirs  # paired, per repetition
        rows.append(f"| lstm ({B}, {T}, {I}, {H}) | {with_spread(t_ours, 1e3)} | "
                    f"{with_spread(t_theirs, 1e3)} | {ratio_cell(ratios)} | <= 1.0x | "
                    f"{judge(ratios, 1.0)} |")
        log(rows[-1])
    return rows


# --- streaming inference -------------------------------------------------------------------
STREAM_HEAD = ("| stream (cell, H) | rnnkit stream us/step | layer.step us/step "
               "| torch cell us/step | ratio (stream / torch) | target | verdict |\n"
               "|---|---|---|---|---|---|---|")
MEMORY_HEAD = (f"| stream memory (cell, H) | state bytes | peak bytes, {MEMORY_STEPS[0]} steps "
               f"| peak bytes, {MEMORY_STEPS[1]:,} steps | flat in T |\n|---|---|---|---|---|")


def _stream_fns(torch, cell, H, steps):
    """(fused_fn, step_fn, torch_fn, layer): each runs ``steps`` steps from a zero state,
    batch 1: through ``layer.stream()``, ``layer.step`` and torch's cell."""
    from rnnkit.interop.torch_convert import to_torch
    from rnnkit.nn.recurrent import LAYERS

    layer = LAYERS[cell](STREAM_INPUT, H, seed=0)
    module = to_torch(layer)
    torch_cell = getattr(torch.nn, f"{cell.upper()}Cell")(STREAM_INPUT, H)
    with torch.no_grad():  # the layer's weights in the cell
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(torch_cell, name).copy_(getattr(module, name + "_l0"))
    x = np.ones((1, STREAM_INPUT), np.float32)  # (B=1, I)
    xt = torch.from_numpy(x)
    stream = layer.stream(1)

    def fused():
        stream.reset()
        for _ in range(steps):
            stream.step(x)

    def plain():
        state = None
        for _ in range(steps):
            _, state = layer.step(x, state)

    def theirs():
        state = None
        with torch.no_grad():
            for _ in range(steps):
                state = torch_cell(xt, state)

    return fused, plain, theirs, layer


def stream_memory(layer, steps: int, fused: bool = False) -> tuple[int, int]:
    """(bytes of the state, tracemalloc peak) over ``steps`` steps of ``layer.step``, or of
    ``layer.stream().step`` with ``fused``."""
    x = np.ones((1, layer.input_size), np.float32)  # (B=1, I)
    state, stream = None, layer.stream(1) if fused else None
    tracemalloc.start()
    for _ in range(steps):
        if fused:
            stream.step(x)
        else:
            _, state = layer.step(x, state)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    state = stream.state if fused else state
    nbytes = sum(a.nbytes for a in (state if isinstance(state, tuple) else (state,)))
    return nbytes, peak


def streaming(torch, sizes, steps, repeat, warmup, memory_steps=MEMORY_STEPS,
              log=print) -> tuple[list[str], list[str]]:
    """Rows of per-step latency and rows of the fused path's memory, one per (cell, H)."""
    rows, memory = [], []
    for cell, H in sizes:
        fused, plain, theirs, layer = _stream_fns(torch, cell, H, steps)
        t_fused, t_plain, t_theirs = interleaved([fused, plain, theirs], repeat, warmup)
        us = 1e6 / steps
        target, meets = ("< 5 us", judge(t_fused * us, 5.0, strict=True)) \
            if H == 64 else ("-", "-")
        rows.append(f"| {cell} ({H}) | {with_spread(t_fused, us, 1)} | "
                    f"{with_spread(t_plain, us, 1)} | {with_spread(t_theirs, us, 1)} | "
                    f"{ratio_cell(t_fused / t_theirs)} | {target} | {meets} |")
        log(rows[-1])
        (state_bytes, short), (_, long) = (stream_memory(layer, n, fused=True)
                                           for n in memory_steps)
        memory.append(f"| {cell} ({H}) | {state_bytes:,} | {short:,} | {long:,} | "
                      f"{'yes' if long <= 1.5 * short else 'no'} |")
    log("\n".join([MEMORY_HEAD, *memory]))
    return rows, memory


# --- each command's default training -------------------------------------------------------
COMMANDS_HEAD = ("| command (default model, batch) | numpy seq/s | torch seq/s | numpy / torch "
                 "| target | verdict |\n|---|---|---|---|---|---|")


class _Captured(BaseException):
    """Raised at a command's first training update, carrying its engine and batch (a
    BaseException, so that no command's error handling takes it for a failure)."""

    def __init__(self, engine, batch):
        super().__init__("captured")
        self.engine, self.batch = engine, batch


def capture(command: str, argv=()):
    """Run ``rnnkit command`` (its defaults, plus ``argv``) up to its first training update
    and return that update's NumpyEngine and batch; the run folder is temporary."""
    from rnnkit.cli import main
    from rnnkit.train.engine import NumpyEngine

    forward = NumpyEngine.forward

    def first_update(self, batch, carry, train):
        if train:
            raise _Captured(self, batch)
        return forward(self, batch, carry, train)

    NumpyEngine.forward = first_update
    try:
        with tempfile.TemporaryDirectory() as folder:
            try:
                main([command, "--out", f"{folder}/run", *argv])
            except _Captured as got:
                return got.engine, got.batch
    finally:
        NumpyEngine.forward = forward
    raise RuntimeError(f"rnnkit {command} finished without a training update")


def commands(names, repeat, warmup, argv=(), log=print) -> list[str]:
    """Rows of sequences per second of each command's default update, numpy and torch."""
    from rnnkit.interop.torch_engine import TorchEngine

    rows = []
    for name in names:
        ours, batch = capture(name, argv)
        theirs = TorchEngine(ours.model, ours.task.loss_fn, ours.task,
                             optimizer=ours.optimizer, clip_norm=ours.clip_norm)
        t_ours, t_theirs = _engine_row(ours, theirs, batch, repeat, warmup)
        n = len(batch["x"])
        slower = t_ours / t_theirs  # numpy time / torch time, paired per repetition
        config = ours.model.config()
        what = (f"{type(ours.model).__name__} {config.get('cell', '')}"
                f"({config.get('hidden_size', '')}), x {batch['x'].shape}")
        rows.append(f"| {name}: {what} | {_rates(n, t_ours)} | {_rates(n, t_theirs)} | "
                    f"{ratio_cell(1 / slower)} | >= 1.0x | {judge(slower, 1.0)} |")
        log(rows[-1])
    return rows


def _rates(n: int, seconds) -> str:
    """Sequences per second: the median and the interquartile range (slowest-fastest)."""
    med, q1, q3 = median_iqr(seconds)
    return f"{n / med:,.0f} ({n / q3:,.0f}-{n / q1:,.0f})"
