"""Do the engines change any metric? (issue 32) Fit and score PatchCore and PaDiM on real data once per backbone engine
(torch, onnxruntime, openvino), everything else identical, and compare the metrics at 4 decimals. No timing.

    python benchmarks/engine_metrics.py --data ../shared/data/mvtec_ad_256 --category bottle --train-images 54

Writes reports/records/engine_metrics_<category>.json: per method and engine the metrics, the largest metric
difference from the torch engine, and the largest feature difference on the first test batch.
"""
from __future__ import annotations
import argparse, json, os, sys
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='../shared/data/mvtec_ad_256'); p.add_argument('--category', default='bottle')
    p.add_argument('--train-images', type=int, default=None); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--methods', nargs='+', default=['patchcore', 'padim']); p.add_argument('--out', default=None)
    a = p.parse_args(argv)
    from adnb.backbones import set_engine, _importable, _NEEDS
    from adnb.datasets import load_records, make_loader, split
    from adnb.metrics import evaluate, full_resolution
    from adnb.patchcore import PatchCore, fit_patchcore
    from adnb.padim import PaDiM, fit_padim
    from adnb.timing import pinned_threads
    root = Path(a.data)
    recs = load_records('mvtec_ad', a.category, root) if (root/a.category/'train'/'good').is_dir() else load_records('folder', a.category, root)
    train, test = split(recs, 'train'), split(recs, 'test')
    if a.train_images: train = train[:a.train_images]
    tb, sb = list(make_loader(train, 256, batch_size=16)), list(make_loader(test, 256, batch_size=16))
    Y = [int(l) for b in sb for l in b['label']]; masks = [m.numpy() for b in sb for m in b['mask']]; has = any(r.masks for r in test)
    engines = ['torch'] + [e for e in ('onnxruntime', 'openvino') if all(map(_importable, _NEEDS[e]))]
    out = dict(benchmark='engine_metrics', command='python benchmarks/engine_metrics.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
               data=dict(data=a.data, category=a.category, n_train=len(train), n_test=len(test), image_size=256), methods={})
    build = dict(patchcore=lambda: PatchCore('efficientnet_lite0', ['blocks.2', 'blocks.4']),
                 padim=lambda: PaDiM('efficientnet_lite0', ['blocks.1', 'blocks.2', 'blocks.4']))
    fit = dict(patchcore=lambda m: fit_patchcore(m, tb, progress=False), padim=lambda m: fit_padim(m, tb))
    with pinned_threads(a.threads), torch.no_grad():
        for meth in a.methods:
            rows, ref_feat = {}, None
            for e in engines:
                m = build[meth](); set_engine(m, e); fit[meth](m); m.eval()
                S, maps = [], []
                for b in sb:
                    o = m(b['image']); S += o['score'].float().tolist(); maps += full_resolution(o['map'], b['geometry'])
                met = evaluate(S, Y, *((maps, masks) if has else ()))
                f = m.features(sb[0]['image']); ref_feat = ref_feat or f
                rows[e] = dict(metrics=met, max_abs_feature_diff_vs_torch=max(float((f[k] - ref_feat[k]).abs().max()) for k in f),
                               max_abs_feature=max(float(v.abs().max()) for v in f.values()))
                print(meth, e, {k: round(v, 4) for k, v in met.items()}, flush=True)
            for e in engines:
                d = {k: rows[e]['metrics'][k] - rows['torch']['metrics'][k] for k in rows['torch']['metrics']}
                rows[e].update(max_abs_metric_diff_vs_torch=max(abs(v) for v in d.values()),
                               identical_at_4_decimals=all(round(rows[e]['metrics'][k], 4) == round(rows['torch']['metrics'][k], 4) for k in d))
            out['methods'][meth] = rows
    out['note'] = (f'{a.threads} thread(s); each engine fits its own model (coreset / Gaussians from its own features) and scores the same '
                   'test images; no timing in this record (speed: engine_speed_cpu.json and the stages_* records)')
    if a.out != '-':
        f = Path(a.out) if a.out else ROOT/'reports'/'records'/f'engine_metrics_{a.category}.json'
        f.write_text(json.dumps(out, indent=1) + '\n'); print('written', f)
    return out

if __name__ == '__main__': main()
