"""Quality metrics for synthesized and recovered videos (see :mod:`dyngen.evaluation.metrics`)."""

from dyngen.evaluation.metrics import (
    DESCRIPTIONS,
    appearance_distance,
    copying_score,
    dynamics_distance,
    evaluate,
    motion_drift,
    motion_energy,
    motion_energy_curve,
    psnr,
    reconstruction_metrics,
    reference_points,
    ssim,
    temporal_power_spectrum,
    temporal_spectrum_distance,
)

__all__ = [
    "DESCRIPTIONS",
    "appearance_distance",
    "copying_score",
    "dynamics_distance",
    "evaluate",
    "motion_drift",
    "motion_energy",
    "motion_energy_curve",
    "psnr",
    "reconstruction_metrics",
    "reference_points",
    "ssim",
    "temporal_power_spectrum",
    "temporal_spectrum_distance",
]
