"""CPU cost of the leave-one-category-out ADPretrain grid (grids/adpretrain_loco.yaml), measured before any test number is
looked at: pool set-up, one validation pass and seconds per pretraining step for the two pretrained arms (paper: loss
'paper', lr 1e-4; ours: loss 'code', lr 3e-3; both N_r 256, batch 16), and the seconds to fit and score each detector
on the evaluation category's residual features. Nothing here computes a metric of the evaluation category.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/adpretrain_loco_steps.py --category bottle
"""
import argparse, json, os, resource, sys, time
from pathlib import Path
import numpy as np, torch

LOCO = ('bottle', 'transistor', 'toothbrush')          # evaluation categories (MVTec AD at 256 px, masks)

def loco_pool(category:str)->list[str]:
    "The pretraining pool of one evaluation category: every other real category here ('dataset:folder:category', under ../shared/data)."
    return [f'mvtec_ad:mvtec_ad_256:{c}' for c in LOCO if c != category] + ['mvtec_ad:magnetic_tile:tile', 'folder:screw_256:screw']

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--category', default='bottle'); ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--steps', type=int, default=6); ap.add_argument('--pool_cap', type=int, default=128); ap.add_argument('--parts', default='pretrain,eval'); ap.add_argument('--n_ref', type=int, default=256); ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--out', default='reports/records/adpretrain_loco_steps_cpu.json'); a = ap.parse_args()
    from adnb.adpretrain import (ADPretrain, _Data, _batch, _step_loss, _Val, compute_stats, pretrain_items, val_split, pool_textures,
                                 ResidualFeatures, FeatureNorm, with_features)
    from adnb.datasets import load_records, split, kshot, ADDataset, make_loader
    from adnb.scoring import score_split
    from adnb.patchcore import PatchCore, fit_patchcore
    from adnb.padim import PaDiM, fit_padim
    torch.set_num_threads(1); root = Path(a.data)
    pool = loco_pool(a.category)
    def capped(rs):          # as the experiment's pool_cap: at most N normals and N masked anomalies per category, evenly spaced by name
        pick = lambda xs: [xs[i] for i in sorted(set(np.linspace(0, len(xs) - 1, a.pool_cap).round().astype(int)))] if a.pool_cap and len(xs) > a.pool_cap else xs
        return (pick(sorted((r for r in rs if r.split == 'train' and r.label == 0), key=lambda r: r.image))
                + pick(sorted((r for r in rs if r.label == 1 and r.masks), key=lambda r: r.image)))
    rss = lambda: int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
    recs = [r for e in pool for ds, sub, c in [e.split(':')] for r in capped(load_records(ds, c, str(root/sub)))]
    prev = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else {}
    out = dict(command='OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/adpretrain_loco_steps.py ' + ' '.join(sys.argv[1:]),
               date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), load_average_at_start=os.getloadavg(), threads=1,
               note=('A budget probe, not a speed claim: 2 CPU cores shared by ~10 processes (load average at start above; not under the timing '
                     'lock, which other helpers held for hours), so read the seconds as this machine on this day. Measured before any LOCO test '
                     'number was looked at; the step budget of grids/adpretrain_loco.yaml is fixed from these numbers.'),
               category=a.category, pool=pool, pool_cap=a.pool_cap, n_ref=a.n_ref, batch=a.batch, arms={}, eval={})
    train, held = val_split(recs, 0.2, 0); items = pretrain_items(train)
    vitems = [dict(rec=r, kind='normal') for r in held] + [dict(rec=r, kind=('cutpaste', 'perlin')[i % 2]) for i, r in enumerate(held)]
    out.update(n_items=len(items), n_val=len(vitems), n_pool_images=len({it['rec'].image for it in items + vitems}))
    if 'pretrain' not in a.parts: out['arms'] = prev.get('arms', {}); out['command_pretrain_part'] = prev.get('command')
    for arm, variant, lr in (('pretrained-paper', 'paper', 1e-4), ('pretrained-ours', 'code', 3e-3)) if 'pretrain' in a.parts else ():
        m = ADPretrain(n_ref=a.n_ref, seed=0); rng = np.random.default_rng(0); gen = torch.Generator().manual_seed(0); torch.manual_seed(0)
        t = time.perf_counter()
        data = _Data(m, items, 256, 224, 'cpu', a.batch, extra=vitems); _, data.textures = pool_textures([c for *_, c in (e.split(':') for e in pool)], 224)
        sc, per, ce = compute_stats(m, data, seed=0, scale='category'); data.scales = per
        for l in m.levels: m.center(l).copy_(ce[l])
        setup_s = time.perf_counter() - t; t = time.perf_counter(); print(arm, 'set-up', round(setup_s), 's, RSS', rss(), 'MB', flush=True)
        val = _Val(m, data, vitems, (1, 4, 8), 'cpu', 32/196, 0); val.evaluate(m, variant, 0.15, 1., 2048, 0)
        val_s = time.perf_counter() - t; print(arm, 'validation pass', round(val_s), 's, RSS', rss(), 'MB', flush=True)
        opt = torch.optim.Adam(m.projectors.parameters(), lr); ts = []
        for step in range(a.steps):
            batch = [items[i] for i in rng.permutation(len(items))[:a.batch]]
            t = time.perf_counter()
            x1, x2, ms, refs, k = _batch(m, data, batch, rng, (1, 4, 8), 'cpu', 32/196)
            loss = _step_loss(m, x1, x2, ms, refs, variant, 0.15, 1., 2048, gen, 32/196)
            opt.zero_grad(); loss.backward(); opt.step(); ts.append(time.perf_counter() - t)
        out['arms'][arm] = dict(variant=variant, lr=lr, setup_s=setup_s, val_pass_s=val_s, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, s_per_step=float(np.median(ts[1:])), all_s=ts,
                                category_scales={c: {l: float(v) for l, v in s.items()} for c, s in per.items()})
        print(arm, json.dumps({k: v for k, v in out['arms'][arm].items() if k != 'category_scales'}), flush=True)
        del data, val
    Path(a.out).write_text(json.dumps(out, indent=1))
    if 'eval' not in a.parts: return
    recs = load_records('mvtec_ad', a.category, str(root/'mvtec_ad_256')); tr, te = split(recs, 'train'), split(recs, 'test')
    imgs = lambda rs: torch.stack([ADDataset(rs, 256, 224)[i]['image'] for i in range(len(rs))])
    refs = split(kshot(recs, 8, 0), 'train'); m = ADPretrain(n_ref=a.n_ref, seed=0)
    others = [r for r in tr if r.image not in {x.image for x in refs}]
    t = time.perf_counter(); rf = ResidualFeatures(m, imgs(refs), scale_images=imgs(others[:64])); scale_s = time.perf_counter() - t
    for name, feats in (('original', m.features), ('residual', ResidualFeatures(m, imgs(refs), project=False, scale_images=imgs(others[:64]))), ('residual+random-projector', rf)):
        for det in ('patchcore', 'padim', 'featurenorm'):
            d = (with_features(PatchCore(layers=('blocks.2', 'blocks.4'), coreset_ratio=0.1, num_neighbors=9, sigma=4.), feats) if det == 'patchcore' else
                 with_features(PaDiM(layers=('blocks.2', 'blocks.4'), d=100, sigma=4.), feats) if det == 'padim' else FeatureNorm(feats))
            t = time.perf_counter(); tl = make_loader(tr, 256, 224, batch_size=16)
            if det == 'patchcore': fit_patchcore(d, tl, 'cpu', progress=False)
            elif det == 'padim': fit_padim(d, tl, 'cpu')
            fit_s = time.perf_counter() - t; t = time.perf_counter()
            score_split(d, te, 256, crop=224, batch_size=16, device='cpu', progress=False)          # scores only: no metric is computed
            out['eval'][f'{det}/{name}'] = dict(fit_s=fit_s, score_s=time.perf_counter() - t, n_train=len(tr), n_test=len(te))
            print(det, name, json.dumps(out['eval'][f'{det}/{name}']), flush=True); Path(a.out).write_text(json.dumps(out, indent=1))
    out['eval']['category_scale_s'] = scale_s
    Path(a.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
