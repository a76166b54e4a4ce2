"""anomalib side by side with adnb, in the same process as `benchmarks/stages.py METHOD --anomalib` (issue 24).

PatchCore and PaDiM of anomalib (2.x, `anomalib.models.Patchcore` / `Padim`), run through their torch models (the
part Lightning's Engine calls: training-mode forwards collect embeddings, then `subsample_embedding` / `fit`; eval-mode
forward gives `pred_score` and `anomaly_map`), on the same decoded images as adnb, with the same backbone weights
(adnb's offline EfficientNet-Lite0 feature model copied into anomalib's timm feature extractor, sha256 checked), the same
layers, coreset ratio, neighbours, PaDiM channels (anomalib's `idx` set to adnb's `channels`) and the same ImageNet
normalisation. Metrics of both sides come from `adnb.metrics.evaluate` on full-resolution maps. Lightning's Engine
(data module, callbacks, post-processing) is not timed: the ratios below are against anomalib's model alone, which is
the lower bound of what a user of anomalib waits for.

Timing: anomalib's fit once, adnb's fit once more right after it; inference in passes that alternate adnb / anomalib in
one process (one warm-up each, medians), so a neighbour's load hits both sides alike; adnb runs its backbone on the
chosen engine (`--engine`), anomalib its own torch model. PatchCore also reports (a) anomalib's model with adnb's
coreset indices (`shared_coreset`: same pooling, same bank rows, so any metric difference is float noise) and (b) adnb's
metrics over 3 coreset seeds with mean and sample sd beside anomalib's one coreset (`coreset_seed_spread`).

Skipped (with a message) when anomalib is not importable. Writes reports/records/anomalib_<method>_<data>.json.
"""
from __future__ import annotations
import json, os, statistics, time
from pathlib import Path
import torch

GOALS = {'patchcore': dict(fit_speedup=25., infer_speedup=3., metric_tolerance=0.005),     # issue 32's goals, per method
         'padim': dict(fit_speedup=1.5, infer_speedup=1.5, metric_tolerance=0.005)}

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

def _scores(forward, batches, anomalib:bool=False):
    "Image scores and full-resolution maps of one pass over pre-decoded batches."
    from adnb.metrics import full_resolution
    S, maps = [], []
    for b in batches:
        o = forward(b['image'])
        if anomalib: s, mp = o.pred_score.flatten(), (o.anomaly_map[:, 0] if o.anomaly_map.ndim == 4 else o.anomaly_map)
        else: s, mp = o['score'], o['map']
        S += s.float().tolist(); maps += full_resolution(mp.float().cpu(), b['geometry'])
    return S, maps

def _evaluate(S, test_b, maps, test):
    from adnb.metrics import evaluate
    Y = [int(l) for b in test_b for l in b['label']]; masks = [x.numpy() for b in test_b for x in b['mask']]
    return evaluate(S, Y, *((maps, masks) if any(r.masks for r in test) else ()))

def _timed_pass(forward, batches)->float:
    "ms per image of one pass of `forward` over the batches (no probes)."
    n = sum(len(b['image']) for b in batches); t0 = time.perf_counter()
    for b in batches: forward(b['image'])
    return 1e3 * (time.perf_counter() - t0) / n

def compare(a, spec, train, test, size, rec, argv, ours_fitted=None)->dict:
    "anomalib's model on the same batches as adnb: fit timed once, inference timed in passes interleaved with adnb's in this process."
    try:
        import anomalib
    except ImportError:
        print('anomalib is not importable here: side-by-side comparison skipped'); return dict(skipped='anomalib not importable')
    from stages import Ledger, Probes, summarise, median_rows, rss_mb
    from adnb.backbones import set_engine, engine_of
    method = a.method; ours = spec.build()
    norm = lambda x: (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    train_b, test_b = list(spec.loader(train)), list(spec.loader(test))
    m, sha_a, sha_o = _build(method, spec, ours)
    if sha_a != sha_o: raise SystemExit(f'backbone weights differ after copying: anomalib {sha_a[:12]} vs adnb {sha_o[:12]}')
    load0 = os.getloadavg()
    shared = getattr(a, 'anomalib_fit', 'own') == 'shared' and method == 'patchcore' and getattr(ours_fitted, 'coreset_indices', None) is not None
    if shared:       # anomalib's bank = its own training embeddings at adnb's coreset rows; its fit is not timed
        m.memory_bank = _bank_at(m, train_b, norm, ours_fitted.coreset_indices)
        fit_s = fit_rows = fit_rss = None; fit_o_passes = list(rec['fit']['wall_s_passes']); fit_o = statistics.median(fit_o_passes)
        ours_m = ours_fitted
    else:
        # fit: anomalib once (its own coreset / Gaussians), then adnb once more right after, under the same load
        torch.manual_seed(0)
        L = Ledger()
        with Probes(L) as P, torch.no_grad():
            _probes(P, method, m); m.train(); L.enter('other'); t0 = time.perf_counter()
            for b in train_b: m(norm(b['image']))
            if method == 'patchcore': m.subsample_embedding(spec.settings()['coreset_ratio'])
            else: m.fit()
            fit_s = time.perf_counter() - t0; L.exit()
        fit_rows = summarise(L, len(train), None); fit_rss = rss_mb()
        o2 = spec.build(); set_engine(o2, a.engine); t0 = time.perf_counter(); spec.fit(o2, train_b); fit_after = time.perf_counter() - t0
        fit_o_passes = list(rec['fit']['wall_s_passes']) + [round(fit_after, 3)]; fit_o = statistics.median(fit_o_passes)
        ours_m = ours_fitted if ours_fitted is not None else o2
    ours_m.eval(); m.eval()
    fwd_o = lambda x: ours_m(x)
    fwd_a = lambda x: m(norm(x))
    # inference: passes alternate adnb, anomalib (one warm-up each), medians of the timed ones
    t_o, t_a = [], []
    with torch.no_grad():
        _timed_pass(fwd_o, test_b); _timed_pass(fwd_a, test_b)
        for _ in range(max(1, a.passes)): t_o.append(_timed_pass(fwd_o, test_b)); t_a.append(_timed_pass(fwd_a, test_b))
        L = Ledger()                                             # one probed anomalib pass for its stage table
        with Probes(L) as P:
            _probes(P, method, m)
            for b in test_b: L.enter('other'); fwd_a(b['image']); L.exit()
        rows = summarise(L, len(test), None)
        S, maps = _scores(fwd_a, test_b, anomalib=True); met = _evaluate(S, test_b, maps, test)
        S, maps = _scores(fwd_o, test_b); met_o = _evaluate(S, test_b, maps, test)
    ms_a, ms_o = statistics.median(t_a), statistics.median(t_o)
    out = dict(anomalib_version=anomalib.__version__, backbone_sha256=sha_a, adnb_engine=engine_of(ours_m), anomalib_engine='torch (its own model)',
               load_at_start_of_side_by_side=list(load0), fit_s=fit_s, fit_stages=fit_rows, fit_peak_rss_mb=fit_rss,
               forward_ms_per_image=ms_a, forward_ms_per_image_passes=[round(v, 3) for v in t_a], infer_stages=rows, metrics=met,
               adnb_fit_s=fit_o, adnb_fit_s_passes=fit_o_passes, adnb_forward_ms_per_image=ms_o, adnb_forward_ms_per_image_passes=[round(v, 3) for v in t_o],
               adnb_metrics=met_o, fit_speedup=fit_s / fit_o if fit_s else None, infer_speedup=ms_a / ms_o,
               anomalib_fit='shared: adnb\'s coreset rows of anomalib\'s own embeddings, fit not timed' if shared else 'own: its coreset, timed')
    diffs = {k: met_o[k] - met[k] for k in met if k in met_o}
    out.update(metric_diff_adnb_minus_anomalib=diffs, max_abs_metric_diff=max(abs(v) for v in diffs.values()))
    if method == 'patchcore' and getattr(ours_m, 'coreset_indices', None) is not None:
        out['shared_coreset'] = (shared_coreset(m, ours_m, train_b, test_b, test, norm, met_o) if not shared else   # shared: the comparison above is it
                                 dict(bank_rows=len(ours_m.coreset_indices), metrics=met, metric_diff_adnb_minus_anomalib=diffs,
                                      max_abs_metric_diff=out['max_abs_metric_diff'], note="the main comparison already gives anomalib adnb's coreset rows"))
        out['coreset_seed_spread'] = seed_spread(spec, a, train_b, test_b, test, met)
        tol = out['shared_coreset']['max_abs_metric_diff']
    else: tol = out['max_abs_metric_diff']
    G = GOALS[method]
    p = Path(__file__).resolve().parents[1]/'reports'/'records'/f"anomalib_{method}_{rec['data']['name']}.json"
    old = json.loads(p.read_text()) if p.is_file() else None
    if shared:       # the fit ratio of the last run that timed anomalib's own fit (same data), named with its date
        timed = [h for h in ([old] if old else []) + list(reversed((old or {}).get('history', []))) if (h.get('values', h)).get('fit_s')]
        if timed:
            v = timed[0].get('values', timed[0])
            when = timed[0].get('date') or _committed(p)
            out['fit_from_last_timed_run'] = dict(date=when, command=timed[0].get('command'),
                                                  fit_s=v['fit_s'], adnb_fit_s=v['adnb_fit_s'], fit_speedup=v['fit_speedup'])
    fs = out['fit_speedup'] if out['fit_speedup'] is not None else out.get('fit_from_last_timed_run', {}).get('fit_speedup')
    out.update(goals=G, fit_goal_met=None if fs is None else fs >= G['fit_speedup'], infer_goal_met=out['infer_speedup'] >= G['infer_speedup'],
               metrics_goal_met=tol <= G['metric_tolerance'],
               timed='anomalib torch model (PatchcoreModel / PadimModel) on pre-decoded batches, Lightning Engine not timed; adnb fit_patchcore/'
                     'fit_padim and forward on the same batches. Fit: anomalib once, adnb = median of its stage-timer fit passes and one fit '
                     'right after anomalib\'s. Inference: one warm-up pass each, then passes alternating adnb / anomalib in this process '
                     '(medians), so load changes hit both sides alike.')
    print(f"anomalib {anomalib.__version__} {method}: " + (f"fit {fit_s:.1f} s vs adnb {fit_o:.1f} s ({out['fit_speedup']:.1f}x)" if fit_s else
          f"fit not timed (shared coreset; last timed ratio {fs}x)" if fs else "fit not timed") + "; forward "
          f"{ms_a:.1f} vs {ms_o:.1f} ms/image ({out['infer_speedup']:.2f}x, adnb engine {out['adnb_engine']}); max |metric diff| {out['max_abs_metric_diff']:.4f}"
          + (f"; with adnb's coreset indices {out['shared_coreset']['max_abs_metric_diff']:.1e}" if 'shared_coreset' in out else ''))
    if a.out != '-':
        hist = (old or {}).get('history', [])
        if old: hist.append(dict(date=time.strftime('%Y-%m-%d'), command=old.get('command'), change=HISTORY_NOTE,
                                 values={k: old.get(k) for k in ('fit_s', 'adnb_fit_s', 'forward_ms_per_image', 'adnb_forward_ms_per_image', 'fit_speedup',
                                                                 'infer_speedup', 'metrics', 'adnb_metrics', 'max_abs_metric_diff')}))
        p.write_text(json.dumps(dict(benchmark='anomalib_side', method=method, command=rec['command'], date=time.strftime('%Y-%m-%d'), data=rec['data'],
                                     machine=rec['machine'], settings=rec['settings'], **out, history=hist), indent=1, default=float) + '\n')
        print('written', p)
    keep = ('anomalib_version', 'fit_s', 'forward_ms_per_image', 'adnb_fit_s', 'adnb_forward_ms_per_image', 'fit_speedup', 'infer_speedup',
            'max_abs_metric_diff', 'fit_goal_met', 'infer_goal_met', 'metrics_goal_met')
    return {k: out[k] for k in keep} | ({'shared_coreset_max_abs_metric_diff': out['shared_coreset']['max_abs_metric_diff']} if 'shared_coreset' in out else {})

HISTORY_NOTE = ('before issue 32 (engines, faster map and search) and issue 28 (authors\' zero-padded 3x3 pooling, symmetric map border): '
                'sequential timing, adnb torch engine')

def _committed(p)->str|None:
    "The date of the last commit that touched file p (a record written before records carried a date)."
    import subprocess
    r = subprocess.run(['git', 'log', '-1', '--format=%cs', '--', str(p)], cwd=p.parent, capture_output=True, text=True)
    return r.stdout.strip() or None

@torch.no_grad()
def _bank_at(m, train_b, norm, idx)->torch.Tensor:
    "anomalib's own training embeddings (a training-mode pass over the batches) at adnb's coreset rows `idx`; leaves m in eval mode."
    m.train()
    for b in train_b: m(norm(b['image']))
    E = torch.vstack(m.embedding_store); m.embedding_store.clear(); m.eval()
    if int(idx.max()) >= len(E): raise SystemExit(f'adnb coreset indices reach {int(idx.max())} but anomalib collected {len(E)} training patches')
    return E[idx].contiguous()

def shared_coreset(m, ours, train_b, test_b, test, norm, met_o)->dict:
    "anomalib's model with adnb's memory bank rows (the same coreset indices into its own training embeddings): metrics and their difference."
    import copy
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel
    sh = copy.deepcopy(m); sh.memory_bank = torch.empty(0); sh.embedding_store = []
    idx = ours.coreset_indices; sh.memory_bank = _bank_at(sh, train_b, norm, idx)
    with torch.no_grad():
        bank_diff = float((sh.memory_bank - ours.memory_bank).abs().max())
        S, maps = _scores(lambda x: sh(norm(x)), test_b, anomalib=True)
    met = _evaluate(S, test_b, maps, test)
    diffs = {k: met_o[k] - met[k] for k in met if k in met_o}
    return dict(bank_rows=len(idx), max_abs_bank_difference=bank_diff, metrics=met, metric_diff_adnb_minus_anomalib=diffs,
                max_abs_metric_diff=max(abs(v) for v in diffs.values()),
                note="anomalib's PatchcoreModel with memory_bank = its own training embeddings at adnb's coreset indices: same pooling, same bank")

def seed_spread(spec, a, train_b, test_b, test, met_anomalib, seeds=(0, 1, 2))->dict:
    "adnb's metrics over coreset seeds (random projection and start point), mean and sample sd, beside anomalib's one coreset."
    from adnb.backbones import set_engine
    per = []
    for s in seeds:
        mdl = spec.build(); mdl.seed = s; mdl.config['seed'] = s; set_engine(mdl, a.engine); spec.fit(mdl, train_b); mdl.eval()
        with torch.no_grad(): S, maps = _scores(lambda x: mdl(x), test_b)
        per.append(_evaluate(S, test_b, maps, test))
    keys = list(per[0]); out = dict(seeds=list(seeds), per_seed=per)
    out['mean'] = {k: statistics.mean(p[k] for p in per) for k in keys}
    out['sd'] = {k: statistics.stdev(p[k] for p in per) for k in keys}
    out['anomalib_own_coreset'] = met_anomalib
    out['anomalib_within_2sd'] = {k: abs(met_anomalib[k] - out['mean'][k]) <= 2 * out['sd'][k] + 1e-12 for k in keys if k in met_anomalib}
    return out

