"""Choices made on TRAINING images only (no test image is read): bottle 256 px, kshot seed 0, K = 1 and 2.
Validation = 8 other training images (the experiment's `holdout`: rng 10_000 + seed) + a Perlin copy of each.

1. modulate form (dense | diagonal | local3x3) with the defaults (Adam, group_lrs target 0.03, anchor 1, 6 x 5 steps):
   best validation pixel AP over epochs 0..6 (epoch 0 = untrained, the same for all forms) -> the experiment's default.
2. which modulate layer does the damage under the OLD optimiser (one SGD lr 1e-4, no anchor, dense, FMN stage only):
   Mod1 frozen vs Mod2 frozen (lr 0 for that group), eq. 8 loss per epoch and validation curve.

Run: /work/bin/heavy --name dfm -- env OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/dfm_modulate_choice.py
Record: reports/records/dfm_modulate_choice_bottle.json
"""
import json, sys, time, datetime, numpy as np, torch
from adnb.dfm import DFM, fit_dfm, init_memory, load_images
from adnb.datasets import load_records, split, kshot
torch.set_num_threads(1)
ROOT, SIZE, OUT = '/work/shared/data/mvtec_ad_256', 256, 'reports/records/dfm_modulate_choice_bottle.json'
recs = load_records('mvtec_ad', 'bottle', ROOT); tr = sorted(split(recs, 'train'), key=lambda r: r.image)
shots = [int(a) for a in sys.argv[1:]] or [1, 2]

def data(K, s=0):
    k = {r.image for r in split(kshot(recs, K, s), 'train')}
    pool = [r for r in tr if r.image not in k]; pick = np.random.default_rng(10_000 + s).permutation(len(pool))[:8]
    return load_images([r for r in tr if r.image in k], SIZE)[0], load_images([pool[i] for i in sorted(pick)], SIZE)[0]

def run(X, V, **kw):
    torch.manual_seed(0); m = DFM(modulate=kw.pop('modulate', 'dense')); t = time.time()
    h = fit_dfm(m, X, epochs=6, steps=5, batch_size=8, seed=0, select_on=V, **kw)
    r = lambda xs: [None if x is None else round(x, 4) for x in xs]
    return dict(loss_unsup=r(h['loss_unsup']), loss_sup=r(h['loss_sup']), loss_anchor=r(h['loss_anchor']),
                val_pixel_ap=[round(v['val_pixel_ap'], 4) for v in h['val']], val_image_auroc=[round(v['val_image_auroc'], 4) for v in h['val']],
                selected_epoch=h['selected_epoch'], best_val_pixel_ap=round(max(v['val_pixel_ap'] for v in h['val']), 4),
                memory_rel_change=h['memory_rel_change'], lrs={k: float(f'{v:.3g}') for k, v in h['lrs'].items()}, s=round(time.time() - t, 1))

out = dict(command='/work/bin/heavy --name dfm -- env OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/dfm_modulate_choice.py ' + ' '.join(sys.argv[1:]),
           date=datetime.date.today().isoformat(), note=__doc__, forms={}, old_optimiser={})
for K in shots:
    X, V = data(K)
    for form in ('dense', 'diagonal', 'local3x3'):
        out['forms'][f'K{K}_{form}'] = r = run(X, V, modulate=form); print(K, form, r, flush=True)
    if K == 2:
        for name, kw in (('mod2_frozen', dict(lrs=dict(mod2=0.))), ('mod1_frozen', dict(lrs=dict(mod1=0.))), ('both_train', {})):
            out['old_optimiser'][name] = r = run(X, V, lr=1e-4, optimizer='sgd', anchor=0., schedule='fmn', **kw); print(name, r, flush=True)
    json.dump(out, open(OUT, 'w'), indent=1)
print('wrote', OUT)
