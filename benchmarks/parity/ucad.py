"""UCAD parity (the continual protocol DFM follows): shirowalker/UCAD and `adnb.dfm` on the same inputs.

    python benchmarks/parity/ucad.py --authors PATH

Components (their function, called from their checkout, vs ours):
- key bank: `GreedyCoresetSampler._compute_greedy_coreset_indices_with_limit_memory(Z, 196)` (the 196-feature key
  bank of `fit_with_limit_size`, `run_ucad.py` L124) vs `greedy_coreset(Z, 196, start)` on the same projected patches
  of the embedded brick category: with their start (the row of largest distance-row norm) and with ours (seeded);
- key distances: `common.NearestNeighbourScorer(1, FaissNN)` (squared faiss L2) vs the squared distances `ContinualDFM.route`
  takes (`torch.cdist`), test patches of all four embedded categories against every task's key bank;
- routing: their rule (per test *set*: argmin over tasks of the summed image scores, image score = max patch score,
  `run_ucad.py` L446–457, a block their README says is commented out of the reported numbers) vs ours (per *image*:
  argmin over tasks of the mean nearest-key distance, `ContinualDFM.route`), both on the four embedded categories
  as four tasks: the share of test images routed to their own task, and their rule applied per image.
Not compared: their prompt-tuned ViT (vit_base_patch16_224, weights downloaded) and SAM; we use frozen Lite0 features."""
from __future__ import annotations
import argparse, sys
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import authors_on_path, diff, embedded_batches, overlap, row, write_record

REPO = 'shirowalker/UCAD'
SIZE = 128          # the embedded images' own size: 16 train + 15 test per category

def key_rows(S, E:torch.Tensor, Q:torch.Tensor, n:int=196)->list:
    "Their limited-memory greedy coreset vs ours on the same projection, with their start and with our seeded start."
    from adnb.patchcore import random_projection, greedy_coreset
    from adnb.dfm import coreset_bank
    Z = random_projection(E, 128, 0)
    sampler = S.GreedyCoresetSampler(0.1, 'cpu')
    theirs = torch.as_tensor(sampler._compute_greedy_coreset_indices_with_limit_memory(Z, n))
    D = torch.cdist(Z, Z); their_start = int(D.norm(dim=1).argmax())
    ours_same = greedy_coreset(Z, n, their_start)
    bank_ours, bank_theirs = coreset_bank(E, n, 128, 0), E[theirs]
    d_ours, d_theirs = torch.cdist(Q, bank_ours).min(1).values, torch.cdist(Q, bank_theirs).min(1).values
    return [
        row('key bank: greedy coreset, same projection and start', **overlap(ours_same, theirs),
            note=f'{len(E)} projected brick train patches -> {n} keys; their start = row of largest distance-row norm ({their_start})'),
        row('key bank: their start vs our seeded start (coreset_bank)', n=n,
            overlap=len({tuple(r) for r in bank_ours.tolist()} & {tuple(r) for r in bank_theirs.tolist()}) / n,
            note='share of key rows the two banks have in common; the greedy order differs after the first pick'),
        row('key bank: nearest-key distance of test patches, their bank vs ours', **diff(d_ours, d_theirs),
            rank_corr=float(np.corrcoef(d_ours.argsort().argsort(), d_theirs.argsort().argsort())[0, 1]),
            note='distances of every brick test patch to the two 196-key banks'),
    ]

def routing_rows(C, PM, P_test:dict, keys:list, names:list, model)->list:
    "Their per-test-set routing and ours per image; NN distances of both."
    from adnb.dfm import ContinualDFM
    cont = ContinualDFM()
    for k, nme in zip(keys, names): cont.add_task(model, k, nme)
    rows, per_set, mine, theirs_img, maxd = [], {}, [], [], 0.
    for t, (name, (x, P)) in enumerate(P_test.items()):
        B, h, w, D = P.shape
        sums, img_scores = [], []
        for k in keys:
            nn = C.NearestNeighbourScorer(1, C.FaissNN(False, 1)); nn.fit([k.numpy()])
            s = nn.predict([P.reshape(-1, D).numpy()])[0]                          # squared L2 per patch
            ours = torch.cdist(P.reshape(-1, D), k).min(1).values.double()**2
            maxd = max(maxd, float(np.abs(ours.numpy() - s).max()) / float(np.abs(s).max()))
            img = PM.score(s.reshape(B, h * w)); img_scores.append(img); sums.append(float(np.sum(img)))
        per_set[name] = names[int(np.argmin(sums))]
        theirs_img += list(np.argmin(np.stack(img_scores, 1), 1) == t)
        mine += list((cont.route(x) == t).numpy())
    rows.append(row('key distance: NearestNeighbourScorer (faiss, squared) vs torch.cdist squared', max_rel=maxd,
                    note='all test patches of the 4 embedded categories against all 4 key banks; max relative difference'))
    rows.append(row('routing: their per-test-set rule, task chosen per set', correct=sum(per_set[n] == n for n in names) / len(names),
                    chosen=per_set, note='argmin over tasks of the summed image scores (max patch distance) of the whole test set'))
    rows.append(row('routing: ours per image (mean nearest-key distance)', correct=float(np.mean(mine)), n_images=len(mine),
                    note='ContinualDFM.route: each test image goes to the task of its nearest keys; no test-set statistic'))
    rows.append(row('routing: their image score (max patch distance) applied per image', correct=float(np.mean(theirs_img)), n_images=len(theirs_img),
                    note='their scoring without the per-set sum: how much of the gap is max-vs-mean and how much per-set-vs-per-image'))
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--authors', required=True, help='local checkout of shirowalker/UCAD')
    ap.add_argument('--weights', default='auto')
    ap.add_argument('--out', default=None)
    a = ap.parse_args(argv)
    from adnb.datasets import EMBEDDED_CATEGORIES
    from adnb.dfm import DFM, adapters_off, task_keys
    torch.manual_seed(0)
    model = DFM('efficientnet_lite0', weights=a.weights).eval()
    def frozen(x):
        with torch.no_grad(), adapters_off(model.features): return model.embed(x)
    train = {c: embedded_batches(c, 'train', SIZE)['image'] for c in EMBEDDED_CATEGORIES}
    test = {c: (x, frozen(x)) for c in EMBEDDED_CATEGORIES for x in [embedded_batches(c, 'test', SIZE)['image']]}
    with torch.no_grad(): keys = [task_keys(model, train[c]) for c in EMBEDDED_CATEGORIES]
    import types
    with authors_on_path(a.authors):
        import patchcore.sampler as S, patchcore.common as C
        sys.modules['patchcore.models'] = types.ModuleType('patchcore.models')   # their prompt-ViT module (imgaug, cv2, SAM): not needed here
        try: from patchcore.patchcore import PatchMaker
        finally: sys.modules.pop('patchcore.models', None)
        rows = key_rows(S, frozen(train['brick']).flatten(0, 2), test['brick'][1].flatten(0, 2))
        with torch.no_grad(): rows += routing_rows(C, PatchMaker(3, 1), test, keys, list(EMBEDDED_CATEGORIES), model)
    note = (f"embedded brick/grass/gravel/puck at {SIZE} px as four tasks, frozen Lite0 ({a.weights} weights) patch features "
            "(DFM's layers, adapters off) in place of their frozen ViT-B/16 block 5. Not compared: prompts, SAM, their training loop.")
    write_record('ucad', REPO, a.authors, rows, 'python benchmarks/parity/ucad.py --authors ../authors/UCAD', note, a.out)

if __name__ == '__main__': main()
