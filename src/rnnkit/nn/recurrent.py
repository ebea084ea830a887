"""``RNN``, ``LSTM`` and ``GRU`` layers with PyTorch's parameters and batch-first arrays.

    y, state = layer.forward(x, state=None, lengths=None)     x (B, T, I) -> y (B, T, D*H)
    dx, dstate0 = layer.backward(dy, dstate=None)             full BPTT, grads accumulate
    _, dstate0 = layer.backward(dy, need_input_grad=False)    x is data: dx None, not computed
    y_t, state = layer.step(x_t, state)                       streaming, O(1) memory in T
    stream = layer.stream(batch_size=1); y_t = stream.step(x_t)   the same, one fused call

``state`` is h of shape (L*D, B, H), or the pair (h, c) for the LSTM. ``lengths`` (B,) gives
each sequence's valid length in a right-padded batch, with the semantics of PyTorch's packed
sequences. Equations are in ``rnnkit.core.cells``; the stack is in ``rnnkit.core.stack``.

Variants, all off by default, each combinable with layers, directions and ``lengths``:

* ``learn_initial_state=True``: parameters ``h0`` (and ``c0``) of shape (L*D, H), shared by
  every sequence of a batch and trained; they stand for any part of ``state`` not given.
* ``recurrent_dropout=p``: variational dropout on h_{t-1} where it enters the hidden
  projection, one mask per sequence, layer and direction for all steps, in training mode
  only (Gal & Ghahramani, "A theoretically grounded application of dropout in recurrent
  neural networks", NeurIPS 2016).
* ``LSTM(proj_size=P)``: ``torch.nn.LSTM``'s projection h_t = (o_t * tanh(c_t)) W_hr^T
  (Sak, Senior & Beaufays, "Long short-term memory recurrent neural network architectures for
  large scale acoustic modeling", 2014); h is (L*D, B, P), the output (B, T, D*P).
* ``LSTM(peephole=True)``: diagonal peepholes ``weight_peephole_l{k}`` (3H,) = [p_i, p_f, p_o]:
  i and f see c_{t-1}, o sees c_t (Gers & Schmidhuber, "Recurrent nets that time and count",
  2000).
* ``LSTM/GRU(layer_norm=True)``: layer normalisation of the input projection x W_ih^T and of
  the hidden projection h W_hh^T (each over its G*H entries), and for the LSTM of c_t before
  its tanh, h_t = o * tanh(LN(c_t)); gains ``ln_weight_{ih,hh,c}_l{k}`` and biases
  ``ln_bias_{ih,hh,c}_l{k}`` are parameters (Ba, Kiros & Hinton, "Layer normalization",
  2016). The numba kernels do not cover it: such a layer runs the NumPy time loop. Not
  with proj_size.
"""
from __future__ import annotations

import warnings

import numpy as np

from rnnkit.core import scan as numpy_scan
from rnnkit.core.backends import get_backend
from rnnkit.core.cells import CELLS
from rnnkit.core.init import NORMED, init_recurrent, param_suffix, seed_sequence
from rnnkit.core.stack import RecurrentSpec, recurrent_backward, recurrent_forward
from rnnkit.nn.module import Module, grad_enabled
from rnnkit.nn.registry import register_module
from rnnkit.nn.stream import Stream
from rnnkit.validation import (check_activation, check_input, check_lengths, check_number,
                               check_state, float_dtype, positive_int)


# the variants' settings and their values when off (config and repr name only those on)
VARIANTS = {"learn_initial_state": False, "recurrent_dropout": 0.0, "proj_size": 0,
            "peephole": False, "layer_norm": False}


class Recurrent(Module):
    kind = ""

    def __init__(self, input_size, hidden_size, num_layers=1, *, nonlinearity="tanh", bias=True,
                 bidirectional=False, dropout=0.0, dtype=np.float32, seed=None, backend="auto",
                 learn_initial_state=False, recurrent_dropout=0.0, proj_size=0,
                 peephole=False, layer_norm=False):
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        dropout = check_number(dropout, "dropout", low=0, high=1)
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout acts between layers and has no effect with num_layers=1",
                          stacklevel=3)
        recurrent_dropout = check_number(recurrent_dropout, "recurrent_dropout", low=0, high=1)
        proj_size = check_number(proj_size, "proj_size", low=0, integer=True)
        if proj_size and self.kind != "lstm":
            raise ValueError("proj_size applies to the LSTM only")
        if peephole and self.kind != "lstm":
            raise ValueError("peephole applies to the LSTM only")
        if layer_norm and self.kind == "rnn":
            raise ValueError("layer_norm applies to the LSTM and the GRU")
        if layer_norm and proj_size:
            raise ValueError("layer_norm cannot be combined with proj_size")
        if proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size ({self.hidden_size}),"
                             f" got {proj_size}")
        if proj_size and recurrent_dropout:
            raise ValueError("recurrent_dropout cannot be combined with proj_size")
        self.dtype = float_dtype(dtype)
        self.spec = RecurrentSpec(self.kind, self.hidden_size, self.num_layers,
                                  bool(bidirectional), bool(bias), nonlinearity, proj_size,
                                  bool(peephole), bool(layer_norm))
        self.dropout = float(dropout)
        self.recurrent_dropout = recurrent_dropout
        self.learn_initial_state = bool(learn_initial_state)
        self.backend = backend
        self._scan = get_backend(backend)
        self.seed = seed
        init_seq, dropout_seq = seed_sequence(seed).spawn(2)
        params = init_recurrent(self.kind, self.input_size, self.hidden_size, self.num_layers,
                                self.spec.bidirectional, self.spec.bias, self.dtype,
                                np.random.default_rng(init_seq), proj_size, bool(peephole),
                                bool(layer_norm))
        if self.learn_initial_state:  # zeros: training starts from the usual initial state
            for name, shape in zip(CELLS[self.kind].CARRY, self._state_shapes(None)):
                params[name + "0"] = np.zeros(shape, self.dtype)  # (L*D, H) or (L*D, P)
        super().__init__(params)
        self.rng = np.random.default_rng(dropout_seq)  # dropout masks

    def __getstate__(self):
        """Pickling and deepcopy: the backend module is looked up again, not copied."""
        state = dict(self.__dict__)
        state.pop("_scan")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._scan = get_backend(self.backend)

    # --- settings ------------------------------------------------------------------------
    @property
    def bidirectional(self) -> bool:
        return self.spec.bidirectional

    @property
    def bias(self) -> bool:
        return self.spec.bias

    @property
    def num_directions(self) -> int:
        return self.spec.num_directions

    @property
    def proj_size(self) -> int:
        return self.spec.proj_size

    @property
    def peephole(self) -> bool:
        return self.spec.peephole

    @property
    def layer_norm(self) -> bool:
        return self.spec.layer_norm

    @property
    def time_loop(self):
        """The module that runs the time loop: the chosen backend, or the NumPy reference
        (``rnnkit.core.scan``) for what the numba kernels do not cover (layer
        normalisation)."""
        return numpy_scan if self.spec.layer_norm else self._scan

    @property
    def output_size(self) -> int:
        """The width of h and of each direction's output: proj_size if set, else hidden_size."""
        return self.spec.output_size

    def config(self) -> dict:
        """The constructor's arguments, enough to build the same layer again."""
        cfg = dict(input_size=self.input_size, hidden_size=self.hidden_size,
                   num_layers=self.num_layers, bias=self.bias,
                   bidirectional=self.bidirectional, dropout=self.dropout,
                   dtype=np.dtype(self.dtype).name)
        if self.kind == "rnn":
            cfg["nonlinearity"] = self.spec.nonlinearity
        for name, off in VARIANTS.items():  # only those that are on: older files stay equal
            if getattr(self, name) != off:
                cfg[name] = getattr(self, name)
        return cfg

    def __repr__(self) -> str:
        args = [str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            args.append(f"num_layers={self.num_layers}")
        if self.kind == "rnn" and self.spec.nonlinearity != "tanh":
            args.append(f"nonlinearity={self.spec.nonlinearity!r}")
        if not self.bias:
            args.append("bias=False")
        if self.bidirectional:
            args.append("bidirectional=True")
        if self.dropout:
            args.append(f"dropout={self.dropout}")
        args += [f"{name}={getattr(self, name)!r}" for name, off in VARIANTS.items()
                 if getattr(self, name) != off]
        return f"{type(self).__name__}({', '.join(args)})"

    # --- states --------------------------------------------------------------------------
    def _state_shape(self, batch):
        n = self.num_layers * self.num_directions
        return (n, self.hidden_size) if batch is None else (n, batch, self.hidden_size)

    def _state_shapes(self, batch):
        """The shape of each carried array, (L*D, B, W) or (L*D, W) for batch None: W is H,
        or P for the h of an LSTM with proj_size."""
        shape = self._state_shape(batch)
        widths = [self.output_size] + [self.hidden_size] * (len(CELLS[self.kind].CARRY) - 1)
        return [shape[:-1] + (w,) for w in widths]

    def _split_state(self, state, batch, label="{}0"):
        """The state as one array (C, L*D, B, H): a block per name in the cell's CARRY (h, or h
        and c), zeros where not given. With proj_size, the pair of arrays (h (L*D, B, P),
        c (L*D, B, H)) instead."""
        names = CELLS[self.kind].CARRY
        if self.proj_size:
            arrays = tuple(np.zeros(shape, self.dtype) for shape in self._state_shapes(batch))
        else:
            arrays = np.zeros((len(names), *self._state_shape(batch)), self.dtype)  # (C, L*D, B, H)
        if state is not None:
            if len(names) == 1:
                if isinstance(state, (tuple, list)):
                    raise ValueError(f"{type(self).__name__} state is a single array h, "
                                     "not a tuple")
                state = (state,)
            elif not (isinstance(state, (tuple, list)) and len(state) == len(names)):
                raise ValueError(f"{type(self).__name__} state must be a pair "
                                 f"({', '.join(names)})")
            for i, (a, name) in enumerate(zip(state, names)):
                if a is not None:
                    arrays[i][...] = check_state(a, label.format(name), arrays[i].shape,
                                                 self.dtype)
        if batch is not None:
            return arrays
        if self.proj_size:
            return tuple(a[:, None] for a in arrays)  # unbatched: B = 1
        return arrays[:, :, None]

    def _join_state(self, arrays, unbatched):
        """The public form of a state array (C, L*D, B, H) (or of the pair with proj_size):
        h, or the pair (h, c)."""
        if unbatched:
            arrays = [a[:, 0] for a in arrays]  # each (L*D, W)
        return tuple(arrays) if len(arrays) > 1 else arrays[0]

    def _learned_parts(self, state) -> list:
        """The indices of the carried arrays that come from the learned ``h0``/``c0``: those
        not given in ``state`` (none without learn_initial_state)."""
        if not self.learn_initial_state:
            return []
        if state is None:
            return list(range(len(CELLS[self.kind].CARRY)))
        parts = state if isinstance(state, (tuple, list)) else (state,)
        return [i for i, a in enumerate(parts) if a is None]

    def initial_state(self, state, batch):
        """The initial state the layer runs from, as :meth:`_split_state` shapes it: ``state``
        where given, else the learned ``h0``/``c0`` broadcast over the batch
        (learn_initial_state), else zeros. batch None: unbatched."""
        arrays = self._split_state(state, batch)
        for i in self._learned_parts(state):
            name = CELLS[self.kind].CARRY[i]
            arrays[i][...] = self.params[name + "0"][:, None, :]  # (L*D, 1, W) over the batch
        return arrays

    # --- forward and backward ------------------------------------------------------------
    def forward(self, x, state=None, lengths=None):
        """x: (B, T, I) or (T, I). Returns y (B, T, D*H) and the final state (see module doc).

        While gradients are recorded, y may be read-only (one direction, no lengths, no
        proj_size): it is then the buffer the backward reads h_t from, and torch too refuses
        an in-place change to a tensor saved for backward; copy it to change it."""
        x = check_input(x, self.input_size, self.dtype)
        unbatched = x.ndim == 2
        if unbatched:
            x = x[None]  # (1, T, I)
        B, T, _ = x.shape
        state0 = self.initial_state(state, None if unbatched else B)
        mask = None
        if lengths is not None:
            lengths = check_lengths(np.atleast_1d(lengths), B, T)
            if lengths.min() < T:
                mask = (np.arange(T)[None, :] < lengths[:, None]).astype(self.dtype)[..., None]
        p = self.dropout if self.training else 0.0
        p_rec = self.recurrent_dropout if self.training else 0.0
        y, state_n, cache = recurrent_forward(self.spec, self.params, np.ascontiguousarray(x),
                                              state0, mask, backend=self.time_loop, dropout=p,
                                              rng=self.rng, recurrent_dropout=p_rec,
                                              keep=grad_enabled())  # y (B, T, D*H)
        self.save_for_backward((cache, unbatched, y.shape, self._learned_parts(state)))
        if unbatched:
            y = y[0]
        return y, self._join_state(state_n, unbatched)

    def backward(self, dy, dstate=None, *, need_input_grad=True):
        """dy: gradient of y; dstate: gradient of the final state (None for zero).

        Adds into ``self.grads`` and returns (dx, dstate0) shaped like x and the initial state.
        ``need_input_grad=False`` when x is data (torch: x does not require grad): dx is None
        and its product dG W_ih is never computed; models pass it for a first layer that
        reads their input. The forward cache is released, as PyTorch frees its graph after
        backward.
        """
        cache, unbatched, y_shape, learned = self.saved()
        dy = np.asarray(dy, dtype=self.dtype)
        if unbatched:
            dy = dy[None]
        if dy.shape != y_shape:
            raise ValueError(f"Expected dy of shape {y_shape if not unbatched else y_shape[1:]}, "
                             f"got {dy.shape if not unbatched else dy.shape[1:]}")
        check_activation(dy, "dy")
        dstate_n = self._split_state(dstate, None if unbatched else y_shape[0], "d{}_n")
        dx, dstate0 = recurrent_backward(self.spec, self.params, cache, dy, dstate_n,
                                         self.grads, backend=self.time_loop,
                                         input_grad=need_input_grad)  # dx (B, T, I)
        for i in learned:  # backprop through the broadcast of h0 (c0) over the batch
            self.grads[CELLS[self.kind].CARRY[i] + "0"] += dstate0[i].sum(axis=1)
        if need_input_grad and unbatched:
            dx = dx[0]
        return dx, self._join_state(dstate0, unbatched)

    __call__ = forward

    # --- streaming -----------------------------------------------------------------------
    def cell_params(self, layer: int, direction: int = 0) -> dict:
        """The parameters of one layer and direction, keyed like ``torch.nn.*Cell``."""
        s = param_suffix(layer, direction)
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        if self.proj_size:
            names.append("weight_hr")
        if self.peephole:
            names.append("weight_peephole")
        if self.layer_norm:
            names += [f"ln_{w}_{part}" for part in NORMED[self.kind] for w in ("weight", "bias")]
        return {name: self.params.get(name + s) for name in names}

    def step(self, x_t, state=None):
        """One time step for streaming inference, keeping only the current state.

        x_t: (B, I) or (I,). Returns y_t (B, H) and the new state; memory does not grow with
        the number of steps taken. Unidirectional layers only (a reverse direction needs the
        whole sequence). No dropout is applied.
        """
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional layer: the reverse direction "
                             "depends on future inputs")
        x_t = np.asarray(x_t, dtype=self.dtype)
        if x_t.ndim not in (1, 2):
            raise ValueError(f"Expected x_t to be 1D (I,) or 2D (B, I), got {x_t.ndim}D")
        x = check_input(x_t[..., None, :], self.input_size, self.dtype)[..., 0, :]
        unbatched = x.ndim == 1
        if unbatched:
            x = x[None]  # (1, I)
        state = self.initial_state(state, None if unbatched else x.shape[0])  # (C, L, B, H)
        cell, options = CELLS[self.kind], self.spec.options
        C = len(cell.CARRY)
        state_n = [np.empty_like(state[c]) for c in range(C)]  # C arrays (L, B, W)
        inp = x
        for layer in range(self.num_layers):
            carry, inp, _ = cell.step(self.cell_params(layer), inp,
                                      tuple([state[c][layer] for c in range(C)]), **options)
            for c in range(C):
                state_n[c][layer] = carry[c]
        y = inp[0] if unbatched else inp  # (H,) or (B, H)
        return y, self._join_state(state_n, unbatched)

    def stream(self, batch_size: int = 1, state=None):
        """A :class:`rnnkit.nn.stream.Stream`: :meth:`step` with the settings, weights and
        initial state checked and laid out once, each step one fused numba call into state
        buffers updated in place. Not for bidirectional or layer_norm layers (ValueError)."""
        return Stream(self, batch_size, state)


@register_module
class RNN(Recurrent):
    """Elman RNN, ``h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, f in tanh|relu|sigmoid.

    Arguments as ``torch.nn.RNN`` with ``batch_first=True``, plus ``dtype``, ``seed`` (weight
    initialisation and dropout masks) and ``backend`` ("auto", "numpy", "numba"), and the
    variants of the module doc: ``learn_initial_state`` (parameter ``h0`` (L*D, H), used
    when no state is passed) and ``recurrent_dropout`` (one mask on h_{t-1} per sequence).
    """
    kind = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 bidirectional=False, dropout=0.0, dtype=np.float32, seed=None, backend="auto",
                 *, learn_initial_state=False, recurrent_dropout=0.0):
        if nonlinearity not in ("tanh", "relu", "sigmoid"):
            raise ValueError(f"Unknown nonlinearity {nonlinearity!r}; expected 'tanh', 'relu' "
                             "or 'sigmoid'")
        super().__init__(input_size, hidden_size, num_layers, nonlinearity=nonlinearity,
                         bias=bias, bidirectional=bidirectional, dropout=dropout, dtype=dtype,
                         seed=seed, backend=backend, learn_initial_state=learn_initial_state,
                         recurrent_dropout=recurrent_dropout)


@register_module
class LSTM(Recurrent):
    """Long short-term memory, gates i, f, g, o as ``torch.nn.LSTM``; state is (h, c).

    ``c_t = f * c_{t-1} + i * g``,  ``h_t = o * tanh(c_t)``; see ``rnnkit.core.cells.lstm``.

    Variants (module doc): ``proj_size=P`` as ``torch.nn.LSTM``'s, h_t = (o * tanh(c_t)) W_hr^T
    with ``weight_hr_l{k}`` (P, H): h is (L*D, B, P), c (L*D, B, H), the output (B, T, D*P);
    ``peephole=True``: i = s(a_i + p_i * c_{t-1}), f = s(a_f + p_f * c_{t-1}),
    o = s(a_o + p_o * c_t) with ``weight_peephole_l{k}`` (3H,) = [p_i, p_f, p_o];
    ``layer_norm=True``: the gates read LN(x W_ih^T) + b_ih + LN(h W_hh^T) + b_hh and
    h_t = o * tanh(LN(c_t)); ``learn_initial_state`` (parameters ``h0`` (L*D, P or H) and
    ``c0`` (L*D, H)), and ``recurrent_dropout`` (one mask on h_{t-1} per sequence; not with
    proj_size).
    """
    kind = "lstm"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                 dropout=0.0, dtype=np.float32, seed=None, backend="auto", *, proj_size=0,
                 peephole=False, layer_norm=False, learn_initial_state=False,
                 recurrent_dropout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias=bias,
                         bidirectional=bidirectional, dropout=dropout, dtype=dtype, seed=seed,
                         backend=backend, learn_initial_state=learn_initial_state,
                         recurrent_dropout=recurrent_dropout, proj_size=proj_size,
                         peephole=peephole, layer_norm=layer_norm)


@register_module
class GRU(Recurrent):
    """Gated recurrent unit, gates r, z, n as ``torch.nn.GRU`` (b_hn inside the reset gate).

    ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``,  ``h_t = (1 - z) * n + z * h_{t-1}``.

    Variants (module doc): ``learn_initial_state`` (parameter ``h0`` (L*D, H)),
    ``recurrent_dropout`` (one mask on h_{t-1} per sequence, in r, z and n's h W_hh^T; the
    carried z * h_{t-1} is not dropped) and ``layer_norm`` ([r, z, n] read
    LN(x W_ih^T) + b_ih and LN(h W_hh^T) + b_hh, each normalised over its 3H entries).
    """
    kind = "gru"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                 dropout=0.0, dtype=np.float32, seed=None, backend="auto", *,
                 layer_norm=False, learn_initial_state=False, recurrent_dropout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias=bias,
                         bidirectional=bidirectional, dropout=dropout, dtype=dtype, seed=seed,
                         backend=backend, learn_initial_state=learn_initial_state,
                         recurrent_dropout=recurrent_dropout, layer_norm=layer_norm)


LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # cell kind -> layer class
