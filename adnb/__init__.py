"""Jupyter-first, reproducible companion to recent industrial anomaly-detection papers

Modules:

- `adnb.metrics`: Exact, full-resolution evaluation of anomaly scores and maps: AUROC, AP, F1max, AUPRO (official MVTec AD protocol), FBFT's size-aware quartile AUPRO and robustness ρ, the continual-learning forgetting measure, and efficiency helpers."""

__version__ = "0.0.1"
