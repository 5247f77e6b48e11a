"""Combining the losses of several tasks: fixed weights and learned weightings.

A multi-task model minimises one number built from the losses of its K tasks. The plain
sum lets the task with the largest loss scale dominate the shared layers, and a weighted
sum needs its weights tuned over repeated runs. The weightings below set the weights
during training instead:

- :func:`combine`: the sum or a fixed weighted sum, on NumPy, PyTorch or JAX.
- :class:`~crossent.torch.multitask.UncertaintyWeighting` and its functional form
  :func:`uncertainty_weighted_sum`
  (Kendall et al. 2018): one learnable log-variance per task.
- :class:`DynamicWeightAverage` (Liu et al. 2019): weights from the rate at which each
  task loss falls; no parameters.
- :class:`~crossent.torch.multitask.GradNorm` (Chen et al. 2018): weights learned so that each task's gradient at a
  shared layer has the size its training rate calls for.

Task losses are given as a list or tuple of K losses (0-d arrays, arrays of one common
shape, or Python numbers), or as one array whose first axis indexes the tasks. NumPy is
the only hard dependency: the two ``torch.nn.Module`` weightings are defined in
:mod:`crossent.torch.multitask` and imported from there on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from crossent import _checks
from crossent._array import (
    Array,
    is_torch,
    namespace,
    softmax,
    to_float,
)
from crossent._multitask import (
    check_n_tasks,
    non_negative_entries,
    per_task,
    stack_losses,
    task_array,
    uncertainty_total,
    weighted_sum,
)

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ below imports them on demand
    from crossent.torch.multitask import GradNorm, UncertaintyWeighting

__all__ = [
    "DynamicWeightAverage",
    "GradNorm",
    "UncertaintyWeighting",
    "combine",
    "uncertainty_weighted_sum",
]


# ---------------------------------------------------------------------------------------
# Fixed weights.
# ---------------------------------------------------------------------------------------


def combine(losses: Any, weights: Any = None) -> Array:
    r"""The sum, or a weighted sum, of the task losses.

    .. math:: \mathcal{L} = \sum_{k=1}^{K} w_k L_k

    with every :math:`w_k = 1` when ``weights`` is ``None``. The simple fusions of the articles: the plain sum lets the task with the largest
    loss scale dominate; the weighted sum fixes that only with weights tuned over
    repeated runs (the learned weightings of this module set them during training).
    Differentiable with respect to the losses and, when they are arrays of the losses'
    library, the weights.

    Args:
        losses: K task losses: a list or tuple of 0-d arrays (or of arrays of one common
            shape, or Python numbers), or one array whose first axis indexes the tasks.
        weights: K non-negative weights: a list of numbers, a NumPy array (converted to the
            losses' library), or a ``[K]`` array of the losses' library (gradients flow
            into it, e.g. learnable weights). ``None`` sums. Default: ``None``.

    Returns:
        The combined loss, shape of one task's loss (0-d for scalar losses); the losses'
        array library and dtype (NumPy float64 when every loss is a number).

    Raises:
        ValueError: no losses, losses of different shapes, a number of weights other than
            the number of losses, a negative or NaN weight.
        TypeError: losses or weights that are not arrays or numbers, of an integer dtype,
            or from two array libraries.

    Example:
        >>> import numpy as np
        >>> from crossent.multitask import combine
        >>> losses = [np.array(0.5), np.array(20.0)]
        >>> float(combine(losses))
        20.5
        >>> float(combine(losses, weights=[1.0, 0.01]))
        0.7
    """
    xp, stacked, out_dtype = stack_losses(losses)
    if weights is None:
        total = xp.sum(stacked, axis=0)
    else:
        w = per_task(xp, stacked, "weights", weights)
        non_negative_entries(xp, "weights", w)
        total = weighted_sum(xp, stacked, w)
    return to_float(xp, total, out_dtype)


# ---------------------------------------------------------------------------------------
# Uncertainty weighting (Kendall, Gal & Cipolla 2018).
# ---------------------------------------------------------------------------------------


def uncertainty_weighted_sum(losses: Any, log_vars: Any, *, factor: Any = 1.0) -> Array:
    r"""Task losses weighted by their uncertainty, given the log-variances (any library).

    .. math:: \mathcal{L} = \sum_{i=1}^{K} c_i\, e^{-s_i} L_i + s_i

    with :math:`s_i = \log \sigma_i^2` the log-variance of task :math:`i` and :math:`c_i`
    the ``factor``. The functional form of :class:`UncertaintyWeighting`, which documents
    the objective and the choice of :math:`c_i`; use it where the log-variances live
    outside a ``torch.nn.Module`` (a JAX or optax parameter tree).

    Args:
        losses: K positive task losses: a list or tuple of 0-d arrays (or of arrays of one
            common shape, or numbers), or one array whose first axis indexes the tasks.
        log_vars: the K log-variances :math:`s_i`: a ``[K]`` array of the losses' library
            (gradients flow into it), or a list of numbers.
        factor: :math:`c_i`, a positive number or one per task. ``1.0`` for every task is
            the usual ``exp(-s)·L + s``; see :class:`UncertaintyWeighting`. Default: ``1.0``.

    Returns:
        The total, shape of one task's loss; the losses' library and dtype.

    Raises:
        ValueError: a number of log-variances or factors other than the number of losses,
            a non-positive factor, no losses.
        TypeError: losses or log-variances of an integer dtype or from two libraries.

    References:
        Kendall, A., Gal, Y. and Cipolla, R. "Multi-Task Learning Using Uncertainty to
        Weigh Losses for Scene Geometry and Semantics." CVPR 2018.
        https://arxiv.org/abs/1705.07115

    Example:
        >>> import numpy as np
        >>> from crossent.multitask import uncertainty_weighted_sum
        >>> losses = np.array([1.0, 100.0])
        >>> log_vars = np.log(losses)  # the minimiser: s_i = log L_i, weights 1 / L_i
        >>> round(float(uncertainty_weighted_sum(losses, log_vars)), 4)
        6.6052
    """
    return uncertainty_total(losses, log_vars, factor, n_tasks=None)


# ---------------------------------------------------------------------------------------
# Dynamic weight average (Liu, Johns & Davison 2019).
# ---------------------------------------------------------------------------------------


class DynamicWeightAverage:
    r"""Task weights from the rate at which each task loss falls (Liu et al. 2019).

    .. math::

        w_k(t) = K \, \frac{\exp(r_k / T)}{\sum_{i=1}^{K} \exp(r_i / T)},
        \qquad r_k = \frac{L_k(t-1)}{L_k(t-2)}

    A task whose loss fell least (ratio :math:`r_k` highest) gets the largest weight.
    The weights sum to K; a higher temperature :math:`T` makes them more even (all 1 as
    :math:`T \to \infty`). Until two steps are recorded every weight is 1 (the paper
    sets :math:`r_k = 1` for :math:`t = 1, 2`). The paper records each task's loss
    averaged over an epoch and updates the weights once per epoch; per-step losses work
    too, with noisier weights. No parameters and no gradients: the values are read
    from the losses (as Python floats), so call it outside ``jax.jit``.

    Args:
        n_tasks: number of tasks K, at least 1.
        temperature: :math:`T`, positive. Default: ``2.0`` (the paper's).

    Raises:
        ValueError: ``n_tasks`` < 1 or ``temperature`` not positive; in ``update``, a
            number of losses other than ``n_tasks``, or a loss that is not positive and
            finite (the ratios divide by it).
        TypeError: ``n_tasks`` not an integer, ``temperature`` not a number.

    References:
        Liu, S., Johns, E. and Davison, A. J. "End-to-End Multi-Task Learning with
        Attention." CVPR 2019. https://arxiv.org/abs/1803.10704

    Example:
        >>> from crossent.multitask import DynamicWeightAverage, combine
        >>> dwa = DynamicWeightAverage(2, temperature=2.0)
        >>> dwa.update([1.0, 1.0]).tolist()  # one step recorded: weights stay 1
        [1.0, 1.0]
        >>> weights = dwa.update([0.5, 0.9])  # task 0 fell faster: task 1 gets more
        >>> [round(w, 4) for w in weights.tolist()]
        [0.9003, 1.0997]
        >>> float(combine([0.4, 0.8], weights))  # the next step's total
        1.2399
    """

    def __init__(self, n_tasks: int, *, temperature: float = 2.0) -> None:
        self.n_tasks = check_n_tasks(n_tasks)
        self.temperature = _checks.positive("temperature", temperature)
        self._before_last: np.ndarray | None = None
        self._last: np.ndarray | None = None

    def update(self, losses: Any) -> np.ndarray:
        """Record this step's (or epoch's) task losses; return the next step's weights.

        Args:
            losses: the K task losses: numbers or 0-d arrays of any library (their values
                are read; no gradient flows), or a ``[K]`` array.

        Returns:
            The weights :math:`w_k` for the next step, a NumPy float64 array of shape
            ``[K]`` (pass it to :func:`combine` with losses of any library).
        """
        xp, stacked = task_array("losses", losses, self.n_tasks)
        if is_torch(xp):
            stacked = stacked.detach()  # values only: no "tensor that requires grad" warning
        if stacked.ndim != 1:
            raise ValueError(
                f"`losses` must hold one scalar loss per task; got shape {tuple(stacked.shape)}."
            )
        values = np.asarray([float(stacked[i]) for i in range(self.n_tasks)], dtype=np.float64)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"`losses` must be positive and finite (the weights divide by them); "
                f"got losses[{i}]={float(values[i])!r}."
            )
        self._before_last, self._last = self._last, values
        return self.weights()

    def weights(self) -> np.ndarray:
        """The weights for the next step (all 1 until two steps are recorded), shape ``[K]``."""
        if self._before_last is None or self._last is None:
            return np.ones(self.n_tasks, dtype=np.float64)
        ratios = self._last / self._before_last
        xp = namespace(ratios)
        return np.asarray(self.n_tasks * softmax(xp, ratios / self.temperature))

    def __repr__(self) -> str:
        return f"DynamicWeightAverage(n_tasks={self.n_tasks}, temperature={self.temperature!r})"


# ---------------------------------------------------------------------------------------
# The torch.nn.Module weightings live in crossent.torch.multitask; re-exported here lazily.
# ---------------------------------------------------------------------------------------

TORCH_MODULES = ("UncertaintyWeighting", "GradNorm")
"""The weightings that are ``torch.nn.Module`` classes (learnable parameters), defined in
:mod:`crossent.torch.multitask` and reachable here without importing PyTorch up front."""


def __getattr__(name: str) -> Any:
    """:data:`TORCH_MODULES` from :mod:`crossent.torch.multitask`, imported on first access."""
    # Objects pickled by earlier versions name their classes "_Torch<Name>" in this module.
    base = name[len("_Torch") :] if name.startswith("_Torch") else name
    if base not in TORCH_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module("crossent.torch.multitask")
    except ImportError as exc:
        raise ImportError(
            f"`{base}` is a torch.nn.Module and needs PyTorch (pip install 'crossent[torch]'); "
            "without it use the functional forms, e.g. `uncertainty_weighted_sum`."
        ) from exc
    return getattr(module, base)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(TORCH_MODULES))
