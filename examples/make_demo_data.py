"""Write a small saved-predictions example for `crossent eval` (used by `make demo`).

A softmax-regression model is fitted in closed-form-free NumPy gradient descent on a
generated 3-class problem; its logits on held-out points and the true labels are saved
as .npy files.

    python examples/make_demo_data.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from crossent import grad, softmax_cross_entropy


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    labels = rng.integers(0, 3, size=600)
    x = centers[labels] + rng.normal(scale=1.2, size=(600, 2))
    x1 = np.hstack([x, np.ones((600, 1))])
    w = np.zeros((3, 3))
    train, test = slice(0, 400), slice(400, 600)
    for _ in range(300):
        g = grad.softmax_cross_entropy(x1[train] @ w.T, labels[train])  # dL/dlogits
        w -= 0.5 * g.T @ x1[train]
    logits = x1[test] @ w.T
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "pred_logits.npy", logits)
    np.save(out / "labels.npy", labels[test])
    loss = float(softmax_cross_entropy(logits, labels[test]))
    print(f"wrote {out}/pred_logits.npy and {out}/labels.npy (held-out loss {loss:.4f})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo"))
