"""Diagnosis on TRAINING images only (no test data): bottle K=2 (kshot seed 0); validation = 16 other training images + CutPaste of them.

Run: flock /tmp/adnb_heavy.lock python benchmarks/dfm_diag_train_only.py  (record: reports/records/dfm_diag_bottle_train_only.json)
"""
import json, time, numpy as np, torch
from sklearn.metrics import roc_auc_score
from adnb.dfm import *
from adnb.datasets import load_records, split, kshot
recs = load_records('mvtec_ad', 'bottle', '/work/shared/data/mvtec_ad_256')
tr = sorted(split(recs, 'train'), key=lambda r: r.image); k = {r.image for r in split(kshot(recs, 2, 0), 'train')}
X = load_images([r for r in tr if r.image in k], 256)[0]
rest = [r for r in tr if r.image not in k]; V = load_images([rest[i] for i in np.random.default_rng(5).permutation(len(rest))[:16]], 256)[0]
VA, VM = cutpaste_batch(V, np.random.default_rng(7))
def val(m):
    with torch.no_grad(): o1, o2 = m(V), m(VA)
    s = torch.cat([o1['score'], o2['score']]).numpy(); y = np.r_[np.zeros(16), np.ones(16)]
    pm = torch.cat([o1['map'], o2['map']]).flatten().numpy(); pl = torch.cat([torch.zeros_like(VM), VM]).flatten().numpy()
    return dict(i=round(roc_auc_score(y, s), 4), p=round(roc_auc_score(pl, pm), 4))
out = {}
for name, kw in [('iterative', {}), ('adapters', dict(schedule='adapters')), ('fmn', dict(schedule='fmn')),
                 ('iterative_memory_frozen', dict(train_memory=False)), ('iterative_no_guard', dict(scale_guard=False))]:
    torch.manual_seed(0); m = DFM(); init_memory(m, X); v0 = val(m); t = time.time()
    h = fit_dfm(m, X, epochs=5, steps=10, batch_size=8, lr=1e-4, seed=0, on_epoch=lambda mm, e: val(mm), **kw)
    out[name] = dict(init=v0, curve=[(c['i'], c['p']) for c in h['curves']], loss_unsup=[round(x, 3) if x else x for x in h['loss_unsup']],
                     loss_sup=[round(x, 3) if x else x for x in h['loss_sup']], scale=[round(x, 2) if x else x for x in h['scale']], s=round(time.time() - t, 1))
    print(name, out[name], flush=True)
print(json.dumps(out))
