"""Export a ``Seq2Seq`` to ONNX as two graphs, an encoder and one decoder step, so that greedy
and beam-search decoding (``rnnkit.nn.decoding``) run in onnxruntime through :class:`OnnxTranslator`.

    encoder.onnx       src (B, Ts) int64, lengths (B,) int64
                       -> memory (B, Ts, D*H), keys (B, Ts, H), h0 (L, B, H) [, c0 (L, B, H)]
    decoder_step.onnx  tokens (B,) int64, h (L, B, H) [, c (L, B, H)], memory, keys, lengths
                       -> logits (B, V), h_n (L, B, H) [, c_n], attention (B, Ts)

The same computation as :meth:`Seq2Seq.encode` and :meth:`Seq2Seq.decode_step`: the encoder
and the decoder are ONNX's own RNN/LSTM/GRU operators (``rnnkit.interop.onnx_export``), the bridge is
``h0 = tanh(W_b [h_fwd; h_bwd] + b_b)`` per layer (c0 = 0 for the LSTM), and Luong attention is
MatMul, a length mask (Where with -inf) and Softmax. Batch size and source length are dynamic.
The vocabularies (task.json of a translate run) stay outside the files: the graphs take ids.

    export_seq2seq_onnx(model, "exported")          # exported/encoder.onnx, .../decoder_step.onnx
    translator = OnnxTranslator("exported")
    greedy_decode(translator, src, lengths, bos=bos, eos=eos, max_len=30)
"""
from __future__ import annotations

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
)
from rnnkit.io.files import atomic_write_bytes
from rnnkit.nn.seq2seq import Encoded, Seq2Seq

ENCODER_FILE, STEP_FILE = "encoder.onnx", "decoder_step.onnx"
ENCODER_NAMES = ("src", "lengths", "memory", "keys", "h0", "c0")
STEP_NAMES = ("tokens", "h", "c", "memory", "keys", "lengths", "logits", "h_n", "c_n",
              "attention")


def seq2seq_paths(folder_or_prefix) -> tuple[Path, Path]:
    """The two files' paths: ``DIR/encoder.onnx`` and ``DIR/decoder_step.onnx`` for a folder,
    or ``m.encoder.onnx`` and ``m.decoder_step.onnx`` for a prefix ``m.onnx``."""
    p = Path(folder_or_prefix)
    if p.suffix == ".onnx":
        return p.with_name(f"{p.stem}.{ENCODER_FILE}"), p.with_name(f"{p.stem}.{STEP_FILE}")
    return p / ENCODER_FILE, p / STEP_FILE


def _axes(g: Graph, axis: int) -> str:
    """The int64 ``axes`` input [axis] of Unsqueeze and Squeeze."""
    return g.const(f"axes_{axis}", np.array([axis], np.int64))


def _embed(g: Graph, embedding, ids: str, base: str) -> str:
    """ids (...) int64 -> rows of the embedding matrix (..., E)."""
    return g.op("Gather", [g.const(f"{base}.weight", embedding.params["weight"]), ids], base,
                axis=0)


def _encoder_graph(onnx, model: Seq2Seq, dtype, opset: int):
    """src, lengths -> memory, keys, h0 (, c0): Seq2Seq.encode."""
    helper, m = onnx.helper, model.modules
    L, D, H = model.num_layers, model.num_directions, model.hidden_size
    g = Graph(onnx, dtype, "lengths", reserved=ENCODER_NAMES)
    e_src = _embed(g, m["src_embedding"], "src", "src_embedding")  # (B, Ts, E)
    memory, h_n, _ = recurrent_op(g, m["encoder"], e_src, "encoder", want_state=True)
    g.op("Identity", [memory], "memory", outputs=["memory"])  # (B, Ts, D*H)
    W_a = m["attention"].params["weight_a"]  # (H, D*H)
    g.op("MatMul", ["memory", g.const("attention.weight_a_T", W_a.T)], "keys",
         outputs=["keys"])  # keys = memory W_a^T, (B, Ts, H)
    # join the directions of each layer, as Seq2Seq._join_directions: (L*D, B, H) -> (L, B, D*H)
    per_layer = g.op("Reshape", [h_n, g.const("bridge.shape_LD-1H",
                                              np.array([L, D, -1, H], np.int64))], "bridge")
    joined = g.op("Transpose", [per_layer], "bridge", perm=[0, 2, 1, 3])  # (L, B, D, H)
    joined = g.op("Reshape", [joined, g.const("bridge.shape_00-1",
                                              np.array([0, 0, -1], np.int64))], "bridge")
    bridge = linear_op(g, m["bridge"], joined, [L, "batch", D * H], "bridge")  # (L, B, H)
    h0 = g.op("Tanh", [bridge], "bridge", outputs=["h0"])
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    int64 = helper.np_dtype_to_tensor_dtype(np.dtype(np.int64))
    state = [L, "batch", H]
    outputs = [helper.make_tensor_value_info("memory", elem, ["batch", "src_time", D * H]),
               helper.make_tensor_value_info("keys", elem, ["batch", "src_time", H]),
               helper.make_tensor_value_info("h0", elem, state)]
    if model.cell == "lstm":  # the decoder's cell state starts at zero
        zero = helper.make_tensor("zero", elem, [1], [0])
        g.op("ConstantOfShape", [g.op("Shape", [h0], "c0")], "c0", outputs=["c0"], value=zero)
        outputs.append(helper.make_tensor_value_info("c0", elem, state))
    inputs = [helper.make_tensor_value_info("src", int64, ["batch", "src_time"]),
              helper.make_tensor_value_info("lengths", int64, ["batch"])]
    return model_proto(onnx, g, inputs, outputs, opset, f"encoder of {model!r}")


def _attention(g: Graph, params: dict, q: str) -> tuple[str, str]:
    """Luong attention of q (B, 1, H) over memory (B, Ts, D*H) with keys (B, Ts, H), masked
    by lengths: returns the attentional state (B, 1, H) and the weights a (B, 1, Ts)."""
    keys_T = g.op("Transpose", ["keys"], "attention", perm=[0, 2, 1])  # (B, H, Ts)
    scores = g.op("MatMul", [q, keys_T], "attention")  # e = q . k, (B, 1, Ts)
    steps = g.op("Gather", [g.op("Shape", ["memory"], "attention"),
                            g.const("one", np.array(1, np.int64))], "attention", axis=0)  # Ts
    positions = g.op("Range", [g.const("zero", np.array(0, np.int64)), steps,
                               g.const("one", np.array(1, np.int64))], "attention")  # (Ts,)
    valid = g.op("Less", [g.op("Unsqueeze", [positions, _axes(g, 0)], "attention"),  # (1, Ts)
                          g.op("Unsqueeze", ["lengths", _axes(g, 1)], "attention")],  # (B, 1)
                 "attention")  # s < lengths[b], (B, Ts)
    valid = g.op("Unsqueeze", [valid, _axes(g, 1)], "attention")
    scores = g.op("Where", [valid, scores, g.const("minus_inf", np.array(-np.inf))],
                  "attention")  # padding gets no weight, (B, 1, Ts)
    a = g.op("Softmax", [scores], "attention", axis=-1)  # (B, 1, Ts)
    context = g.op("MatMul", [a, "memory"], "attention")  # (B, 1, D*H)
    u = g.op("Concat", [context, q], "attention", axis=-1)  # [c; q], (B, 1, D*H + H)
    z = g.op("Add", [g.op("MatMul", [u, g.const("attention.weight_c_T", params["weight_c"].T)],
                          "attention"),
                     g.const("attention.bias_c", params["bias_c"])], "attention")
    return g.op("Tanh", [z], "attention"), a  # (B, 1, H), (B, 1, Ts)


def _step_graph(onnx, model: Seq2Seq, dtype, opset: int):
    """tokens, h (, c), memory, keys, lengths -> logits, h_n (, c_n), attention:
    Seq2Seq.decode_step."""
    helper, m = onnx.helper, model.modules
    L, D, H = model.num_layers, model.num_directions, model.hidden_size
    lstm = model.cell == "lstm"
    g = Graph(onnx, dtype, None, reserved=STEP_NAMES)  # the decoder step takes no lengths
    x = _embed(g, m["tgt_embedding"], "tokens", "tgt_embedding")  # (B, E)
    x = g.op("Unsqueeze", [x, _axes(g, 1)], "tgt_embedding")  # (B, 1, E)
    q, _, _ = recurrent_op(g, m["decoder"], x, "decoder", "h", "c" if lstm else None,
                         want_state=True)  # (B, 1, H); h_n, c_n (L, B, H) are named so
    att, a = _attention(g, m["attention"].params, q)
    att = g.op("Squeeze", [att, _axes(g, 1)], "attention")  # (B, H)
    g.op("Squeeze", [a, _axes(g, 1)], "attention",
         outputs=["attention"])  # (B, Ts)
    logits = linear_op(g, m["out"], att, ["batch", H], "out")  # (B, V)
    g.op("Identity", [logits], "logits", outputs=["logits"])
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    int64 = helper.np_dtype_to_tensor_dtype(np.dtype(np.int64))
    state = [L, "batch", H]
    states = ["h", "c"] if lstm else ["h"]
    inputs = [helper.make_tensor_value_info("tokens", int64, ["batch"]),
              *[helper.make_tensor_value_info(s, elem, state) for s in states],
              helper.make_tensor_value_info("memory", elem, ["batch", "src_time", D * H]),
              helper.make_tensor_value_info("keys", elem, ["batch", "src_time", H]),
              helper.make_tensor_value_info("lengths", int64, ["batch"])]
    outputs = [helper.make_tensor_value_info("logits", elem, ["batch", m["out"].out_features]),
               *[helper.make_tensor_value_info(s + "_n", elem, state) for s in states],
               helper.make_tensor_value_info("attention", elem, ["batch", "src_time"])]
    return model_proto(onnx, g, inputs, outputs, opset, f"decoder step of {model!r}")


def seq2seq_to_onnx(model: Seq2Seq, *, dtype=None, opset: int = OPSET):
    """The two ``ModelProto`` (encoder, decoder step) of ``model`` (see the module doc).
    dtype: float32 or float64 (default the model's; onnxruntime runs float32 only)."""
    if not isinstance(model, Seq2Seq):
        raise OnnxExportError(f"expected a Seq2Seq, got a {type(model).__name__}")
    onnx = import_onnx()
    dtype = check_dtype_opset(onnx, model, dtype, opset)
    return _encoder_graph(onnx, model, dtype, opset), _step_graph(onnx, model, dtype, opset)


def export_seq2seq_onnx(model: Seq2Seq, folder_or_prefix, *, dtype=None,
                        opset: int = OPSET) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` (paths as :func:`seq2seq_paths`),
    each atomically, after ``onnx.checker`` (full check) has accepted both. Returns the
    two paths."""
    onnx = import_onnx()
    protos = seq2seq_to_onnx(model, dtype=dtype, opset=opset)
    for proto in protos:
        onnx.checker.check_model(proto, full_check=True)
    paths = seq2seq_paths(folder_or_prefix)
    for path, proto in zip(paths, protos):
        atomic_write_bytes(path, proto.SerializeToString())
    return paths


class OnnxTranslator:
    """The two exported graphs in onnxruntime, with Seq2Seq's decoding interface, so that
    ``rnnkit.nn.decoding.greedy_decode`` and ``beam_search`` run on it unchanged.

    ``OnnxTranslator(folder_or_prefix)``; ``encode(src, lengths) -> Encoded`` and
    ``decode_step(tokens, state, enc) -> (logits (B, V), state, attention (B, Ts))``, the
    state being h (L, B, H) or the pair (h, c) for an LSTM. ``threads``: onnxruntime's
    intra-op threads (0: its default).
    """

    def __init__(self, folder_or_prefix, *, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("OnnxTranslator needs onnxruntime: pip install onnxruntime") \
                from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        encoder_path, step_path = seq2seq_paths(folder_or_prefix)
        self.encoder = ort.InferenceSession(str(encoder_path), opts,
                                            providers=["CPUExecutionProvider"])
        self.step = ort.InferenceSession(str(step_path), opts,
                                         providers=["CPUExecutionProvider"])
        self.lstm = "c" in {i.name for i in self.step.get_inputs()}
        self.dtype = np.float64 if self.step.get_inputs()[1].type == "tensor(double)" \
            else np.float32

    def encode(self, src, lengths) -> Encoded:
        lengths = np.asarray(lengths, np.int64)  # (B,)
        names = ["memory", "keys", "h0", "c0"] if self.lstm else ["memory", "keys", "h0"]
        memory, keys, *state = self.encoder.run(names, {"src": np.asarray(src, np.int64),
                                                        "lengths": lengths})
        return Encoded(memory, keys, lengths, tuple(state) if self.lstm else state[0])

    def decode_step(self, tokens, state, enc: Encoded):
        feeds = {"tokens": np.asarray(tokens, np.int64), "memory": enc.memory,
                 "keys": enc.keys, "lengths": np.asarray(enc.lengths, np.int64)}
        if self.lstm:
            feeds["h"], feeds["c"] = (np.asarray(s, self.dtype) for s in state)
            logits, h, c, a = self.step.run(["logits", "h_n", "c_n", "attention"], feeds)
            return logits, (h, c), a
        feeds["h"] = np.asarray(state, self.dtype)
        logits, h, a = self.step.run(["logits", "h_n", "attention"], feeds)
        return logits, h, a
