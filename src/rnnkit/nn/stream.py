"""``Stream``: fast streaming inference through a recurrent layer, one fused kernel call a step.

    stream = layer.stream(batch_size=1, state=None)
    y_t = stream.step(x_t)          x_t (I,) (batch 1) or (B, I) -> y_t (W,) or (B, W)
    stream.state                    a copy of the current state, as ``layer.step`` gives it
    stream.reset()                  back to the state the stream started from

Equal to ``layer.step`` (and ``layer.forward``) on the same inputs; the settings, the weights
and the initial state are checked and laid out once, when the stream is made, so that a step
is one check of x_t's shape and dtype and one call of ``rnnkit.core.stream_kernels`` (which
checks x_t finite). The weights are copied then: make a new stream after changing them.
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.stream_kernels import (KINDS, NONLINEARITY, stack_weights, stream_step,
                                        stream_work_size)
from rnnkit.validation import as_float_array, positive_int


class Stream:
    """Streaming inference through ``layer`` for a batch of ``batch_size`` sequences.

    ``state`` as for ``layer.step``: h (L, B, W), or (h, c) for the LSTM, None for the
    layer's initial state (zeros, or the learned h0/c0); with batch_size 1 also (L, W).
    Not for bidirectional layers (the reverse direction needs the whole sequence) nor
    layer_norm (the kernels do not cover it; use ``layer.step``): ValueError naming them.
    """

    def __init__(self, layer, batch_size: int = 1, state=None):
        if layer.bidirectional:
            raise ValueError("stream() needs a unidirectional layer (bidirectional=True): the "
                             "reverse direction depends on future inputs")
        if layer.layer_norm:
            raise ValueError("stream() does not cover layer_norm=True: use layer.step()")
        self.layer, self.batch_size = layer, positive_int(batch_size, "batch_size")
        self.dtype = np.dtype(layer.dtype)
        B, I, H, W = self.batch_size, layer.input_size, layer.hidden_size, layer.output_size
        kind, L = layer.kind, layer.num_layers
        stacked = [stack_weights(kind, layer.cell_params(k), W, self.dtype) for k in range(L)]
        self._w0 = stacked[0][0]  # (I + W, G)
        self._w = np.stack([w for w, _ in stacked[1:]]) if L > 1 else \
            np.empty((0, 2 * W, stacked[0][0].shape[1]), self.dtype)  # (L-1, 2W, G)
        self._b = np.stack([b for _, b in stacked])  # (L, G)
        self._peep = np.stack([layer.params[f"weight_peephole_l{k}"] for k in range(L)]) \
            if layer.peephole else np.empty((L, 0), self.dtype)  # (L, 3H) or none
        self._w_hr = np.stack([layer.params[f"weight_hr_l{k}"].T for k in range(L)]) \
            if layer.proj_size else np.empty((L, 0, 0), self.dtype)  # (L, H, P) or none
        self._h = np.empty((L, B, W), self.dtype)  # (L, B, W) h_t, updated in place
        self._c = np.empty((L, B, H if kind == "lstm" else 0), self.dtype)  # (L, B, H)
        self._work = np.empty(stream_work_size(kind, I, H, W), self.dtype)  # scratch
        self._act = NONLINEARITY[layer.spec.nonlinearity] if kind == "rnn" else 0
        self._kind = KINDS[kind]
        self._shapes = ((B, I), (I,)) if B == 1 else ((B, I),)  # the x_t accepted
        self._y = (self._h[-1], self._h[-1, 0])  # (B, W) and (W,) views of the last layer's h
        for y in self._y:
            y.flags.writeable = False
        self._state0 = [a.copy() for a in self._initial(state)]  # C arrays (L, B, W or H)
        self.reset()

    def _initial(self, state) -> list:
        """The starting state as the layer shapes it: C arrays (L, B, W or H)."""
        parts = state if isinstance(state, (tuple, list)) else (state,)
        given = [a for a in parts if a is not None]
        unbatched = self.batch_size == 1 and given and np.ndim(given[0]) == 2  # (L, W)
        return list(self.layer.initial_state(state, None if unbatched else self.batch_size))

    def reset(self) -> None:
        """Back to the state the stream started from."""
        self._h[...] = self._state0[0]
        if len(self._state0) > 1:
            self._c[...] = self._state0[1]

    @property
    def state(self):
        """A copy of the current state: h (L, B, W), or the pair (h, c) for the LSTM."""
        arrays = [self._h.copy()] + ([self._c.copy()] if len(self._state0) > 1 else [])
        return tuple(arrays) if len(arrays) > 1 else arrays[0]

    def step(self, x_t):
        """One step: x_t (I,) (batch 1) or (B, I). Returns y_t (W,) or (B, W), the last
        layer's h_t: a read-only view of the state buffer that the next step overwrites
        (copy it to keep it)."""
        if type(x_t) is not np.ndarray or x_t.dtype != self.dtype:
            x_t = as_float_array(x_t, "x_t", self.dtype)
        if x_t.shape not in self._shapes:
            raise ValueError(self._bad_shape(x_t.shape))
        if not stream_step(x_t, self._w0, self._w, self._b, self._peep, self._w_hr, self._h,
                           self._c, self._work, self._kind, self._act):
            what = "NaN" if np.isnan(x_t).any() else "inf"
            raise ValueError(f"x_t contains {what}")
        return self._y[1] if x_t.ndim == 1 else self._y[0]

    def _bad_shape(self, shape) -> str:
        B, I = self.batch_size, self.layer.input_size
        if len(shape) not in (1, 2):
            return f"Expected x_t to be 1D (I,) or 2D (B, I), got {len(shape)}D with shape {shape}"
        if shape[-1] != I:
            return f"Expected x_t feature size {I} (last axis), got {shape[-1]} in shape {shape}"
        if len(shape) == 1:
            return f"x_t of shape {shape} is unbatched, but the stream's batch size is {B}"
        return f"Expected x_t batch size {B} (first axis), got {shape[0]} in shape {shape}"

