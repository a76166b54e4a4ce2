"""Jupyter-first, reproducible companion to recent industrial anomaly-detection papers

Modules:

- `adnb.backbones`: One feature-extractor contract for every method: images in [0, 1] in, named feature maps (B, C, h, w) with their strides out. CNNs through timm `features_only`, ViTs through timm and open_clip, weights resolved offline first.
- `adnb.cli`: `adnb fit METHOD --normal DIR` fits PatchCore or PaDiM on a folder of good images and sets decision thresholds from a held-out part of them; `adnb predict model.pt IMAGES...` scores images and writes `scores.csv` and anomaly-map PNGs.
- `adnb.experiment`: What every experiment notebook shares: parameter specs checked before any work, `ci`/`paper` profiles, and results written without ever overwriting a finished run.
- `adnb.fapm`: Fast Adaptive Patch Memory for real-time industrial anomaly detection (Kim et al., ICASSP 2023): a memory per spatial cell and per layer, a coreset per cell whose ratio adapts to the spread of the cell's features.
- `adnb.fbft`: Forward–Backward Feature Transfer (Costanzino et al.): two shallow MLP students learn to map the patch features of a frozen teacher from layer j to layer k (contextualise) and back (decontextualise); where they fail, something is anomalous. Built for high-resolution inputs and judged with size-aware metrics.
- `adnb.metrics`: Exact, full-resolution evaluation of anomaly scores and maps: AUROC, AP, F1max, AUPRO (official MVTec AD protocol), FBFT's size-aware quartile AUPRO and robustness ρ, the continual-learning forgetting measure, and efficiency helpers.
- `adnb.padim`: A Patch Distribution Modeling Framework (Defard et al., ICPR 2021): a multivariate Gaussian per patch position over randomly selected channels, scored by Mahalanobis distance.
- `adnb.patchcore`: Towards Total Recall in Industrial Anomaly Detection (Roth et al., CVPR 2022): locally aware patch features, a greedy coreset memory bank, nearest-neighbour scoring. The baseline every later paper compares against.
- `adnb.run`: `adnb run EXPERIMENT [-p name value ...]`: execute an experiment notebook with papermill into `reports/<experiment>/<timestamp>/` and print where the report and `results.json` are.
- `adnb.scoring`: One loop for every method: score a fitted model on a split and return image scores, full-resolution maps, masks, defect types, patch embeddings for t-SNE and timings.
- `adnb.viz`: Report figures that render everywhere (JupyterLab, VS Code, exported HTML offline, Voila, the docs site): metrics table, stratified gallery, KDE score curves, t-SNE of patch features, a threshold explorer that works without a kernel, and `report_sections` that lays them out the same way for every experiment."""

__version__ = "0.0.1"
