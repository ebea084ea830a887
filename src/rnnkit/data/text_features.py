"""Simple features of each character of a text, and the hidden units that follow them.

    features = char_features(text)                  name -> (N,) float64
    best = most_correlated(states, features)        name -> [(unit, r), ...] by |r|

The features are those Karpathy, Johnson & Fei-Fei (2015, "Visualizing and understanding
recurrent networks") found single LSTM cells tracking in character models:
    position_in_line     characters since the last newline (0 at a line's first character)
    inside_quotes        1 from an opening double quote to its closing one, both included
    inside_parentheses   1 while more "(" than ")" have been read, the brackets included
"""
from __future__ import annotations

import numpy as np

FEATURES = ("position_in_line", "inside_quotes", "inside_parentheses")


def char_features(text: str) -> dict:
    """name -> (len(text),) float64 values of FEATURES, one per character."""
    n = len(text)
    pos, quotes, parens = np.zeros(n), np.zeros(n), np.zeros(n)
    col, inside, depth = 0, False, 0
    for k, ch in enumerate(text):
        pos[k] = col
        col = 0 if ch == "\n" else col + 1
        if ch == '"':
            quotes[k] = 1.0  # both quote marks count as inside
            inside = not inside
        else:
            quotes[k] = float(inside)
        if ch == "(":
            depth += 1
        parens[k] = float(depth > 0)
        if ch == ")":
            depth = max(0, depth - 1)
    return {"position_in_line": pos, "inside_quotes": quotes, "inside_parentheses": parens}


def correlations(states: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r of every unit with the feature: states (N, H), feature (N,) -> (H,);
    0 for a unit (or a feature) that does not vary."""
    s = np.asarray(states, np.float64)
    s = s - s.mean(axis=0)  # (N, H)
    f = np.asarray(feature, np.float64) - np.mean(feature)  # (N,)
    den = np.sqrt((s ** 2).sum(axis=0) * (f ** 2).sum())  # (H,)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (s * f[:, None]).sum(axis=0) / den
    return np.where(den > 0, r, 0.0)


def most_correlated(states: np.ndarray, features: dict, top: int = 3) -> dict:
    """name -> [(unit, r), ...]: the ``top`` units with the largest |r| for each feature that
    varies in the text (a constant feature is left out)."""
    out = {}
    for name, values in features.items():
        if np.ptp(values) == 0:
            continue
        r = correlations(states, values)  # (H,)
        order = np.argsort(-np.abs(r), kind="stable")[:top]
        out[name] = [(int(u), float(r[u])) for u in order]
    return out
