r"""Knowledge distillation: a divergence between a teacher's and a student's softmax.

With temperature ``T``, :math:`P = \mathrm{softmax}(t / T)` the teacher's distribution and
:math:`Q = \mathrm{softmax}(s / T)` the student's, each row's divergence is one of

* ``"kl"`` — :math:`\mathrm{KL}(P \,\|\, Q) = \sum_c p_c (\log p_c - \log q_c)`, Hinton et
  al.'s forward KL: the student covers every mode of the teacher (mean-seeking);
* ``"reverse_kl"`` — :math:`\mathrm{KL}(Q \,\|\, P)`: the student may drop modes the teacher
  has, not invent ones it lacks (mode-seeking);
* ``"jsd"`` — the generalised Jensen–Shannon divergence
  :math:`\beta\, \mathrm{KL}(P \,\|\, M) + (1 - \beta)\, \mathrm{KL}(Q \,\|\, M)`,
  :math:`M = \beta P + (1 - \beta) Q`, bounded by :math:`\log 2`.

Everything is computed from log-probabilities (``log_softmax``, and :math:`\log M` by
``logaddexp``), never from probabilities that underflow, so logits of ±1e4 give finite
values and gradients. The teacher is a constant: no gradient reaches it.

The closed-form gradients with respect to the student's logits are in
:func:`crossent.grad.distillation_loss`; the fused version for language-model heads,
which never holds either model's logits whole, is
:func:`crossent.torch.linear_distillation_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat

from crossent import _checks, _reduce
from crossent._array import (
    Array,
    asarray,
    compute_dtype,
    is_integer,
    log_softmax,
    move_class_axis_last,
    mul_log,
    namespace,
    to_float,
)
from crossent.losses.categorical import prepare_targets, softmax_cross_entropy

__all__ = ["DIVERGENCES", "distillation_loss"]

DIVERGENCES = ("kl", "reverse_kl", "jsd")
"""The divergences :func:`distillation_loss` computes."""


@dataclass(frozen=True)
class DistillationOptions:
    """The validated options of :func:`distillation_loss` (Python numbers)."""

    temperature: float
    divergence: str
    beta: float
    hard_weight: float
    ignore_index: int | None
    reduction: str


def check_options(
    *,
    temperature: Any,
    divergence: Any,
    beta: Any,
    hard_weight: Any,
    ignore_index: Any,
    reduction: Any,
) -> DistillationOptions:
    """Validate the options of :func:`distillation_loss` (also those of the fused loss).

    Raises:
        ValueError: a non-positive ``temperature``, an unknown ``divergence`` or
            ``reduction``, ``beta`` outside (0, 1) for ``"jsd"``, ``hard_weight`` outside
            [0, 1].
        TypeError: options that are not numbers (``ignore_index``: not an integer).
    """
    _checks.reduction(reduction)
    t = _checks.positive("temperature", temperature)
    if not isinstance(divergence, str) or divergence not in DIVERGENCES:
        raise ValueError(
            f"`divergence` must be one of 'kl', 'reverse_kl', 'jsd'; got divergence={divergence!r}."
        )
    b = _checks.number_in("beta", beta, 0.0, 1.0, low_open=True, high_open=True)
    alpha = _checks.number_in("hard_weight", hard_weight, 0.0, 1.0)
    if ignore_index is not None:
        ignore_index = _checks.integer("ignore_index", ignore_index)
    return DistillationOptions(t, divergence, b, alpha, ignore_index, reduction)


def stop_gradient(xp: Any, x: Any) -> Any:
    """``x`` as a constant for autograd (PyTorch ``detach``, JAX ``stop_gradient``)."""
    if array_api_compat.is_torch_namespace(xp):
        return x.detach()
    if array_api_compat.is_jax_namespace(xp):
        import jax

        return jax.lax.stop_gradient(x)
    return x


def relative_entropy_terms(xp: Any, log_a: Any, log_b: Any) -> Any:
    r"""Elementwise :math:`a \,(\log a - \log b)` from log-probabilities: the terms of
    :math:`\mathrm{KL}(A \,\|\, B)`.

    0 where :math:`a = 0` (also where :math:`b = 0` too), :math:`+\infty` where
    :math:`a > 0 = b`; the log-ratio is a difference of logs, so the terms stay accurate
    where :math:`A \approx B` and where the probabilities themselves would underflow.

    Args:
        xp: the array namespace.
        log_a: :math:`\log a`, possibly ``-inf``.
        log_b: :math:`\log b`, possibly ``-inf``.

    Returns:
        The terms, of the broadcast shape.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace
        >>> log_a = np.array([np.log(0.5), np.log(0.5), -np.inf])
        >>> log_b = np.array([np.log(0.25), np.log(0.75), -np.inf])
        >>> relative_entropy_terms(namespace(log_a), log_a, log_b).round(4)
        array([ 0.3466, -0.2027,  0.    ])
    """
    return mul_log(xp, xp.exp(log_a), log_ratio(xp, log_a, log_b))


def log_ratio(xp: Any, log_a: Any, log_b: Any) -> Any:
    r""":math:`\log a - \log b`, and :math:`-\infty` wherever :math:`a = 0` (whatever ``b``).

    Where :math:`a = 0` every term the ratio enters is multiplied by :math:`a`, and
    :func:`crossent._array.mul_log` makes :math:`0 \cdot (-\infty)` a 0; replacing
    :math:`\log b` by 0 there keeps :math:`-\infty - (-\infty)` = NaN (a class masked in
    both distributions) out of the value and of autograd.
    """
    absent = log_a == -math.inf
    return log_a - xp.where(absent, xp.zeros_like(log_b), log_b)


def kl_rows(xp: Any, log_a: Any, log_b: Any) -> Any:
    r""":math:`\mathrm{KL}(A \,\|\, B)` per row (class axis last) from log-probabilities."""
    return xp.sum(relative_entropy_terms(xp, log_a, log_b), axis=-1)


def log_mixture(xp: Any, log_p: Any, log_q: Any, beta: float) -> Any:
    r""":math:`\log M = \log(\beta P + (1 - \beta) Q)` by ``logaddexp``, never from probabilities.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace
        >>> log_p, log_q = np.log([1.0, 1e-300]), np.log([1e-300, 1.0])
        >>> np.exp(log_mixture(namespace(log_p), log_p, log_q, 0.25)).round(4)
        array([0.25, 0.75])
    """
    return xp.logaddexp(math.log(beta) + log_p, math.log1p(-beta) + log_q)


@dataclass
class RowLogProbs:
    """The log-probabilities of one batch of rows (class axis last), compute dtype."""

    log_q: Any  # student, log softmax(s / T)
    log_p: Any  # teacher, log softmax(t / T), a constant for autograd
    log_m: Any = None  # log M for "jsd"


def row_mask(xp: Any, targets: Any, ignore_index: int | None) -> Any:
    """Rows that count (``targets != ignore_index``), or None when every row counts."""
    if targets is None or ignore_index is None:
        return None
    return targets != ignore_index


def zero_ignored(xp: Any, logits: Any, valid: Any) -> Any:
    """``logits`` with the rows that do not count set to 0.

    An ignored row may be masked whole (all ``-inf``, padding): its log-softmax would be
    NaN, and autograd would carry the NaN through the 0 that multiplies it.
    """
    if valid is None:
        return logits
    return xp.where(valid[..., None], logits, xp.zeros_like(logits))


def row_log_probs(
    xp: Any, student: Any, teacher: Any, valid: Any, opts: DistillationOptions
) -> RowLogProbs:
    """:class:`RowLogProbs` of student and teacher logits (class axis last, compute dtype)."""
    teacher = stop_gradient(xp, teacher)
    t = opts.temperature
    log_q = log_softmax(xp, zero_ignored(xp, student, valid) / t, axis=-1)
    log_p = log_softmax(xp, zero_ignored(xp, teacher, valid) / t, axis=-1)
    log_m = log_mixture(xp, log_p, log_q, opts.beta) if opts.divergence == "jsd" else None
    return RowLogProbs(log_q, log_p, log_m)


def divergence_rows(xp: Any, lp: RowLogProbs, opts: DistillationOptions) -> Any:
    r"""Each row's divergence :math:`D_i` (before the :math:`T^2` scale)."""
    if opts.divergence == "kl":
        return kl_rows(xp, lp.log_p, lp.log_q)
    if opts.divergence == "reverse_kl":
        return kl_rows(xp, lp.log_q, lp.log_p)
    b = opts.beta
    return b * kl_rows(xp, lp.log_p, lp.log_m) + (1 - b) * kl_rows(xp, lp.log_q, lp.log_m)


def rows_loss(
    xp: Any,
    student: Any,
    teacher: Any,
    targets: Any,
    opts: DistillationOptions,
    lp: RowLogProbs | None = None,
) -> Any:
    r"""Unreduced loss of each row, 0 for rows that do not count:
    :math:`(1 - \alpha)\, T^2 D_i + \alpha\, \mathrm{CE}(s_i, y_i)`.

    ``student`` and ``teacher`` are logits with the class axis last in the compute dtype;
    ``targets`` class indices of the batch shape (validated), or None; ``lp`` their
    :func:`row_log_probs` when the caller has them already. The fused loss calls this on
    each chunk of rows.
    """
    valid = row_mask(xp, targets, opts.ignore_index)
    alpha = opts.hard_weight
    loss = None
    if alpha < 1:
        if lp is None:
            lp = row_log_probs(xp, student, teacher, valid, opts)
        loss = (1 - alpha) * opts.temperature**2 * divergence_rows(xp, lp, opts)
        if valid is not None:
            loss = xp.where(valid, loss, xp.zeros_like(loss))
    if alpha > 0:
        hard = alpha * softmax_cross_entropy(
            student, targets, ignore_index=opts.ignore_index, reduction="none", validate=False
        )
        loss = hard if loss is None else loss + hard
    return loss


def check_targets(
    xp: Any,
    targets: Any,
    *,
    pred_shape: tuple[int, ...],
    axis: int,
    opts: DistillationOptions,
) -> Any:
    """Class-index ``targets`` for logits of ``pred_shape`` (classes along ``axis``),
    validated as softmax cross-entropy's; ``None`` unless ``hard_weight > 0`` needs them.

    Raises:
        ValueError: ``hard_weight > 0`` without targets; the errors of class indices.
        TypeError: targets that are not integers.
    """
    if targets is None:
        if opts.hard_weight > 0:
            raise ValueError(
                "`targets` are required when `hard_weight` > 0; got targets=None "
                f"with hard_weight={opts.hard_weight!r}."
            )
        return None
    targets = asarray(targets, "targets")
    if not is_integer(xp, targets):
        raise TypeError(
            "`targets` of a distillation loss must be integer class indices; got dtype "
            f"{str(targets.dtype).rsplit('.', 1)[-1]}."
        )
    prepare_targets(
        xp,
        targets,
        pred_shape=pred_shape,
        axis=axis,
        dtype=xp.float32,
        weight=None,
        ignore_index=opts.ignore_index,
        label_smoothing=0.0,
        pred_name="student_logits",
    )
    return targets


@dataclass
class DistillationForward:
    """Validated inputs of :func:`distillation_loss`, shared with its closed-form gradient."""

    xp: Any
    student: Any  # compute dtype, class axis last
    teacher: Any  # compute dtype, class axis last, a constant
    targets: Any  # class indices of the batch shape, or None
    opts: DistillationOptions
    divisor: Any  # what "mean" divides by: the number of rows that count
    axis: int
    out_dtype: Any


def distillation_forward(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float,
    divergence: str,
    beta: float,
    targets: Array | None,
    ignore_index: int | None,
    hard_weight: float,
    axis: int,
    reduction: str,
) -> DistillationForward:
    """Validate the inputs of :func:`distillation_loss`; logits in the compute dtype."""
    student_logits = asarray(student_logits, "student_logits")
    teacher_logits = asarray(teacher_logits, "teacher_logits")
    xp = namespace(student_logits, teacher_logits, targets)
    opts = check_options(
        temperature=temperature,
        divergence=divergence,
        beta=beta,
        hard_weight=hard_weight,
        ignore_index=ignore_index,
        reduction=reduction,
    )
    _checks.floating(xp, "student_logits", student_logits)
    _checks.floating(xp, "teacher_logits", teacher_logits)
    if tuple(teacher_logits.shape) != tuple(student_logits.shape):
        raise ValueError(
            "`teacher_logits` must have the shape of `student_logits`, "
            f"{tuple(student_logits.shape)}; got {tuple(teacher_logits.shape)}."
        )
    ax = _checks.axis("axis", axis, student_logits.ndim)
    if student_logits.shape[ax] == 0:
        raise ValueError(
            f"`student_logits` must have at least one class along axis {axis}; got shape "
            f"{tuple(student_logits.shape)}."
        )
    targets = check_targets(xp, targets, pred_shape=tuple(student_logits.shape), axis=ax, opts=opts)
    dtype = compute_dtype(xp, student_logits)
    student = move_class_axis_last(xp, to_float(xp, student_logits, dtype), ax)
    teacher = move_class_axis_last(xp, to_float(xp, teacher_logits, dtype), ax)
    valid = row_mask(xp, targets, opts.ignore_index)
    divisor = math.prod(student.shape[:-1]) if valid is None else _reduce.count(xp, valid)
    return DistillationForward(
        xp, student, teacher, targets, opts, divisor, ax, student_logits.dtype
    )


@_checks.honours_validate
def distillation_loss(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 1.0,
    divergence: str = "kl",
    beta: float = 0.5,
    targets: Array | None = None,
    ignore_index: int | None = -100,
    hard_weight: float = 0.0,
    axis: int = -1,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Knowledge-distillation loss: a divergence between teacher and student softmax at ``T``.

    With :math:`P = \mathrm{softmax}(t / T)` (teacher), :math:`Q = \mathrm{softmax}(s / T)`
    (student) and :math:`\alpha` = ``hard_weight``, the unreduced loss of row ``i`` is

    .. math:: \ell_i = (1 - \alpha)\, T^2\, D(P_i, Q_i) + \alpha\, \mathrm{CE}(s_i, y_i)

    where :math:`D` is

    * ``"kl"``: :math:`\mathrm{KL}(P \,\|\, Q) = \sum_c p_c \log (p_c / q_c)` (forward,
      mean-seeking; Hinton et al.);
    * ``"reverse_kl"``: :math:`\mathrm{KL}(Q \,\|\, P)` (mode-seeking);
    * ``"jsd"``: :math:`\beta\, \mathrm{KL}(P \,\|\, M) + (1 - \beta)\, \mathrm{KL}(Q \,\|\, M)`,
      :math:`M = \beta P + (1 - \beta) Q` — TRL's ``generalized_jsd_loss`` convention: β
      weighs the teacher's side, and the divergence leans towards :math:`\mathrm{KL}(P\|Q)`
      as β → 0 and towards :math:`\mathrm{KL}(Q\|P)` as β → 1 (TRL computes those two at
      β = 0 and 1 exactly; here use ``"kl"`` and ``"reverse_kl"``). β = 0.5 is the
      symmetric Jensen–Shannon divergence of :func:`crossent.js_divergence`.

    Papers and libraries name the directions the other way round too (some call the
    student-first :math:`\mathrm{KL}(Q\|P)` "forward"); here the first argument of
    ``"kl"`` is always the teacher, and β always multiplies the teacher's term.

    The :math:`T^2` factor keeps the gradient's magnitude independent of ``T`` (the
    softened softmax divides it by :math:`T^2`; Hinton et al.). The hard term is
    :func:`crossent.softmax_cross_entropy` of the raw student logits (temperature 1).
    Rows whose ``targets`` equal ``ignore_index`` count for nothing, in both terms.
    ``"mean"`` averages over the rows that count — the per-row divergence is summed over
    the classes first, i.e. PyTorch's ``kl_div(..., reduction="batchmean")``, not
    ``"mean"`` over elements; with every row ignored it is 0 with a zero gradient.

    No gradient reaches the teacher: its logits are a constant (detached on PyTorch,
    ``stop_gradient`` on JAX). Computed from ``log_softmax`` and ``logaddexp`` (never
    ``log(softmax)``), so logits of ±1e4 stay finite; fp16/bf16 run in float32 and return
    in the student's dtype.

    Args:
        student_logits: the student's logits, classes along ``axis``.
        teacher_logits: the teacher's logits, same shape (any floating dtype).
        temperature: ``T > 0``, the softmax temperature of both models. Default: ``1.0``.
        divergence: ``"kl"`` | ``"reverse_kl"`` | ``"jsd"``. Default: ``"kl"``.
        beta: β in (0, 1) of ``"jsd"`` (unused otherwise). Default: ``0.5``.
        targets: integer class indices of the logits' shape without ``axis``, or ``None``;
            needed when ``hard_weight > 0``, and mark ignored rows. Default: ``None``.
        ignore_index: target value of rows that count for nothing; ``None`` disables it.
            Default: ``-100``.
        hard_weight: α in [0, 1], the weight of the cross-entropy with ``targets``.
            Default: ``0.0``.
        axis: the class axis. Default: ``-1``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        validate: value checks (label range) on or off for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array for ``"mean"``/``"sum"``; for ``"none"`` the per-row losses, shaped like
        the logits without ``axis``. Same array library as the logits, the student's dtype.

    Raises:
        ValueError: mismatched shapes, unknown ``divergence`` or ``reduction``,
            ``temperature`` ≤ 0, ``beta`` outside (0, 1), ``hard_weight`` outside [0, 1],
            ``hard_weight > 0`` without ``targets``, class indices out of range.
        TypeError: non-floating logits, non-integer ``targets``.

    References:
        Hinton, Vinyals and Dean. "Distilling the Knowledge in a Neural Network." 2015.
        https://arxiv.org/abs/1503.02531
        Agarwal et al. "On-Policy Distillation of Language Models: Learning from
        Self-Generated Mistakes" (GKD). ICLR 2024. https://arxiv.org/abs/2306.13649

    Example:
        >>> import numpy as np
        >>> from crossent import distillation_loss
        >>> teacher = np.log(np.array([[0.5, 0.5]]))
        >>> student = np.log(np.array([[0.25, 0.75]]))
        >>> round(float(distillation_loss(student, teacher)), 4)  # KL(P‖Q)
        0.1438
        >>> round(float(distillation_loss(student, teacher, divergence="reverse_kl")), 4)
        0.1308
    """
    f = distillation_forward(
        student_logits,
        teacher_logits,
        temperature=temperature,
        divergence=divergence,
        beta=beta,
        targets=targets,
        ignore_index=ignore_index,
        hard_weight=hard_weight,
        axis=axis,
        reduction=reduction,
    )
    xp = f.xp
    loss = rows_loss(xp, f.student, f.teacher, f.targets, f.opts)
    return to_float(xp, _reduce.reduce(xp, loss, reduction, f.divisor), f.out_dtype)
