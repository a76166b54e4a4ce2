"""Exact greedy coreset speed on real PatchCore features (issue 9).

EfficientNet-Lite0 blocks.2+blocks.4 features (32x32 grid, dim 152) of the first `--images` training images at 256 px,
Gaussian projection to 128 (`random_projection`, seed 0), `--ratio` of the patches as centres, start index 0.
`--data screw` uses /work/shared/data/screw_256/train/good (213 images: 218,112 patches), `bottle` MVTec AD bottle
(209 images: 214,016 patches), `random` a seeded Gaussian mixture of the same size. Projected features are cached in
/tmp/adnb_coreset_<data>_<images>.npy.

In one run: the current `greedy_coreset` (full), the previous implementation (copied below as `greedy_coreset_prev`,
full), and - timed on the first `--steps` centres and extrapolated linearly, since their cost per centre is constant -
the naive loop `greedy_coreset_naive` and the dense per-step update anomalib 2.7's KCenterGreedy performs. Checks that
current and previous pick identical centres (all of them) and that all four agree on the first `--steps`.

    flock /tmp/adnb_heavy.lock python benchmarks/coreset_speed.py --data screw --images 213 --ratio 0.1
`--device cuda` runs every variant on the GPU (not run here: this machine has no GPU).
"""
import argparse, time
from pathlib import Path
import numpy as np, torch

from adnb.patchcore import greedy_coreset, greedy_coreset_naive, random_projection, _dist

ROOTS = dict(screw=Path('/work/shared/data/screw_256/train/good'), bottle=Path('/work/shared/data/mvtec_ad_256'))

def features(data, images, seed=0):
    "Projected (N, 128) float32 features, cached in /tmp."
    f = Path(f'/tmp/adnb_coreset_{data}_{images}.npy')
    if f.exists(): return torch.from_numpy(np.load(f))
    if data == 'random':
        g = torch.Generator().manual_seed(seed); N = images * 1024; k = torch.randint(64, (N,), generator=g)
        Z = 3 * torch.randn(64, 128, generator=g)[k] + torch.randn(N, 128, generator=g)
    else:
        from adnb.datasets import Record, mvtec_records, split, make_loader, _images
        from adnb.patchcore import PatchCore, collect_embeddings
        if not ROOTS[data].is_dir(): raise SystemExit(f'no {data} data under {ROOTS[data]}')
        recs = ([Record(str(p), 'screw', 'train', 0) for p in _images(ROOTS[data])] if data == 'screw'
                else split(mvtec_records(ROOTS[data], 'bottle'), 'train'))[:images]
        if len(recs) < images: raise SystemExit(f'--images {images}: only {len(recs)} {data} training images')
        E = collect_embeddings(PatchCore('efficientnet_lite0'), make_loader(recs, 256, batch_size=16), progress=False)
        Z = random_projection(E, 128, 0)
    np.save(f, Z.float().contiguous().numpy()); return Z.float()

def greedy_coreset_prev(Z, n, start=0, margin=1e-3):
    "The previous implementation (git 0b83fbd adnb/patchcore.py): per-point triangle test over all N each step."
    N = len(Z); d = _dist(Z, Z[start]); assign = torch.zeros(N, dtype=torch.long, device=Z.device)
    C = torch.empty(n, Z.shape[1], dtype=Z.dtype, device=Z.device); C[0] = Z[start]
    idx = torch.empty(n, dtype=torch.long); idx[0] = start
    for j in range(1, n):
        i = int(d.argmax()); c = Z[i]; C[j] = c; idx[j] = i
        cc = _dist(C[:j], c)
        cand = (cc[assign] < 2 * d * (1 + margin)).nonzero().squeeze(1)
        if len(cand):
            dn = _dist(Z[cand], c); better = dn < d[cand]
            ci = cand[better]; d[ci] = dn[better]; assign[ci] = j
    return idx

def dense_anomalib(Z, n, start=0):
    "anomalib 2.7 KCenterGreedy rule: ||Z - c|| for all points each step, running minimum, argmax."
    d = torch.linalg.norm(Z - Z[start], dim=1); idx = [start]
    for _ in range(n - 1):
        i = int(d.argmax()); idx.append(i); d = torch.minimum(d, torch.linalg.norm(Z - Z[i], dim=1))
    return torch.tensor(idx)

def timed(f, *a, **k):
    if torch.cuda.is_available(): torch.cuda.synchronize()
    t0 = time.perf_counter(); r = f(*a, **k)
    if torch.cuda.is_available(): torch.cuda.synchronize()
    return r, time.perf_counter() - t0

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='screw', choices=['screw', 'bottle', 'random'])
    ap.add_argument('--images', type=int, default=213); ap.add_argument('--ratio', type=float, default=0.1)
    ap.add_argument('--steps', type=int, default=200, help='centres timed for the naive and dense loops')
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--device', default='cpu')
    ap.add_argument('--skip-prev', action='store_true', help='do not time the previous implementation')
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    Z = features(a.data, a.images).to(a.device); N = len(Z); n = int(round(N * a.ratio)); s = min(a.steps, n)
    print(f'{a.data}, {a.images} images: {N} x {Z.shape[1]} projected features, {n} centres, start 0, '
          f'{a.threads} torch threads, device {a.device}')
    new, t_new = timed(greedy_coreset, Z, n, 0)
    rows = [('current greedy_coreset (full run)', n / t_new, t_new)]
    if not a.skip_prev:
        prev, t_prev = timed(greedy_coreset_prev, Z, n, 0)
        rows.append(('previous implementation (full run)', n / t_prev, t_prev))
    naive, t_naive = timed(greedy_coreset_naive, Z, s, 0); rows.append((f'naive loop ({s} centres, extrapolated)', s / t_naive, n * t_naive / s))
    dense, t_dense = timed(dense_anomalib, Z, s, 0); rows.append((f'anomalib 2.7 dense update ({s} centres, extrapolated)', s / t_dense, n * t_dense / s))
    for name, rate, t in rows: print(f'{name:55s} {rate:9.1f} centres/s {t:9.1f} s   current is {rate and n / t_new / rate:6.1f}x faster')
    if not a.skip_prev: print(f'current == previous on all {n} centres: {torch.equal(new, prev)}')
    print(f'first {s} centres: current == naive: {torch.equal(new[:s], naive)}; current == anomalib dense: {torch.equal(new[:s], dense)}')
