"""Building blocks for ONNX graphs: the recurrent layers as ONNX's RNN/LSTM/GRU operators,
the linear layer, and the assembly of a checked ``ModelProto``.

Shared by ``rnnkit.interop.onnx_export`` (layers, SequenceModel, Sequential) and
``rnnkit.interop.onnx_seq2seq`` (the encoder-decoder); see ``onnx_export`` for the conventions
(weight layout, gate orders, time-major operators).
"""
from __future__ import annotations

import numpy as np

from rnnkit.errors import OnnxExportError
from rnnkit.nn.linear import Linear

OPSET = 17  # widely supported; onnxruntime 1.31 runs these graphs at opsets 14..25
GATE_ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}  # PyTorch block per ONNX block
PEEPHOLE_ORDER = [0, 2, 1]  # rnnkit's peepholes i, f, o -> ONNX's P blocks i, o, f
OPS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}



def import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'rnnkit[onnx]'") \
            from None
    return onnx


# --- parameters: PyTorch's layout -> ONNX's (pure NumPy) -------------------------------------
def onnx_gate_rows(a: np.ndarray, kind: str, hidden_size: int) -> np.ndarray:
    """PyTorch's gate blocks (G*H, ...) reordered into ONNX's gate order (G*H, ...)."""
    H = hidden_size
    return np.concatenate([a[g * H : (g + 1) * H] for g in GATE_ORDER[kind]], axis=0)


def onnx_layer_weights(layer, k: int, dtype=None):
    """ONNX's W (D, G*H, I_k), R (D, G*H, H) and B (D, 2*G*H), or None without bias, for
    layer ``k`` of an rnnkit recurrent layer; forward direction first, as ONNX stacks them."""
    dtype = np.dtype(dtype or layer.dtype)
    W, R, B = [], [], []
    for d in range(layer.num_directions):
        p = layer.cell_params(k, d)
        W.append(onnx_gate_rows(p["weight_ih"], layer.kind, layer.hidden_size))  # (G*H, I_k)
        R.append(onnx_gate_rows(p["weight_hh"], layer.kind, layer.hidden_size))  # (G*H, H)
        if layer.bias:
            B.append(np.concatenate([onnx_gate_rows(p["bias_ih"], layer.kind, layer.hidden_size),
                                     onnx_gate_rows(p["bias_hh"], layer.kind,
                                                    layer.hidden_size)]))  # (2*G*H,)
    W, R = np.stack(W).astype(dtype), np.stack(R).astype(dtype)  # (D, G*H, I_k), (D, G*H, H)
    return W, R, (np.stack(B).astype(dtype) if B else None)  # (D, 2*G*H)


def onnx_peepholes(layer, k: int, dtype=None):
    """ONNX's P (D, 3H), blocks i, o, f, for layer ``k`` of an LSTM with peepholes."""
    H = layer.hidden_size
    P = [np.concatenate([layer.cell_params(k, d)["weight_peephole"][j * H : (j + 1) * H]
                         for j in PEEPHOLE_ORDER]) for d in range(layer.num_directions)]
    return np.stack(P).astype(np.dtype(dtype or layer.dtype))  # (D, 3H)


# --- graph building ----------------------------------------------------------------------------
class Graph:
    """Nodes and initializers collected while a model is converted, with unique names."""

    def __init__(self, onnx, dtype, lengths: str | None, reserved=()):
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers = [], []
        # graph inputs/outputs, never given to an intermediate tensor
        self.names = {"x", "lengths", "h0", "c0", "y", "out", "h_n", "c_n", *reserved}
        self.lengths = lengths  # graph input (B,) int64, or None
        self._derived = {}  # nodes computed once from lengths

    def name(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def const(self, base: str, array) -> str:
        """An initializer; float arrays take the export dtype."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype)
        name = self.name(base)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs, base: str, n_out: int = 1, outputs=None, **attrs):
        """Append a node; returns its output name (or the list of them when n_out > 1)."""
        while inputs and inputs[-1] == "":  # trailing optional inputs may be left out
            inputs = inputs[:-1]
        outputs = outputs or [self.name(f"{base}/{op_type}" + (f"_{i}" if i else ""))
                              for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outputs,
                                                name=self.name(f"{base}/{op_type}:node"),
                                                **attrs))
        return outputs[0] if n_out == 1 else outputs

    def sequence_lens(self) -> str:
        """lengths as the int32 ``sequence_lens`` of the recurrent operators, or ""."""
        if self.lengths is None:
            return ""
        if "seq" not in self._derived:
            self._derived["seq"] = self.op("Cast", [self.lengths], "lengths",
                                           to=self.helper.np_dtype_to_tensor_dtype(
                                               np.dtype(np.int32)))
        return self._derived["seq"]

    def last_index(self) -> str:
        """(B, 1) int64 index lengths - 1 of each sequence's last valid step."""
        if "last" not in self._derived:
            one = self.const("one", np.array(1, np.int64))
            axes = self.const("axes_1", np.array([1], np.int64))
            last = self.op("Sub", [self.lengths, one], "lengths")  # (B,)
            self._derived["last"] = self.op("Unsqueeze", [last, axes], "lengths")  # (B, 1)
        return self._derived["last"]


def merge_directions(g: Graph, Y: str, perm, base: str) -> str:
    """Y (T, D, B, H) -> (T, B, D*H) with perm (0, 2, 1, 3), or (B, T, D*H) with (2, 0, 1, 3):
    the two directions side by side on the last axis, as PyTorch concatenates them."""
    shape = g.const(f"{base}.shape_00-1", np.array([0, 0, -1], np.int64))  # keep, keep, D*H
    return g.op("Reshape", [g.op("Transpose", [Y], base, perm=list(perm)), shape], base)


def _over_batch(g: Graph, x: str, base: str) -> str:
    """The shape (1, B, 1) (int64) with B the batch size of x (B, ...): Expand then spreads a
    (D, 1, H) initial state over the batch."""
    one = g.const("one_1", np.array([1], np.int64))
    zero = g.const("zero_1", np.array([0], np.int64))
    batch = g.op("Slice", [g.op("Shape", [x], base), zero, one], base)  # (1,) B; any opset
    return g.op("Concat", [one, batch, one], base, axis=0)


def recurrent_op(g: Graph, layer, x: str, base: str, h0=None, c0=None, want_state=False):
    """x (B, T, I) -> y (B, T, D*H); with want_state also h_n and c_n (L*D, B, H), else None.
    One ONNX operator per layer; h0, c0 (L*D, B, H) graph inputs or None for zeros, or for
    the layer's learned ``h0``/``c0`` (learn_initial_state) spread over the batch.
    Recurrent dropout is the identity here (inference); peepholes are the LSTM operator's P;
    proj_size and layer_norm have no ONNX operator."""
    if layer.spec.proj_size:
        raise OnnxExportError(f"{base} is {layer!r}: an LSTM with proj_size has no ONNX export "
                              "(the LSTM operator has no projection)")
    if layer.spec.layer_norm:
        raise OnnxExportError(f"{base} is {layer!r}: layer_norm has no ONNX export (the "
                              "recurrent operators have no normalisation)")
    D, L, H = layer.num_directions, layer.num_layers, layer.hidden_size
    attrs = dict(hidden_size=H, direction="bidirectional" if D == 2 else "forward")
    if layer.kind == "gru":
        attrs["linear_before_reset"] = 1  # PyTorch's b_hn inside r * (...)
    if layer.kind == "rnn":
        attrs["activations"] = [ACTIVATIONS[layer.spec.nonlinearity]] * D
    n_out = 3 if layer.kind == "lstm" and want_state else 2  # Y, Y_h, (Y_c)
    inp = g.op("Transpose", [x], base, perm=[1, 0, 2])  # (T, B, I): onnxruntime wants layout 0
    hs, cs = [], []
    for k in range(L):
        W, R, B = onnx_layer_weights(layer, k, g.dtype)
        inputs = [inp, g.const(f"{base}.W_l{k}", W), g.const(f"{base}.R_l{k}", R),
                  g.const(f"{base}.B_l{k}", B) if B is not None else "", g.sequence_lens()]
        for name, s in (("h0", h0), ("c0", c0 if layer.kind == "lstm" else None)):
            if s is None and name in layer.params and layer.learn_initial_state:
                learned = g.const(f"{base}.{name}_l{k}",
                                  layer.params[name][k * D : (k + 1) * D, None, :])  # (D, 1, H)
                inputs.append(g.op("Expand", [learned, _over_batch(g, x, base)], f"{base}.l{k}"))
                continue
            if s is None:
                inputs.append("")
                continue
            starts = g.const(f"{base}.start_l{k}", np.array([k * D], np.int64))
            ends = g.const(f"{base}.end_l{k}", np.array([(k + 1) * D], np.int64))
            inputs.append(g.op("Slice", [s, starts, ends], f"{base}.l{k}"))  # (D, B, H)
        if layer.kind == "lstm" and layer.peephole:
            inputs.append(g.const(f"{base}.P_l{k}", onnx_peepholes(layer, k, g.dtype)))
        outs = g.op(OPS[layer.kind], inputs, f"{base}.l{k}", n_out=n_out, **attrs)
        Y = outs[0]  # (T, D, B, H)
        if want_state:
            hs.append(outs[1])  # (D, B, H)
            if layer.kind == "lstm":
                cs.append(outs[2])
        if k < L - 1:
            inp = merge_directions(g, Y, (0, 2, 1, 3), f"{base}.l{k}")  # (T, B, D*H)
        else:
            y = merge_directions(g, Y, (2, 0, 1, 3), f"{base}.l{k}")  # (B, T, D*H)
    if not want_state:
        return y, None, None
    h_n = g.op("Concat", hs, base, outputs=["h_n"], axis=0)  # (L*D, B, H)
    c_n = g.op("Concat", cs, base, outputs=["c_n"], axis=0) if cs else None
    return y, h_n, c_n


def show_shape(shape: list) -> str:
    return f"({', '.join(map(str, shape))})"


def linear_op(g: Graph, m: Linear, x: str, shape: list, base: str) -> str:
    """x (..., in) -> x W^T + b (..., out): Gemm for 2D input, MatMul + Add otherwise."""
    if shape[-1] != m.in_features:
        raise OnnxExportError(f"{base} is {m!r} but receives shape {show_shape(shape)}")
    W, b = m.params["weight"], m.params.get("bias")
    if len(shape) == 2:
        bias = [g.const(f"{base}.bias", b)] if b is not None else []
        return g.op("Gemm", [x, g.const(f"{base}.weight", W), *bias], base, transB=1)
    y = g.op("MatMul", [x, g.const(f"{base}.weight_T", W.T)], base)  # (..., out)
    return y if b is None else g.op("Add", [y, g.const(f"{base}.bias", b)], base)


def model_dtype(module):
    dtypes = {v.dtype for v in module.params.values() if v.dtype.kind == "f"}
    if len(dtypes) > 1:
        raise OnnxExportError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}; "
                              "pass dtype= to export them all as one")
    return dtypes.pop() if dtypes else np.dtype(np.float32)


def check_dtype_opset(onnx, model, dtype, opset) -> np.dtype:
    """The export dtype (default: the model's), after checking it and the opset."""
    dtype = np.dtype(dtype) if dtype is not None else model_dtype(model)
    if dtype not in (np.float32, np.float64):
        raise OnnxExportError(f"dtype must be float32 or float64, got {dtype}")
    if not isinstance(opset, int) or not 14 <= opset <= onnx.defs.onnx_opset_version():
        raise OnnxExportError(f"opset must be an integer in 14..{onnx.defs.onnx_opset_version()},"
                              f" got {opset!r}")
    return dtype


def model_proto(onnx, g: Graph, inputs, outputs, opset: int, doc: str):
    """The ``ModelProto`` of the nodes collected in ``g``, named ``rnnkit``."""
    helper = onnx.helper
    graph = helper.make_graph(g.nodes, "rnnkit", inputs, outputs, g.initializers, doc_string=doc)
    opsets = [helper.make_opsetid("", opset)]
    from rnnkit.version import __version__

    return helper.make_model(graph, opset_imports=opsets, producer_name="rnnkit",
                             producer_version=__version__,
                             # the oldest IR version that has this opset: runtimes accept it
                             ir_version=helper.find_min_ir_version_for(opsets))
