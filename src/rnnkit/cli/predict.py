"""``rnnkit predict --model DIR``: use any saved run folder.

The folder's task.json names the command that trained it; that command's module does the
prediction with the options below (each uses the ones that apply to it):
    forecast   next --horizon steps of the series in --csv/--column (or the training series)
    classify   labels for the series or texts in --input (same formats as training)
    textgen    --length characters after --prime, at --temperature, from the --top-k
    translate  each line of stdin (or --input), greedy or with --beam K
"""
from __future__ import annotations

import importlib
from pathlib import Path

from rnnkit.cli.common import load_run

HELP = "predict with a saved model: forecast, classify, sample text, translate"


def add_arguments(parser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="a run folder (from --out)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--csv", type=Path, help="forecast: CSV file with the series")
    parser.add_argument("--column", help="forecast: column of --csv")
    parser.add_argument("--input", type=Path, help="classify: data file; translate: text file")
    parser.add_argument("--prime", default=None, help="textgen: text to start from")
    parser.add_argument("--length", type=int, default=300, help="textgen: characters to sample")
    parser.add_argument("--temperature", type=float, default=0.8, help="textgen: temperature")
    parser.add_argument("--top-k", type=int, default=None, help="textgen: sample from the top k")
    parser.add_argument("--beam", type=int, default=1, help="translate: beam width (1 = greedy)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for sampling")


def run(args) -> int:
    from rnnkit.errors import UsageError

    model, task = load_run(args.model)
    command = task.get("command")
    try:
        module = importlib.import_module(f"rnnkit.cli.{command}")
        predict = module.predict
    except (ImportError, AttributeError, TypeError):
        raise UsageError(f"{args.model}/task.json names an unknown command {command!r}") from None
    return predict(model, task, args)
