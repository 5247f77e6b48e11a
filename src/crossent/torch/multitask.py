"""The multi-task weightings with learnable parameters, as ``torch.nn.Module`` classes.

:class:`UncertaintyWeighting` (Kendall et al. 2018) and :class:`GradNorm` (Chen et al.
2018). Their framework-free parts — stacking the task losses, the weighted sum, the
uncertainty weights — are those of :mod:`crossent.multitask` (defined below both, in
``crossent._multitask``), which re-exports both classes under the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from crossent import _checks
from crossent._array import dtype_name, is_torch, namespace, to_float
from crossent._multitask import (
    check_n_tasks,
    positive_numbers,
    stack_losses,
    uncertainty_total,
    uncertainty_weights,
    weighted_sum,
)

__all__ = ["GradNorm", "UncertaintyWeighting"]


class UncertaintyWeighting(torch.nn.Module):
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
        super().__init__()
        self.n_tasks = check_n_tasks(n_tasks)
        self.factor = positive_numbers("factor", factor, self.n_tasks)
        self.log_vars = torch.nn.Parameter(torch.zeros(self.n_tasks))

    def forward(self, losses: Any) -> Any:
        """The total :math:`\\sum_i c_i e^{-s_i} L_i + s_i` of the K task losses."""
        return uncertainty_total(losses, self.log_vars, self.factor, self.n_tasks)

    def weights(self) -> Any:
        """The effective weights :math:`c_i e^{-s_i}` now, a detached ``[K]`` tensor."""
        with torch.no_grad():
            log_vars = self.log_vars.detach()
            return uncertainty_weights(namespace(log_vars), log_vars, self.factor).clone()

    def extra_repr(self) -> str:
        return f"n_tasks={self.n_tasks}"


# ---------------------------------------------------------------------------------------
# GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018).
# ---------------------------------------------------------------------------------------


class GradNorm(torch.nn.Module):
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
        super().__init__()
        self.n_tasks = check_n_tasks(n_tasks)
        self.alpha = _checks.non_negative("alpha", alpha)
        self.task_weights = torch.nn.Parameter(torch.ones(self.n_tasks))
        initial = (
            (float("nan"),) * self.n_tasks
            if initial_losses is None
            else positive_numbers("initial_losses", initial_losses, self.n_tasks)
        )
        # NaN marks "not recorded yet"; a buffer, so that it follows .to() and state_dict.
        self.register_buffer("initial_losses", torch.tensor(initial))

    def forward(self, losses: Any) -> Any:
        """The network's loss :math:`\\sum_i w_i L_i`, with the weights held fixed (0-d)."""
        xp, stacked, out_dtype = self._torch_losses(losses)
        weights = to_float(xp, self.task_weights.detach(), stacked.dtype)
        return to_float(xp, weighted_sum(xp, stacked, weights), out_dtype)

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
        with torch.no_grad():
            self.task_weights.mul_(self.n_tasks / self.task_weights.sum())

    def weights(self) -> Any:
        """The task weights :math:`w_i` now, a detached ``[K]`` tensor."""
        return self.task_weights.detach().clone()

    def extra_repr(self) -> str:
        return f"n_tasks={self.n_tasks}, alpha={self.alpha}"

    def _torch_losses(self, losses: Any) -> tuple[Any, Any, Any]:
        xp, stacked, out_dtype = stack_losses(losses, self.n_tasks)
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
