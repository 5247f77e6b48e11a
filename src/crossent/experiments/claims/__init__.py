"""Every claim of CLAIMS.md with the experiment that checks it, in order C1–C18.

One module per group: :mod:`.definitions` (C1–C5), :mod:`.gradients` (C6–C7),
:mod:`.tasks` (C8–C10), :mod:`.imbalance` (C11–C15), :mod:`.multitask` (C16),
:mod:`.corrections` (C17–C18). A new claim goes in its group's ``CLAIMS`` list.
Beyond the articles: :mod:`.calibration` (C19).
"""

from __future__ import annotations

from crossent.experiments.claims import (
    calibration,
    corrections,
    definitions,
    gradients,
    imbalance,
    multitask,
    noise,
    tasks,
)
from crossent.experiments.registry import Claim

__all__ = ["CLAIMS", "by_id"]

CLAIMS: tuple[Claim, ...] = (
    *definitions.CLAIMS,
    *gradients.CLAIMS,
    *tasks.CLAIMS,
    *imbalance.CLAIMS,
    *multitask.CLAIMS,
    *corrections.CLAIMS,
    *calibration.CLAIMS,
    *noise.CLAIMS,
)
"""All claims, in the order of CLAIMS.md."""


def by_id() -> dict[str, Claim]:
    """The claims keyed by identifier."""
    return {claim.id: claim for claim in CLAIMS}
