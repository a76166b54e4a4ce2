"""anomalib side by side with adnb, in the same process as `benchmarks/stages.py METHOD --anomalib` (issue 24).

PatchCore and PaDiM of anomalib (2.x, `anomalib.models.Patchcore` / `Padim`), run through their torch models (the
part Lightning's Engine calls: training-mode forwards collect embeddings, then `subsample_embedding` / `fit`; eval-mode
forward gives `pred_score` and `anomaly_map`), on the same decoded images as adnb, with the same backbone weights
(adnb's offline EfficientNet-Lite0 feature model copied into anomalib's timm feature extractor, sha256 checked), the same
layers, coreset ratio, neighbours, PaDiM channels (anomalib's `idx` set to adnb's `channels`) and the same ImageNet
normalisation. Metrics of both sides come from `adnb.metrics.evaluate` on full-resolution maps. Lightning's Engine
(data module, callbacks, post-processing) is not timed: the ratios below are against anomalib's model alone, which is
the lower bound of what a user of anomalib waits for.

Skipped (with a message) when anomalib is not importable. Writes reports/records/anomalib_<method>_<data>.json.
"""
from __future__ import annotations
import json, statistics, time
from pathlib import Path
import torch

GOALS = dict(fit_speedup=25., infer_speedup=3., metric_tolerance=0.005)

def _build(method, spec, ours):
    "anomalib's torch model with adnb's backbone weights (and PaDiM channels); the sha256 of both feature models."
    from adnb.backbones import weights_sha256
    s = spec.settings()
    if method == 'patchcore':
        from anomalib.models.image.patchcore.torch_model import PatchcoreModel
        m = PatchcoreModel(layers=s['layers'], backbone=s['backbone'], pre_trained=False, num_neighbors=s['num_neighbors'])
    else:
        from anomalib.models.image.padim.torch_model import PadimModel
        m = PadimModel(backbone=s['backbone'], layers=s['layers'], pre_trained=False, n_features=s['d'])
        m.idx = ours.channels.clone()
    m.feature_extractor.feature_extractor.load_state_dict(ours.features.body.state_dict())
    return m, weights_sha256(m.feature_extractor.feature_extractor), weights_sha256(ours.features.body)

def _probes(P, method, m):
    P.module(m.feature_extractor, 'backbone', label='anomalib TimmFeatureExtractor -> backbone')
    P.function(m, 'generate_embedding', 'embedding')
    if method == 'patchcore':
        P.function(m, 'subsample_embedding', 'memory_build'); P.function(m, 'nearest_neighbors', 'search')
        P.module(m.anomaly_map_generator, 'map', label='anomalib AnomalyMapGenerator -> map')
    else:
        P.function(m.gaussian, 'fit', 'memory_build')
        P.module(m.anomaly_map_generator, 'search', label='anomalib AnomalyMapGenerator (Mahalanobis + upsample + blur) -> search')

def compare(a, spec, train, test, size, rec, argv)->dict:
    "Fit and inference of anomalib's model on the same batches; ratios against the adnb numbers already in `rec`."
    try:
        import anomalib
    except ImportError:
        print('anomalib is not importable here: side-by-side comparison skipped'); return dict(skipped='anomalib not importable')
    from stages import Ledger, Probes, summarise, median_rows, rss_mb
    from adnb.metrics import evaluate, full_resolution
    method = a.method; ours = spec.build()
    norm = lambda x: (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    train_b, test_b = list(spec.loader(train)), list(spec.loader(test))
    m, sha_a, sha_o = _build(method, spec, ours)
    if sha_a != sha_o: raise SystemExit(f'backbone weights differ after copying: anomalib {sha_a[:12]} vs adnb {sha_o[:12]}')
    torch.manual_seed(0)
    L = Ledger()
    with Probes(L) as P, torch.no_grad():
        _probes(P, method, m); m.train(); L.enter('other'); t0 = time.perf_counter()
        for b in train_b: m(norm(b['image']))
        if method == 'patchcore': m.subsample_embedding(spec.settings()['coreset_ratio'])
        else: m.fit()
        fit_s = time.perf_counter() - t0; L.exit()
    fit_rows = summarise(L, len(train), None); fit_rss = rss_mb()
    m.eval(); runs, walls, S, maps = [], [], None, None
    for p in range(1 + max(1, a.passes)):
        L = Ledger(); s_, m_ = [], []
        with Probes(L) as P, torch.no_grad():
            _probes(P, method, m); t0 = time.perf_counter()
            for b in test_b:
                L.enter('other'); o = m(norm(b['image'])); L.exit()
                s_ += o.pred_score.flatten().tolist(); m_ += full_resolution(o.anomaly_map[:, 0] if o.anomaly_map.ndim == 4 else o.anomaly_map, b['geometry'])
            w = time.perf_counter() - t0
        if p: runs.append(summarise(L, len(test), None)); walls.append(w)
        S, maps = s_, m_
    rows = median_rows(runs)
    Y = [int(l) for b in test_b for l in b['label']]; masks = [x.numpy() for b in test_b for x in b['mask']]
    has = any(r.masks for r in test)
    met = evaluate(S, Y, *((maps, masks) if has else ()))
    fwd_a = statistics.median(sum(r['ms_per_image'] for r in run) for run in runs)
    fit_o, fwd_o = rec['fit']['wall_s'], rec['infer']['forward_ms_per_image']
    diffs = {k: rec['metrics'][k] - met[k] for k in met if k in rec['metrics']}
    out = dict(anomalib_version=anomalib.__version__, backbone_sha256=sha_a, fit_s=fit_s, fit_stages=fit_rows, fit_peak_rss_mb=fit_rss,
               forward_ms_per_image=fwd_a, forward_ms_per_image_passes=[round(sum(r['ms_per_image'] for r in run), 3) for run in runs],
               infer_stages=rows, metrics=met,
               adnb_fit_s=fit_o, adnb_forward_ms_per_image=fwd_o, adnb_metrics=rec['metrics'],
               fit_speedup=fit_s / fit_o, infer_speedup=fwd_a / fwd_o, metric_diff_adnb_minus_anomalib=diffs,
               max_abs_metric_diff=max(abs(v) for v in diffs.values()), goals=GOALS,
               fit_goal_met=fit_s / fit_o >= GOALS['fit_speedup'], infer_goal_met=fwd_a / fwd_o >= GOALS['infer_speedup'],
               metrics_goal_met=max(abs(v) for v in diffs.values()) <= GOALS['metric_tolerance'],
               timed='anomalib torch model (PatchcoreModel / PadimModel) on pre-decoded batches, Lightning Engine not timed; adnb fit_patchcore/'
                     'fit_padim and forward on the same batches; fit: one pass each side (adnb: median of its fit passes); inference: median of passes')
    print(f"anomalib {anomalib.__version__} {method}: fit {fit_s:.1f} s vs adnb {fit_o:.1f} s ({out['fit_speedup']:.1f}x); forward "
          f"{fwd_a:.1f} vs {fwd_o:.1f} ms/image ({out['infer_speedup']:.2f}x); max |metric diff| {out['max_abs_metric_diff']:.4f}")
    if a.out != '-':
        p = Path(__file__).resolve().parents[1]/'reports'/'records'/f"anomalib_{method}_{rec['data']['name']}.json"
        p.write_text(json.dumps(dict(benchmark='anomalib_side', method=method, command=rec['command'], data=rec['data'],
                                     machine=rec['machine'], settings=rec['settings'], **out), indent=1, default=float) + '\n')
        print('written', p)
    return {k: out[k] for k in ('anomalib_version', 'fit_s', 'forward_ms_per_image', 'fit_speedup', 'infer_speedup', 'max_abs_metric_diff',
                                'fit_goal_met', 'infer_goal_met', 'metrics_goal_met')}
