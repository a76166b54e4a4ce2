"""Jupyter-first, reproducible companion to recent industrial anomaly-detection papers

Modules:

- `adnb.adpretrain`: ADPretrain (Yao et al., NeurIPS 2025): residual features of a frozen backbone, a learnable key/value-attention projector per level trained with angle- and norm-oriented contrastive losses on labelled anomalies of *other* categories; the projected features then replace the frozen ones in PatchCore, PaDiM and FeatureNorm.
- `adnb.anomalydino`: Training-free patch matching (Damm et al., WACV 2025): L2-normalised patch tokens, 1-NN cosine distance of every test patch to all reference patches, top-1 % mean as the image score. The base CostFilter-AD (`adnb.costfilter`) builds on.
- `adnb.backbones`: One feature-extractor contract for every method: images in [0, 1] in, named feature maps (B, C, h, w) with their strides out. CNNs through timm `features_only`, ViTs through timm and open_clip, weights resolved offline first.
- `adnb.batch`: `adnb batch GRID.yaml`: a grid of experiment runs (methods x datasets x categories x seeds x settings) on this machine or on a Ray cluster; every run an ordinary `adnb run` into its own folder, resumable after any kill.
- `adnb.claims`: What holds: the papers' headline claims as data (`reports/paper_tables/claims.csv`), the rules that judge them as code, each rule with a fixture that shows what it refuses.
- `adnb.cli`: `adnb run | list | batch | report | fit | predict | export | docs`: every subcommand, its arguments, and one way of reporting errors, so that no traceback reaches a user.
- `adnb.costfilter`: Matching-cost filtering (Zhang et al., ICML'25): build a cost volume between a test image and N normal templates (1 − cosine to every template patch, per feature layer), then denoise it with a guided 3D U-Net trained on synthetic anomalies. A plug-in on top of a matching-based detector such as AnomalyDINO.
- `adnb.course`: `adnb course build` and `adnb course grade`: student notebooks without solutions, graded assignments and questionnaires, and a grade table, built from the lessons with otter-grader.
- `adnb.dfm`: Differentiable Feature Matching (Wu et al., CVPR 2025): PatchCore's nearest-neighbour matching rewritten as a small network (distances to a trainable memory, two identity-initialised modulate layers, min- and max-pooling), trained end to end together with identity-initialised adapters inside a frozen backbone.
- `adnb.experiment`: What every experiment notebook shares: parameter specs checked before any work, `ci`/`paper` profiles, and results written without ever overwriting a finished run.
- `adnb.fapm`: Fast Adaptive Patch Memory for real-time industrial anomaly detection (Kim et al., ICASSP 2023): a memory per spatial cell and per layer, a coreset per cell whose ratio adapts to the spread of the cell's features.
- `adnb.fbft`: Forward–Backward Feature Transfer (Costanzino et al.): two shallow MLP students learn to map the patch features of a frozen teacher from layer j to layer k (contextualise) and back (decontextualise); where they fail, something is anomalous. Built for high-resolution inputs and judged with size-aware metrics.
- `adnb.metrics`: Exact, full-resolution evaluation of anomaly scores and maps: AUROC, AP, F1max, AUPRO (official MVTec AD protocol), FBFT's size-aware quartile AUPRO and robustness ρ, the continual-learning forgetting measure, and efficiency helpers.
- `adnb.padim`: A Patch Distribution Modeling Framework (Defard et al., ICPR 2021): a multivariate Gaussian per patch position over randomly selected channels, scored by Mahalanobis distance.
- `adnb.papers`: What the papers printed: the five papers' tables, number by number, loaded and checked; each printed number beside ours only where the two measure the same thing, with every difference of setting spelled out.
- `adnb.patchcore`: Towards Total Recall in Industrial Anomaly Detection (Roth et al., CVPR 2022): locally aware patch features, a greedy coreset memory bank, nearest-neighbour scoring. The baseline every later paper compares against.
- `adnb.predict`: `fit_folder` fits PatchCore or PaDiM on a folder of good images and sets decision thresholds from a held-out part of them; `predict_images` scores images and writes `scores.csv` and anomaly-map PNGs (`adnb fit` / `adnb predict`).
- `adnb.report`: What a reader sees: one offline HTML page (`adnb report`) rendered from the three rooms of the reproduction report: what we measured (`adnb.results`), what the papers printed and how each number compares with ours (`adnb.papers`), and which of the papers' claims hold here (`adnb.claims`).
- `adnb.results`: What we measured: every results row of our runs and records in one table, with the setting of each row (data, backbone, resolution, shots, protocol, hardware) in the terms the papers' tables use.
- `adnb.run`: The engine behind `adnb run EXPERIMENT [-p name value ...]`: check the parameters and the data, execute an experiment notebook with papermill into `reports/<experiment>/<timestamp>/` and say where the report is and what it measured.
- `adnb.scoring`: One loop for every method: score a fitted model on a split and return image scores, full-resolution maps, masks, defect types, patch embeddings for t-SNE and timings.
- `adnb.timing`: One way to time a model for every FPS adnb reports: warm-up, median over timed passes, threads pinned, engine and thread count named.
- `adnb.viz`: Report figures that render everywhere (JupyterLab, VS Code, exported HTML offline, Voila, the docs site): metrics table, stratified gallery, KDE score curves, t-SNE of patch features, a threshold explorer that works without a kernel, and `report_sections` that lays them out the same way for every experiment."""

__version__ = "0.0.1"
