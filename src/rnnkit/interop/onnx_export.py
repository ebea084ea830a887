"""Export to ONNX (https://onnx.ai/onnx/operators/), the recurrent layers as ONNX's own
``RNN``, ``LSTM`` and ``GRU`` operators, so that onnxruntime and other engines run them.

    rnnkit.export_onnx(model, "model.onnx")                          # x -> out
    rnnkit.export_onnx(model, "model.onnx", lengths=True, state=True)

Supported: ``RNN`` (tanh, relu, sigmoid), ``LSTM`` and ``GRU`` layers of any depth, uni- or
bidirectional; ``SequenceModel``; ``Sequential`` chains of these with ``Linear``,
``Embedding``, ``Dropout`` and ``LastStep``; a ``Seq2Seq`` as two graphs, an encoder and a
decoder step (``rnnkit.interop.onnx_seq2seq``). The graph is for inference (dropout is the
identity), with dynamic batch and time axes:

    x        (B, T, F) floats, or (B, T) int64 token ids when the model starts with Embedding
    lengths  (B,) int64, each right-padded sequence's valid length           (lengths=True)
    h0, c0   (L*D, B, H) initial states                                       (state=True)
    y        (B, T, D*H) and h_n, c_n (L*D, B, H) for a recurrent layer
    out      the model's output; h_n, c_n too for a SequenceModel with state=True

From PyTorch's (and rnnkit's) parameters to ONNX's, per layer, directions stacked on axis 0:

    W (D, G*H, I) = weight_ih,  R (D, G*H, H) = weight_hh,  B (D, 2*G*H) = [bias_ih, bias_hh]
    gate blocks reordered: LSTM i,f,g,o -> i,o,f,c;  GRU r,z,n -> z,r,h;  RNN has one
    GRU: linear_before_reset=1, i.e. n = tanh(x W_n^T + b_in + r * (h R_n^T + b_hn)), PyTorch's
    activations: ONNX's defaults for LSTM and GRU (f=Sigmoid, g=h=Tanh), no clip, no
    input_forget; RNN ["Tanh"|"Relu"|"Sigmoid"] per direction
    LSTM(peephole=True): P (D, 3H) = weight_peephole reordered i,f,o -> i,o,f
    learn_initial_state: the learned h0 (c0) spread over the batch by Expand, unless the
    graph takes h0 (c0) as inputs (state=True); recurrent_dropout: nothing (inference);
    LSTM(proj_size=P), layer_norm=True: refused (the operators have neither)

onnxruntime's CPU kernels accept only layout=0 (time-major X (T, B, I), Y (T, D, B, H)), so the
graph transposes (B, T, F) -> (T, B, F) once before a stack, turns Y into the next layer's
(T, B, D*H) input by Transpose + Reshape (both directions side by side, as PyTorch), and
returns to (B, T, D*H) after the last layer. ``sequence_lens`` gives PyTorch's packed-sequence
semantics: outputs past a sequence's end are zero, Y_h and Y_c hold the state at its last valid
step, and the reverse direction starts from there.

onnxruntime (1.31, CPU) runs these three operators in float32 only: a float64 model exports as
a valid float64 file (onnx's reference evaluator runs it), or as float32 with dtype="float32".
Nothing here needs torch; ``onnx`` is imported only when exporting.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from rnnkit.interop.onnx_graph import (
    OPSET,
    Graph,
    OnnxExportError,
    check_dtype_opset,
    import_onnx,
    linear_op,
    model_proto,
    recurrent_op,
    show_shape,
)
from rnnkit.io.files import atomic_write_bytes
from rnnkit.nn.dropout import Dropout
from rnnkit.nn.embedding import Embedding
from rnnkit.nn.heads import LastStep
from rnnkit.nn.linear import Linear
from rnnkit.nn.models import SequenceModel
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.registry import converter, register_converter, supported
from rnnkit.nn.seq2seq import Seq2Seq
from rnnkit.nn.sequential import Sequential

Recurrent = Recurrent
SEQ2SEQ_ONE_FILE = ("a Seq2Seq has no ONNX export as one file: it exports as two graphs, "
                    "encoder.onnx and decoder_step.onnx; give a folder for them "
                    "(see rnnkit.interop.onnx_seq2seq)")


def _last_step(g: Graph, y: str, base: str, features: int, reverse_features=None) -> str:
    """y (B, T, F) -> (B, F) at each sequence's last valid step (the last step without
    lengths); the last ``reverse_features`` features are taken at t = 0 (rnnkit.LastStep)."""
    if g.lengths is None:
        out = g.op("Gather", [y, g.const("minus_one", np.array(-1, np.int64))], base, axis=1)
    else:
        out = g.op("GatherND", [y, g.last_index()], base, batch_dims=1)
    if not reverse_features:
        return out
    split = features - reverse_features
    first = g.op("Gather", [y, g.const("zero", np.array(0, np.int64))], base, axis=1)  # (B, F)

    def cols(x, start, stop):
        return g.op("Slice", [x, g.const("start", np.array([start], np.int64)),
                              g.const("stop", np.array([stop], np.int64)),
                              g.const("axis_1", np.array([1], np.int64))], base)

    return g.op("Concat", [cols(out, 0, split), cols(first, split, features)], base, axis=1)


def _emit(g: Graph, module, x: str, shape: list, base: str):
    """Append the nodes of one module (in a chain). Returns (output name, symbolic shape).
    Each class's emitter is registered in ``rnnkit.nn.registry`` under "onnx"."""
    try:
        emit = converter("onnx", module)
    except TypeError:
        raise OnnxExportError(f"{base or 'the model'} is a {type(module).__name__}, which has "
                              f"no ONNX export (supported: {', '.join(supported('onnx'))})") \
            from None
    return emit(g, module, x, shape, base)


@register_converter("onnx", Recurrent)
def _emit_recurrent(g, module, x, shape, base):
    if len(shape) != 3 or shape[-1] != module.input_size:
        raise OnnxExportError(f"{base} is {module!r} but receives shape {show_shape(shape)}")
    y, _, _ = recurrent_op(g, module, x, base)
    return y, ["batch", "time", module.num_directions * module.hidden_size]


@register_converter("onnx", SequenceModel)
def _emit_sequence_model(g, module, x, shape, base):
    return _sequence_model(g, module, x, shape, base)[0]


@register_converter("onnx", Sequential)
def _emit_sequential(g, module, x, shape, base):
    for name, child in module.modules.items():
        x, shape = _emit(g, child, x, shape, f"{base}.{name}" if base else name)
    return x, shape


@register_converter("onnx", Linear)
def _emit_linear(g, module, x, shape, base):
    return linear_op(g, module, x, shape, base), shape[:-1] + [module.out_features]


@register_converter("onnx", Embedding)
def _emit_embedding(g, module, x, shape, base):
    if len(shape) != 2:
        raise OnnxExportError(f"{base} is an Embedding but does not receive token ids")
    w = g.const(f"{base}.weight", module.params["weight"])
    return g.op("Gather", [w, x], base, axis=0), shape + [module.embedding_dim]


@register_converter("onnx", LastStep)
def _emit_last_step(g, module, x, shape, base):
    if len(shape) != 3:
        raise OnnxExportError(f"{base} is LastStep but receives a {len(shape)}D array")
    return _last_step(g, x, base, shape[2], module.reverse_features), [shape[0], shape[2]]


@register_converter("onnx", Dropout)
def _emit_dropout(g, module, x, shape, base):
    return g.op("Identity", [x], base), shape  # inference: dropout is the identity


def _sequence_model(g: Graph, model: SequenceModel, x: str, shape: list, base: str, h0=None,
                    c0=None, want_state=False):
    """SequenceModel: embedding? -> recurrent -> last step? -> Linear. Returns
    ((out, shape), h_n, c_n)."""
    prefix = f"{base}." if base else ""
    for part in ("diff", "conv", "patch", "pool"):
        if part in model.modules:
            raise OnnxExportError(f"{base or 'the model'} has a {type(model.modules[part]).__name__}"
                                  f" ({part}), which has no ONNX export yet")
    if "embedding" in model.modules:
        x, shape = _emit(g, model.modules["embedding"], x, shape, prefix + "embedding")
    elif shape[-1] != model.rnn.input_size or len(shape) != 3:
        raise OnnxExportError(f"{base or 'the model'} expects (B, T, {model.rnn.input_size}) "
                              "inputs")
    rnn = model.rnn
    y, h_n, c_n = recurrent_op(g, rnn, x, prefix + "rnn", h0, c0, want_state)  # (B, T, D*H)
    shape = ["batch", "time", rnn.num_directions * rnn.hidden_size]
    if "last" in model.modules:
        last = model.modules["last"]
        y = _last_step(g, y, prefix + "last", shape[-1], last.reverse_features)
        shape = ["batch", shape[-1]]
    return _emit(g, model.modules["fc"], y, shape, prefix + "fc"), h_n, c_n


# --- the model's inputs and outputs ------------------------------------------------------------
def _input_kind(module):
    """("ids", None) for token ids, ("float", F) for (B, T, F) floats, or None if unknown:
    read from the first module that transforms the input (a container's first child that
    is not a Dropout)."""
    if isinstance(module, Embedding):
        return "ids", None
    children = [m for m in getattr(module, "modules", {}).values()
                if not isinstance(m, Dropout)]
    if children:
        return _input_kind(children[0])
    size = (getattr(module, "input_size", None) or getattr(module, "in_features", None)
            or getattr(module, "in_channels", None)  # Conv1d, PatchEmbedding
            or getattr(module, "channels", None))  # Difference
    return ("float", size) if size else None


def _takes_lengths(module) -> bool:
    if isinstance(module, Sequential):
        return any(_takes_lengths(m) for m in module.modules.values())
    return "lengths" in inspect.signature(module.forward).parameters


def is_seq2seq(model) -> bool:
    return isinstance(model, Seq2Seq)


def to_onnx(model, *, lengths: bool = False, state: bool = False, dtype=None,
            opset: int = OPSET):
    """The ONNX ``ModelProto`` of ``model`` (see the module doc for inputs and outputs).

    lengths: add the input ``lengths`` (B,) int64 for right-padded batches.
    state: add the initial states ``h0`` (and ``c0``) as inputs; a SequenceModel then also
    returns ``h_n`` (and ``c_n``). A recurrent layer always returns them.
    dtype: float type of the weights and float inputs (default: the model's).
    Raises OnnxExportError for modules or options it cannot export, ImportError without onnx.
    """
    onnx = import_onnx()
    helper = onnx.helper
    dtype = check_dtype_opset(onnx, model, dtype, opset)
    layer = isinstance(model, Recurrent)
    if state and not (layer or isinstance(model, SequenceModel)):
        raise OnnxExportError("state=True needs a recurrent layer or a SequenceModel (a "
                              f"{type(model).__name__} does not pass states)")
    if lengths and not _takes_lengths(model):
        raise OnnxExportError("lengths=True, but no part of the model takes lengths")
    if is_seq2seq(model):
        raise OnnxExportError(SEQ2SEQ_ONE_FILE)
    kind = _input_kind(model)
    if kind is None:
        raise OnnxExportError(f"a {type(model).__name__} has no ONNX export (supported: "
                              f"{', '.join(supported('onnx'))}, or a Sequential starting with one of them)")

    elem = helper.np_dtype_to_tensor_dtype(dtype)
    int64 = helper.np_dtype_to_tensor_dtype(np.dtype(np.int64))
    shape = ["batch", "time"] if kind[0] == "ids" else ["batch", "time", kind[1]]
    inputs = [helper.make_tensor_value_info("x", int64 if kind[0] == "ids" else elem, shape)]
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", int64, ["batch"]))
    g = Graph(onnx, dtype, "lengths" if lengths else None)

    h0 = c0 = None
    if layer or isinstance(model, SequenceModel):
        rnn = model if layer else model.rnn
        state_shape = [rnn.num_layers * rnn.num_directions, "batch", rnn.hidden_size]
        if state:
            h0, c0 = "h0", ("c0" if rnn.kind == "lstm" else None)
            inputs += [helper.make_tensor_value_info(s, elem, state_shape) for s in (h0, c0) if s]
    if layer:
        y, h_n, c_n = recurrent_op(g, model, "x", "rnn", h0, c0, want_state=True)
        y = g.op("Identity", [y], "output", outputs=["y"])
        out_shape = ["batch", "time", model.num_directions * model.hidden_size]
    elif isinstance(model, SequenceModel):
        (y, out_shape), h_n, c_n = _sequence_model(g, model, "x", shape, "", h0, c0, state)
        y = g.op("Identity", [y], "output", outputs=["out"])
    else:
        y, out_shape = _emit(g, model, "x", shape, "")
        y, h_n, c_n = g.op("Identity", [y], "output", outputs=["out"]), None, None
    outputs = [helper.make_tensor_value_info(y, elem, out_shape)]
    outputs += [helper.make_tensor_value_info(s, elem, state_shape) for s in (h_n, c_n) if s]

    return model_proto(onnx, g, inputs, outputs, opset, repr(model))


def export_onnx(model, path, *, lengths: bool = False, state: bool = False, dtype=None,
                opset: int = OPSET) -> Path:
    """Write ``model`` as an ONNX file at ``path``, atomically, after ``onnx.checker`` has
    accepted it. Options as :func:`to_onnx`. Returns the path.

    A ``Seq2Seq`` is two graphs: ``path`` is then a folder (created if needed) that receives
    ``encoder.onnx`` and ``decoder_step.onnx`` (rnnkit.interop.onnx_seq2seq); they always take the
    lengths and the decoder state, so ``lengths`` and ``state`` do not apply.

        export_onnx(SequenceModel("gru", input_size=3, hidden_size=8), "m.onnx", lengths=True)
        onnxruntime.InferenceSession("m.onnx").run(None, {"x": x.astype(np.float32),
                                                          "lengths": lens.astype(np.int64)})
    """
    onnx = import_onnx()
    if is_seq2seq(model):
        return _export_seq2seq(model, Path(path), lengths, state, dtype, opset)
    proto = to_onnx(model, lengths=lengths, state=state, dtype=dtype, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def _export_seq2seq(model, folder: Path, lengths, state, dtype, opset) -> Path:
    from rnnkit.interop.onnx_seq2seq import export_seq2seq_onnx

    if folder.suffix == ".onnx" or (folder.exists() and not folder.is_dir()):
        raise OnnxExportError(SEQ2SEQ_ONE_FILE)
    if lengths or state:
        raise OnnxExportError("a Seq2Seq's graphs always take the source lengths and the "
                              "decoder state: lengths and state do not apply")
    export_seq2seq_onnx(model, folder, dtype=dtype, opset=opset)
    return folder
