"""Combining the losses of several tasks: fixed weights and learned weightings.

A multi-task model minimises one number built from the losses of its K tasks. The plain
sum lets the task with the largest loss scale dominate the shared layers, and a weighted
sum needs its weights tuned over repeated runs. The weightings below set the weights
during training instead:

- :func:`combine`: the sum or a fixed weighted sum, on NumPy, PyTorch or JAX.
- :class:`UncertaintyWeighting` and its functional form :func:`uncertainty_weighted_sum`
  (Kendall et al. 2018): one learnable log-variance per task.
- :class:`DynamicWeightAverage` (Liu et al. 2019): weights from the rate at which each
  task loss falls; no parameters.
- :class:`GradNorm` (Chen et al. 2018): weights learned so that each task's gradient at a
  shared layer has the size its training rate calls for.

Task losses are given as a list or tuple of K losses (0-d arrays, arrays of one common
shape, or Python numbers), or as one array whose first axis indexes the tasks. NumPy is
the only hard dependency: PyTorch is imported when a torch module of this file is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import array_api_compat
import numpy as np

from crossent import _checks
from crossent._array import (
    Array,
    compute_dtype,
    dtype_name,
    is_concrete,
    is_torch,
    namespace,
    softmax,
    to_float,
)

__all__ = [
    "DynamicWeightAverage",
    "GradNorm",
    "UncertaintyWeighting",
    "combine",
    "uncertainty_weighted_sum",
]


# ---------------------------------------------------------------------------------------
# Validation of per-task inputs.
# ---------------------------------------------------------------------------------------


def _n_tasks(value: Any) -> int:
    _checks.integer("n_tasks", value)
    if value < 1:
        raise ValueError(f"`n_tasks` must be at least 1; got n_tasks={value!r}.")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _task_array(name: str, values: Any, n_tasks: int | None) -> tuple[Any, Array]:
    """``values`` as one array whose first axis indexes the tasks, and its namespace.

    A list or tuple is stacked (Python numbers become arrays of the other entries'
    library, or a NumPy float64 array when every entry is a number); an array is used
    as it is.
    """
    if array_api_compat.is_array_api_obj(values):
        if values.ndim == 0:
            raise ValueError(
                f"`{name}` must be a list with one entry per task, or an array whose first "
                f"axis indexes the tasks; got a 0-d array."
            )
        xp, stacked = namespace(values), values
    elif isinstance(values, (list, tuple)):
        for i, value in enumerate(values):
            if not (_is_number(value) or array_api_compat.is_array_api_obj(value)):
                raise TypeError(
                    f"`{name}[{i}]` must be an array or a number; got {type(value).__name__}."
                )
        arrays = [v for v in values if not _is_number(v)]
        xp = namespace(*arrays)
        if not arrays:
            stacked = np.asarray(values, dtype=np.float64)
        else:
            shapes = sorted({tuple(a.shape) for a in arrays})
            if len(shapes) > 1:
                listed = ", ".join(str(s) for s in shapes)
                raise ValueError(f"`{name}`: every task's entry must have one shape; got {listed}.")
            ref = arrays[0]
            device = array_api_compat.device(ref)
            stacked = xp.stack(
                [
                    xp.full(ref.shape, float(v), dtype=ref.dtype, device=device)
                    if _is_number(v)
                    else v
                    for v in values
                ]
            )
    else:
        raise TypeError(
            f"`{name}` must be a list or tuple with one entry per task, or an array; "
            f"got {type(values).__name__}."
        )
    if stacked.shape[0] == 0:
        raise ValueError(f"`{name}` must hold at least one task; got none.")
    if n_tasks is not None and stacked.shape[0] != n_tasks:
        raise ValueError(
            f"`{name}` must hold one entry per task ({n_tasks}); got {stacked.shape[0]}."
        )
    return xp, stacked


def _losses(losses: Any, n_tasks: int | None = None) -> tuple[Any, Array, Any]:
    """Stacked task losses in the compute dtype, their namespace and the output dtype."""
    xp, stacked = _task_array("losses", losses, n_tasks)
    _checks.floating(xp, "losses", stacked)
    return xp, to_float(xp, stacked, compute_dtype(xp, stacked)), stacked.dtype


def _per_task(xp: Any, like: Array, name: str, values: Any) -> Array:
    """One number per task (shape ``[K]``) in ``like``'s library, dtype and device.

    Lists of numbers and NumPy arrays are converted (they are constants); arrays of
    ``like``'s library are used as they are, so gradients flow into them.
    """
    n_tasks = like.shape[0]
    vxp, values = _task_array(name, values, n_tasks)
    if values.ndim != 1:
        raise ValueError(
            f"`{name}` must hold one number per task, shape ({n_tasks},); "
            f"got {tuple(values.shape)}."
        )
    _checks.floating(vxp, name, values)
    if array_api_compat.is_numpy_array(values) and not array_api_compat.is_numpy_namespace(xp):
        return xp.asarray(values, dtype=like.dtype, device=array_api_compat.device(like))
    namespace(like, values)  # raises if the libraries differ
    return to_float(xp, values, like.dtype)


def _non_negative_entries(xp: Any, name: str, values: Array) -> None:
    if not is_concrete(values):
        return
    bad = ~(values >= 0)  # NaN fails the comparison too
    if bool(xp.any(bad)):
        i = next(i for i in range(values.shape[0]) if bool(bad[i]))
        raise ValueError(f"`{name}` must be non-negative; got {name}[{i}]={float(values[i])!r}.")


def _positive_numbers(name: str, value: Any, n_tasks: int) -> tuple[float, ...]:
    """A positive number, or a sequence of one positive number per task, as a tuple."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return (_checks.positive(name, value),) * n_tasks
    if len(value) != n_tasks:
        raise ValueError(f"`{name}` must hold one number per task ({n_tasks}); got {len(value)}.")
    return tuple(_checks.positive(f"{name}[{i}]", v) for i, v in enumerate(value))


def _weighted_sum(xp: Any, losses: Array, weights: Array) -> Array:
    r""":math:`\sum_k w_k L_k` over the task axis (axis 0) of ``losses``."""
    w = xp.reshape(weights, (-1,) + (1,) * (losses.ndim - 1))
    return xp.sum(w * losses, axis=0)


# ---------------------------------------------------------------------------------------
# Fixed weights.
# ---------------------------------------------------------------------------------------


def combine(losses: Any, weights: Any = None) -> Array:
    r"""The sum, or a weighted sum, of the task losses.

    .. math:: \mathcal{L} = \sum_{k=1}^{K} w_k L_k

    with every :math:`w_k = 1` when ``weights`` is ``None``. The simple fusions of the seed article: the plain sum lets the task with the largest
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
    xp, stacked, out_dtype = _losses(losses)
    if weights is None:
        total = xp.sum(stacked, axis=0)
    else:
        w = _per_task(xp, stacked, "weights", weights)
        _non_negative_entries(xp, "weights", w)
        total = _weighted_sum(xp, stacked, w)
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
    return _uncertainty_total(losses, log_vars, factor, n_tasks=None)


def _uncertainty_total(losses: Any, log_vars: Any, factor: Any, n_tasks: int | None) -> Array:
    xp, stacked, out_dtype = _losses(losses, n_tasks)
    s = _per_task(xp, stacked, "log_vars", log_vars)
    weights = _uncertainty_weights(xp, s, _positive_numbers("factor", factor, stacked.shape[0]))
    total = _weighted_sum(xp, stacked, weights) + xp.sum(s)
    return to_float(xp, total, out_dtype)


def _uncertainty_weights(xp: Any, log_vars: Array, factor: tuple[float, ...]) -> Array:
    r"""The effective weights :math:`c_i e^{-s_i}`."""
    weights = xp.exp(-log_vars)
    if any(c != 1.0 for c in factor):
        weights = weights * xp.asarray(
            factor, dtype=log_vars.dtype, device=array_api_compat.device(log_vars)
        )
    return weights


class _LazyTorchModule:
    """Base of this file's ``torch.nn.Module`` classes: PyTorch is imported on first use.

    ``Cls(...)`` builds an instance of ``Cls`` mixed with ``torch.nn.Module`` (the mixed
    class is made once and cached), so ``import crossent.multitask`` needs NumPy only,
    while the objects built are genuine modules: ``isinstance(obj, torch.nn.Module)``,
    parameters, ``.to(device)``, ``state_dict``, pickling.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(_torch_class(cls))


_TORCH_CLASSES: dict[str, type] = {}
_TORCH_PREFIX = "_Torch"


def _torch_class(cls: type) -> type:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            f"`{cls.__name__}` is a torch.nn.Module and needs PyTorch "
            f"(pip install 'crossent[torch]'); without it use the functional forms, "
            f"e.g. `uncertainty_weighted_sum`."
        ) from exc
    if issubclass(cls, torch.nn.Module):
        return cls
    name = _TORCH_PREFIX + cls.__name__
    if name not in _TORCH_CLASSES:
        _TORCH_CLASSES[name] = type(
            cls.__name__, (cls, torch.nn.Module), {"__module__": __name__, "__qualname__": name}
        )
    return _TORCH_CLASSES[name]


def __getattr__(name: str) -> Any:
    """The mixed torch classes by their qualified names, so that pickle finds them."""
    base = globals().get(name[len(_TORCH_PREFIX) :]) if name.startswith(_TORCH_PREFIX) else None
    if isinstance(base, type) and issubclass(base, _LazyTorchModule):
        return _torch_class(base)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    import torch
    from torch.nn import Module as _TorchModuleBase
else:
    _TorchModuleBase = _LazyTorchModule


class UncertaintyWeighting(_TorchModuleBase):
    r"""Task losses weighted by learned homoscedastic uncertainty (Kendall et al. 2018).

    Each task :math:`i` has a learnable log-variance :math:`s_i = \log \sigma_i^2`
    (parameter ``log_vars``, initialised to 0: every weight 1), and the total is

    .. math:: \mathcal{L} = \sum_{i=1}^{K} c_i\, e^{-s_i} L_i + s_i

    optimised jointly with the model. The effective weight of task :math:`i` is
    :math:`c_i e^{-s_i}` (``weights()``). For fixed losses the minimum over :math:`s_i`
    is at :math:`c_i e^{-s_i} = 1 / L_i`, whatever :math:`c_i`: each task is rescaled to
    a common loss scale, with no weight to tune, and the :math:`+ s_i` term keeps the
    weights from collapsing to 0. The task losses must be positive (cross-entropies and
    squared errors are): for :math:`L_i \le 0` the total has no minimum in :math:`s_i`.

    **The factor of ½.** With :math:`s = \log \sigma^2`, the paper's negative
    log-likelihoods are :math:`\tfrac12 e^{-s} L + \tfrac12 s` for a regression task with
    a Gaussian likelihood and a squared error :math:`L` (written there as
    :math:`\frac{1}{2\sigma^2} L + \log\sigma`), and approximately
    :math:`e^{-s} L + \tfrac12 s` for a classification task with a softmax of logits
    scaled by :math:`1/\sigma^2` and a cross-entropy :math:`L` (written there as
    :math:`\frac{1}{\sigma^2} L + \log\sigma`). The total above is twice those: the
    default :math:`c_i = 1` is exactly twice the regression objective, the
    ``exp(-s)·L + s`` form that most implementations use for every task; pass
    ``factor=2.0`` for a classification task to get exactly twice the paper's
    classification objective. The overall factor 2 moves no minimum; :math:`c_i` moves
    :math:`s_i` (to :math:`\log(c_i L_i)`, so that :math:`\sigma_i^2` is the paper's
    variance: the mean squared error for a regression task), not the limit weights
    :math:`1/L_i`.

    Args:
        n_tasks: number of tasks K, at least 1.
        factor: :math:`c_i`, a positive number or one per task (``1.0`` for a regression
            task, ``2.0`` for a classification task, to follow the paper exactly).
            Default: ``1.0``.

    Shape:
        - ``losses``: K 0-d tensors (or of one common shape), or a ``[K, ...]`` tensor.
        - Output: one task's loss shape (0-d for scalar losses); the losses' dtype.

    Raises:
        ValueError: ``n_tasks`` < 1, a non-positive factor or a number of factors other
            than ``n_tasks``; when called, a number of losses other than ``n_tasks``.
        TypeError: ``n_tasks`` not an integer.
        ImportError: PyTorch is not installed (use :func:`uncertainty_weighted_sum`).

    References:
        Kendall, A., Gal, Y. and Cipolla, R. "Multi-Task Learning Using Uncertainty to
        Weigh Losses for Scene Geometry and Semantics." CVPR 2018.
        https://arxiv.org/abs/1705.07115

    Example:
        Task losses of scales 1 and 100 end up weighted about 100 : 1 (in training, give
        the optimizer the model's parameters and the weighting's together).

        >>> import torch
        >>> from crossent.multitask import UncertaintyWeighting
        >>> weighting = UncertaintyWeighting(2)
        >>> optimizer = torch.optim.Adam(weighting.parameters(), lr=0.2)
        >>> for _ in range(400):
        ...     losses = [torch.tensor(1.0), torch.tensor(100.0)]
        ...     optimizer.zero_grad()
        ...     weighting(losses).backward()
        ...     optimizer.step()
        >>> w = weighting.weights()
        >>> round(float(w[0] / w[1]))
        100
    """

    def __init__(self, n_tasks: int, *, factor: float | Sequence[float] = 1.0) -> None:
        import torch

        super().__init__()
        self.n_tasks = _n_tasks(n_tasks)
        self.factor = _positive_numbers("factor", factor, self.n_tasks)
        self.log_vars = torch.nn.Parameter(torch.zeros(self.n_tasks))

    def forward(self, losses: Any) -> Any:
        """The total :math:`\\sum_i c_i e^{-s_i} L_i + s_i` of the K task losses."""
        return _uncertainty_total(losses, self.log_vars, self.factor, self.n_tasks)

    def weights(self) -> Any:
        """The effective weights :math:`c_i e^{-s_i}` now, a detached ``[K]`` tensor."""
        import torch

        with torch.no_grad():
            log_vars = self.log_vars.detach()
            return _uncertainty_weights(namespace(log_vars), log_vars, self.factor).clone()

    def extra_repr(self) -> str:
        return f"n_tasks={self.n_tasks}"


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
        self.n_tasks = _n_tasks(n_tasks)
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
        xp, stacked = _task_array("losses", losses, self.n_tasks)
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
# GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018).
# ---------------------------------------------------------------------------------------


class GradNorm(_TorchModuleBase):
    r"""Task weights that balance the gradient norms at a shared layer (Chen et al. 2018).

    The network is trained on :math:`\sum_i w_i L_i` with the weights :math:`w_i`
    (parameter ``task_weights``, initialised to 1) held fixed; the weights are trained on
    the GradNorm loss

    .. math::

        L_\text{grad} = \sum_{i=1}^{K} \big|\, G_W^{(i)} - \bar G_W \, [r_i]^{\alpha} \big|,
        \qquad G_W^{(i)} = \lVert \nabla_W\, w_i L_i \rVert_2,
        \qquad \bar G_W = \tfrac1K \textstyle\sum_j G_W^{(j)},

        \tilde L_i = L_i(t) / L_i(0), \qquad r_i = \tilde L_i \big/ \tfrac1K \textstyle\sum_j \tilde L_j,

    where :math:`W` are the parameters of a layer every task shares (the paper takes
    the last shared layer), the target :math:`\bar G_W [r_i]^\alpha` is held constant,
    and :math:`L_\text{grad}` is differentiated with respect to the :math:`w_i` only.
    A task that trains slower than the others (:math:`r_i > 1`) is given a larger
    gradient; :math:`\alpha` sets how strongly (``alpha=0`` equalises the gradient norms).
    After each step of the weights' optimizer, ``renormalize()`` rescales them to
    :math:`\sum_i w_i = K`. Since :math:`w_i` is a positive scalar,
    :math:`G_W^{(i)} = w_i \lVert \nabla_W L_i \rVert`: the per-task gradient norms are
    computed with first-order autograd (K backward passes from the losses to :math:`W`)
    and no second-order graph is built. Keep the weights' learning rate small enough
    that no weight reaches 0 (a weight at or below 0 switches its task off or reverses it).

    A training step:

    1. compute the K task losses :math:`L_i(t)`;
    2. ``total = gradnorm(losses)``: :math:`\sum_i w_i L_i` with the :math:`w_i`
       detached, the network's loss;
    3. ``balance = gradnorm.gradnorm_loss(losses, shared)``: :math:`L_\text{grad}`, a
       function of the :math:`w_i` only (on its first call it records the initial losses
       :math:`L_i(0)`, unless given as ``initial_losses``);
    4. zero both optimizers' gradients, ``(total + balance).backward()``, step both;
    5. ``gradnorm.renormalize()``.

    Args:
        n_tasks: number of tasks K, at least 1.
        alpha: :math:`\alpha \ge 0`, the strength of the restoring force. Default: ``1.5``
            (the paper's value for NYUv2).
        initial_losses: the K positive losses :math:`L_i(0)` the loss ratios divide by
            (e.g. :math:`\log C` for a C-class softmax cross-entropy, its value at a uniform
            prediction). ``None`` records the losses of the first ``gradnorm_loss`` call.
            Default: ``None``.

    Shape:
        - ``losses``: K 0-d tensors, or a ``[K]`` tensor.
        - Output of the call and of ``gradnorm_loss``: 0-d.

    Raises:
        ValueError: ``n_tasks`` < 1, negative ``alpha``, bad ``initial_losses``; when
            called, a number of losses other than ``n_tasks``; in ``gradnorm_loss``, a task
            loss that does not depend on the shared parameters.
        TypeError: ``n_tasks`` not an integer; losses that are not torch tensors.
        ImportError: PyTorch is not installed.

    References:
        Chen, Z., Badrinarayanan, V., Lee, C.-Y. and Rabinovich, A. "GradNorm: Gradient
        Normalization for Adaptive Loss Balancing in Deep Multitask Networks." ICML 2018.
        https://arxiv.org/abs/1711.02257

    Example:
        Two regression heads on a shared trunk, the second with targets 10 times larger:

        >>> import torch
        >>> from crossent.multitask import GradNorm
        >>> _ = torch.manual_seed(0)
        >>> trunk = torch.nn.Linear(4, 16)
        >>> heads = torch.nn.ModuleList([torch.nn.Linear(16, 1), torch.nn.Linear(16, 1)])
        >>> gradnorm = GradNorm(2, alpha=1.5)
        >>> model_opt = torch.optim.SGD([*trunk.parameters(), *heads.parameters()], lr=1e-3)
        >>> weight_opt = torch.optim.Adam(gradnorm.parameters(), lr=0.02)
        >>> x = torch.randn(64, 4)
        >>> targets = [x @ torch.randn(4, 1), 10 * x @ torch.randn(4, 1)]
        >>> for _ in range(50):
        ...     features = torch.tanh(trunk(x))
        ...     losses = [
        ...         torch.nn.functional.mse_loss(head(features), y) for head, y in zip(heads, targets)
        ...     ]
        ...     total = gradnorm(losses)  # w held fixed: trains the network
        ...     balance = gradnorm.gradnorm_loss(losses, trunk.weight)  # trains w only
        ...     model_opt.zero_grad()
        ...     weight_opt.zero_grad()
        ...     (total + balance).backward()
        ...     model_opt.step()
        ...     weight_opt.step()
        ...     gradnorm.renormalize()  # sum of weights = n_tasks
        >>> w = gradnorm.weights()
        >>> bool(w[0] > w[1]), round(float(w.sum()), 4)  # the small-scale task gains weight
        (True, 2.0)
    """

    initial_losses: torch.Tensor

    def __init__(
        self,
        n_tasks: int,
        *,
        alpha: float = 1.5,
        initial_losses: Sequence[float] | None = None,
    ) -> None:
        import torch

        super().__init__()
        self.n_tasks = _n_tasks(n_tasks)
        self.alpha = _checks.non_negative("alpha", alpha)
        self.task_weights = torch.nn.Parameter(torch.ones(self.n_tasks))
        initial = (
            (float("nan"),) * self.n_tasks
            if initial_losses is None
            else _positive_numbers("initial_losses", initial_losses, self.n_tasks)
        )
        # NaN marks "not recorded yet"; a buffer, so that it follows .to() and state_dict.
        self.register_buffer("initial_losses", torch.tensor(initial))

    def forward(self, losses: Any) -> Any:
        """The network's loss :math:`\\sum_i w_i L_i`, with the weights held fixed (0-d)."""
        xp, stacked, out_dtype = self._torch_losses(losses)
        weights = to_float(xp, self.task_weights.detach(), stacked.dtype)
        return to_float(xp, _weighted_sum(xp, stacked, weights), out_dtype)

    def gradnorm_loss(self, losses: Any, shared_parameters: Any) -> Any:
        """The GradNorm loss :math:`L_\\text{grad}`, differentiable in the weights only.

        Args:
            losses: the K task losses of this step, still attached to the graph; a list
                or tuple of 0-d tensors (the entries of a ``[K]`` tensor work too, but a
                task that does not reach :math:`W` then shows a zero gradient norm instead
                of an error).
            shared_parameters: the parameters :math:`W` of a layer every task uses (a
                tensor or an iterable of tensors), e.g. ``trunk[-1].weight``.

        Returns:
            0-d tensor; its gradient reaches ``task_weights`` and nothing else.
        """
        import torch

        _, stacked, _ = self._torch_losses(losses)
        params = (
            [shared_parameters]
            if isinstance(shared_parameters, torch.Tensor)
            else list(shared_parameters)
        )
        if not params or not all(isinstance(p, torch.Tensor) for p in params):
            raise TypeError(
                "`shared_parameters` must be a tensor or an iterable of tensors; "
                f"got {type(shared_parameters).__name__}."
            )
        # Differentiate each loss as given: the entries of a stacked tensor are linked in the
        # graph, which would turn "does not reach W" into a silent zero gradient.
        per_task = list(losses) if isinstance(losses, (list, tuple)) else list(stacked)
        norms = []
        for i, loss in enumerate(per_task):
            attached = isinstance(loss, torch.Tensor) and loss.requires_grad
            grads = (
                torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                if attached
                else (None,)
            )
            if any(g is None for g in grads):
                raise ValueError(
                    f"`shared_parameters`: task loss {i} does not depend on them; name a "
                    f"layer that every task's loss passes through."
                )
            norms.append(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            )
        w = self.task_weights
        grad_norms = w * torch.stack(norms).to(w.dtype)  # G_W^(i) = w_i ||grad_W L_i||
        with torch.no_grad():
            current = stacked.detach().to(w.dtype)
            self.initial_losses.copy_(
                torch.where(torch.isnan(self.initial_losses), current, self.initial_losses)
            )
            loss_ratios = current / self.initial_losses
            inverse_rates = loss_ratios / loss_ratios.mean()
            target = grad_norms.mean() * inverse_rates**self.alpha
        return torch.sum(torch.abs(grad_norms - target))

    def renormalize(self) -> None:
        """Rescale the weights in place so that they sum to ``n_tasks``."""
        import torch

        with torch.no_grad():
            self.task_weights.mul_(self.n_tasks / self.task_weights.sum())

    def weights(self) -> Any:
        """The task weights :math:`w_i` now, a detached ``[K]`` tensor."""
        return self.task_weights.detach().clone()

    def extra_repr(self) -> str:
        return f"n_tasks={self.n_tasks}, alpha={self.alpha}"

    def _torch_losses(self, losses: Any) -> tuple[Any, Any, Any]:
        xp, stacked, out_dtype = _losses(losses, self.n_tasks)
        if not is_torch(xp):
            raise TypeError(
                f"`losses` must be torch tensors for GradNorm; got {type(stacked).__module__}"
                f" arrays of dtype {dtype_name(stacked.dtype)}."
            )
        if stacked.ndim != 1:
            raise ValueError(
                f"`losses` must hold one scalar loss per task; got shape {tuple(stacked.shape)}."
            )
        return xp, stacked, out_dtype
