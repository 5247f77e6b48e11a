"""``crossent bench``: speed and peak memory of crossent's kernels next to their peers.

Compared, each variant in its own process, medians of several runs after warm-up:

* fused cross-entropy on ``[N, C]`` logits against ``F.cross_entropy`` and the
  memory-bandwidth floor (one read plus one read-write pass over the logits);
* linear + cross-entropy against the naive ``F.cross_entropy(h @ W.T, y)``,
  ``F.linear_cross_entropy``, Cut Cross-Entropy's CPU path (``impl="torch_compile"``, when
  ``pip install crossent[bench]`` installed it) and the compute floor (the three matrix
  products alone);
* fused linear distillation (``crossent.torch.linear_distillation_loss``) against the
  naive loss on both models' logits and the four-matmul floor (with ``--only lce``);
* the NumPy core against ``sklearn.metrics.log_loss`` on ``[10^6, 10]``;
* a sweep over V and N.

Use :func:`run`; :mod:`crossent.bench.harness` has the cases and the presentation,
:mod:`crossent.bench.workloads` what each process measures and how.
"""

from crossent.bench.harness import run

__all__ = ["run"]
