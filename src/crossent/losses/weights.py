r"""Class weights from class frequencies, ready for a loss's ``weight=`` or ``alpha=``."""

from __future__ import annotations

import math

from crossent import _checks
from crossent._array import Array, asarray, is_floating, is_integer, namespace, numel

__all__ = ["class_balanced_weights"]


def class_balanced_weights(counts: Array, *, beta: float = 0.999) -> Array:
    r"""Class-balanced weights from the effective number of samples (Cui et al. 2019).

    Each of ``n_c`` samples of a class adds less new information than the last; the
    *effective number* of samples is :math:`E_c = (1 - \beta^{n_c}) / (1 - \beta)`, and the
    weight of class ``c`` its inverse, rescaled so that the weights sum to the number of
    classes ``C`` (the authors' code):

    .. math:: w_c = C \, \frac{(1 - \beta) / (1 - \beta^{n_c})}
        {\sum_{c'} (1 - \beta) / (1 - \beta^{n_{c'}})}

    ``beta=0`` gives equal weights (no re-weighting); ``beta → 1`` tends to inverse class
    frequency :math:`1/n_c`, which ``beta=1`` returns (rescaled the same way). The paper
    uses β ∈ {0.9, 0.99, 0.999, 0.9999}. :math:`1 - \beta^{n}` is computed as
    ``-expm1(n · log β)``, exact for β near 1 and large ``n``.

    Args:
        counts: number of training samples of each class, shape ``[C]``, positive (integer
            or floating).
        beta: β in [0, 1]. Default: ``0.999``.

    Returns:
        Weights of shape ``[C]`` summing to ``C``, in ``counts``' library: its dtype if
        floating, else the library's default floating dtype.

    Raises:
        ValueError: ``counts`` not 1-d or empty, a count that is zero (its weight would be
            infinite: drop the class or give it a count), negative or not finite; ``beta``
            outside [0, 1].
        TypeError: non-numeric ``counts``, a non-numeric ``beta``.

    References:
        Cui, Jia, Lin, Song, Belongie. "Class-Balanced Loss Based on Effective Number of
        Samples." CVPR 2019. https://arxiv.org/abs/1901.05555

    Example:
        >>> import numpy as np
        >>> from crossent import class_balanced_weights
        >>> np.round(class_balanced_weights(np.array([1000, 100, 10]), beta=0.99), 4)
        array([0.2301, 0.363 , 2.4068])
    """
    counts = asarray(counts, "counts")
    xp = namespace(counts)
    b = _checks.number_in("beta", beta, 0.0, 1.0)
    if not (is_integer(xp, counts) or is_floating(xp, counts)):
        raise TypeError(
            f"`counts` must be an integer or floating-point array; got dtype {counts.dtype}."
        )
    if counts.ndim != 1 or numel(counts) == 0:
        raise ValueError(
            f"`counts` must hold one count per class, shape [C] with C >= 1; got shape {tuple(counts.shape)}."
        )
    n = counts if is_floating(xp, counts) else xp.astype(counts, xp.asarray(0.0).dtype)
    if _checks.values_checked(xp, n):
        bad = ~(xp.isfinite(n) & (n > 0))
        if bool(xp.any(bad)):
            c = int(xp.argmax(xp.astype(bad, xp.int32)))
            raise ValueError(
                f"`counts` must be positive and finite: class {c} has count {float(n[c])!r} "
                f"(a class without samples gets no weight; drop it or give it a count)."
            )
    n_classes = counts.shape[0]
    if b == 0:
        return xp.ones_like(n)
    if b == 1:
        inverse = 1 / n
    else:
        inverse = (1 - b) / -xp.expm1(n * math.log(b))
    return inverse * (n_classes / xp.sum(inverse))
