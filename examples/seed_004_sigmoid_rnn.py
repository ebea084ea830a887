"""Seed 004: an RNN with a sigmoid hidden activation, an output at every step, cross-entropy
against a target at every step, BPTT with gradient clipping; inference keeps only the
current hidden state.

Task: predict the next symbol of the repeating pattern 0 1 2 3 2 1 | 0 1 2 3 2 1 | ...
After a 2 comes a 3 or a 1 depending on the direction of travel, so the network must
remember where it came from, not just read the current symbol. The batch holds the six
phases of the pattern, 12 steps each, one-hot (B, T, 4); targets are the next symbols (B, T).
At the first step the direction is unknowable (a 1 or a 2 with no history), so accuracy is
counted from the second step on, and the mean cross-entropy cannot go below
4 ln 2 / 72 = 0.0385 (four of the 72 predictions are coin flips).

Where rnnkit differs from the seed: the seed writes the cross-entropy of softmax outputs but
codes linear outputs with ``dy = y - y_true``, the gradient of a squared error; here the
logits go through ``CrossEntropyLoss`` (softmax inside, gradient softmax - onehot), averaged
over the B*T predictions instead of summed, which is why plain SGD takes lr 1 rather than
the seed's 0.1. Clipping the global gradient norm with ``clip_grad_norm`` is the safeguard
the seed recommends against exploding gradients; on this short task the norm stays below 1,
so it never has to act. Finally ``layer.step`` runs the trained network one symbol at a time
from nothing but the current state: it gives the full forward's outputs, and it keeps
generating the pattern far beyond the 12 steps it was trained on.
"""
import numpy as np

import rnnkit
from rnnkit.nn import Linear, Sequential

PATTERN = [0, 1, 2, 3, 2, 1]
V, H, T = 4, 16, 12  # symbols, hidden size, steps per sequence


def pattern_batch():
    """Every phase of the pattern: one-hot inputs (P, T, V) and next-symbol targets (P, T)."""
    P = len(PATTERN)
    seqs = np.array([[PATTERN[(s + t) % P] for t in range(T + 1)] for s in range(P)])  # (P, T+1)
    return np.eye(V)[seqs[:, :-1]], seqs[:, 1:]


def main():
    x, y = pattern_batch()
    rnn = rnnkit.RNN(V, H, nonlinearity="sigmoid", dtype=np.float64, seed=0)
    fc = Linear(H, V, dtype=np.float64, seed=0)  # per-step head: (B, T, H) -> (B, T, V)
    model = Sequential(rnn=rnn, fc=fc)
    loss, optimizer = rnnkit.CrossEntropyLoss(), rnnkit.SGD(model, lr=1.0)

    norms = []
    for epoch in range(500):
        model.zero_grad()
        value = loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        norms.append(rnnkit.clip_grad_norm(model, max_norm=1.0))  # the norm before clipping
        optimizer.step()
        if epoch % 100 == 0 or epoch == 499:
            print(f"epoch {epoch:3d}  cross-entropy {value:.4f}")
    norms = np.array(norms)
    print(f"gradient norm: max {norms.max():.3f}, clipped to 1.0 in {(norms > 1).sum()} "
          f"of {len(norms)} steps")

    model.eval()
    logits = model.forward(x)  # (B, T, V), the whole sequences at once
    accuracy = (logits.argmax(-1)[:, 1:] == y[:, 1:]).mean()
    print(f"next-symbol accuracy from step 2 on: {accuracy:.3f}")

    # Streaming: one step at a time, holding only the current state.
    state, streamed = None, []
    for t in range(T):
        h_t, state = rnn.step(x[:, t], state)  # (B, H), state (1, B, H)
        streamed.append(fc.forward(h_t))  # (B, V)
    streamed = np.stack(streamed, axis=1)  # (B, T, V)
    print(f"streamed vs full forward, max |difference|: {np.abs(streamed - logits).max():.1e}")

    # Generation: read a prompt, then feed each prediction back in, 40 steps.
    symbols, state = [0, 1, 2], None
    for s in symbols[:-1]:
        _, state = rnn.step(np.eye(V)[s], state)
    for _ in range(40):
        h_t, state = rnn.step(np.eye(V)[symbols[-1]], state)  # (H,), state (1, H)
        symbols.append(int(fc.forward(h_t).argmax()))
    print("generated from the prompt 012:", "".join(map(str, symbols)))


if __name__ == "__main__":
    main()
