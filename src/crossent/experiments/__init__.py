"""``crossent reproduce``: train real models, check every claim of CLAIMS.md, write a report.

The package reads as the pipeline of one run:

- :mod:`~crossent.experiments.datasets` — the data: scikit-learn's bundled sets standing in
  for the seeds' MNIST and IMDB, loaders for the real files, and generated sets for the
  controlled settings (a detection-like set with many easy negatives, label noise,
  multi-label attributes);
- :mod:`~crossent.experiments.models` and :mod:`~crossent.experiments.training` — small
  PyTorch models and one seeded, deterministic training loop;
- :mod:`~crossent.experiments.registry` — the :class:`Claim` and :class:`Result` records
  and the verdict rule;
- :mod:`~crossent.experiments.claims` — one module per group of claims (definitions C1–C5,
  gradients C6–C7, tasks C8–C10, imbalance C11–C15, multi-task C16, corrections C17–C18;
  beyond the articles, calibration C19);
- :mod:`~crossent.experiments.figures` and :mod:`~crossent.experiments.report` — inline SVG
  plots and the self-contained HTML page;
- :mod:`~crossent.experiments.runner` — runs the selected claims with a progress bar each and
  writes ``index.html`` and ``claims.json``.

PyTorch, scikit-learn, matplotlib and rich come with the ``report`` extra.
"""
