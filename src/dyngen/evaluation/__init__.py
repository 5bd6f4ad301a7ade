"""Quality metrics for synthesized and recovered videos, from pixels alone.

:mod:`.metrics`: synthesis against the observed clip (patch distances, motion, spectra, copying) and the
reference points; :mod:`.fidelity`: PSNR and SSIM against a known video; :mod:`.recovery`: the recovery error
over hidden pixels; :mod:`.table`: tables of several videos beside the reference points.
"""

from dyngen.evaluation.fidelity import psnr, psnr_from_mse, ssim
from dyngen.evaluation.metrics import (
    DESCRIPTIONS,
    appearance_distance,
    copying_score,
    dynamics_distance,
    evaluate,
    motion_drift,
    motion_energy,
    motion_energy_curve,
    reference_points,
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
    "psnr_from_mse",
    "reference_points",
    "ssim",
    "temporal_power_spectrum",
    "temporal_spectrum_distance",
]
