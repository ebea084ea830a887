"""``rnnkit export --model DIR --format onnx``: write a saved run's model as an ONNX file.

The recurrent layers become ONNX's own RNN/LSTM/GRU operators (see ``rnnkit.interop.onnx_export``),
with dynamic batch and time axes. The file holds the network only: the task's pre- and
post-processing kept in task.json (scalers, vocabularies, label names) stays with the run.
A translate run (Seq2Seq) becomes two files, ``encoder.onnx`` and ``decoder_step.onnx``, in
the run folder or the folder ``--out`` (see ``rnnkit.interop.onnx_seq2seq``).
Needs ``pip install 'rnnkit[onnx]'``.
"""
from __future__ import annotations

from pathlib import Path

from rnnkit.cli.common import emit, load_run, log, out_path
from rnnkit.errors import OnnxExportError, UsageError
from rnnkit.interop.onnx_export import export_onnx, is_seq2seq
from rnnkit.interop.onnx_graph import OPSET
from rnnkit.interop.onnx_seq2seq import seq2seq_paths

HELP = "export a saved model to ONNX (RNN/LSTM/GRU as ONNX's own operators)"


def add_arguments(parser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="a run folder (from --out)")
    parser.add_argument("--format", choices=["onnx"], default="onnx",
                        help="file format (default onnx, the only one)")
    parser.add_argument("--out", type=out_path, default=None,
                        help="the file to write (default DIR/model.onnx); for a translate "
                             "run, the folder for encoder.onnx and decoder_step.onnx "
                             "(default DIR)")
    parser.add_argument("--lengths", action="store_true",
                        help="add the input 'lengths' (B,) int64 for right-padded batches")
    parser.add_argument("--state", action="store_true",
                        help="add the initial states h0 (c0) as inputs and return the final "
                             "ones")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="float type of the weights (default the model's; onnxruntime "
                             "runs the recurrent operators in float32 only)")
    parser.add_argument("--opset", type=int, default=OPSET,
                        help=f"ONNX opset version (default {OPSET})")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON description of the file as the last line")


def _signature(values) -> dict:
    """{name: [dim, ...]} of graph inputs or outputs; symbolic dims by name."""
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in values}


def _show(signature: dict) -> str:
    return ", ".join(f"{name} ({', '.join(map(str, dims))})" for name, dims in signature.items())


def _describe(path: Path) -> dict:
    import onnx

    graph = onnx.load(path).graph
    return dict(path=str(path), bytes=path.stat().st_size, inputs=_signature(graph.input),
                outputs=_signature(graph.output))


def _line(info: dict, opset: int) -> str:
    return (f"{info['path']}: ONNX opset {opset}; inputs {_show(info['inputs'])}; "
            f"outputs {_show(info['outputs'])}")


def export_run(folder, path=None, *, lengths: bool = False, state: bool = False, dtype=None,
               opset: int = OPSET) -> Path:
    """Export the model of a run folder (from ``--out``) to ``path`` (default
    ``folder/model.onnx``). The task's pre- and post-processing (scalers, vocabularies in
    task.json) stays outside the ONNX file. Problems the user can fix raise UsageError.
    A Seq2Seq (a translate run) writes ``encoder.onnx`` and ``decoder_step.onnx`` into the
    folder ``path`` (default ``folder`` itself) and returns that folder."""
    folder = Path(folder)
    model, _ = load_run(folder)
    if model is None:
        raise UsageError(f"{folder} holds no network to export (a forecaster that is the "
                         "statistical base alone)")
    seq2seq = is_seq2seq(model)
    path = Path(path) if path is not None else folder if seq2seq else folder / "model.onnx"
    if path.is_dir() and not seq2seq:
        raise UsageError(f"{path} is a folder; give the path of the .onnx file to write")
    try:
        return export_onnx(model, path, lengths=lengths, state=state, dtype=dtype, opset=opset)
    except OnnxExportError as exc:
        raise UsageError(f"cannot export {folder}: {exc}") from None
    except ImportError as exc:
        raise UsageError(str(exc)) from None


def run(args) -> int:
    path = export_run(args.model, args.out, lengths=args.lengths, state=args.state,
                      dtype=args.dtype, opset=args.opset)  # UsageError if onnx is missing
    if not path.is_dir():
        info = dict(_describe(path), format="onnx", opset=args.opset)
        log(f"exported {args.model} to {path} ({info['bytes']} bytes)")
        emit(info, args.json, _line(info, args.opset))
        return 0
    # a Seq2Seq: two graphs in the folder ``path``
    files = {name: _describe(p) for name, p in zip(["encoder", "decoder_step"],
                                                   seq2seq_paths(path))}
    info = dict(path=str(path), format="onnx", opset=args.opset, files=files)
    log(f"exported {args.model} to {files['encoder']['path']} and "
        f"{files['decoder_step']['path']} (the encoder and one decoder step)")
    emit(info, args.json, "\n".join(_line(f, args.opset) for f in files.values()))
    return 0
