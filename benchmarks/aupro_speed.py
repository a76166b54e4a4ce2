"""AUPRO time and peak memory for 100 maps of 1024x1024 with realistic masks (issue: under 30 s on 2 CPU cores);
with `--gap ROOT`, the AUPRO of real PaDiM maps (MVTec AD bottle) under every convention of `aupro_convention`,
written to reports/records/aupro_conventions_bottle.json.

    python benchmarks/aupro_speed.py [--n 100] [--size 1024]
    flock /tmp/adnb_heavy.lock python benchmarks/aupro_speed.py --gap /work/shared/data/mvtec_ad_256
"""
import argparse, time, resource
import numpy as np
from scipy import ndimage
from adnb.metrics import aupro, pixel_metrics

def make(n, size, seed=0):
    "Masks: 0-4 blobs per image (smoothed-noise thresholds, some tiny), a third of the images good; maps: noisy, correlated."
    rng = np.random.default_rng(seed); maps, masks = [], []
    for i in range(n):
        m = np.zeros((size, size), bool)
        if i % 3:
            for _ in range(rng.integers(1, 5)):
                r = int(rng.integers(2, size // 12)); cy, cx = rng.integers(r, size - r, 2)
                yy, xx = np.ogrid[-r:r+1, -r:r+1]
                blob = (yy**2 / rng.uniform(.3, 1) + xx**2 / rng.uniform(.3, 1)) <= r**2
                m[cy-r:cy+r+1, cx-r:cx+r+1] |= blob
        a = rng.random((size, size), dtype=np.float32) + .8 * ndimage.uniform_filter(m.astype(np.float32), 15)
        maps.append(a.astype(np.float32)); masks.append(m.astype(np.uint8))
    return maps, masks


def gap(root, category='bottle', image_size=256, out='reports/records/aupro_conventions_bottle.json'):
    "Real PaDiM maps (Lite0 blocks.1+.2+.4, d=100, seed 0) on one MVTec AD category; AUPRO under every convention."
    import json, platform, torch
    from adnb.datasets import load_records, split, make_loader
    from adnb.metrics import full_resolution, aupro_convention, AUPRO_CONVENTIONS
    from adnb.padim import PaDiM, fit_padim
    torch.manual_seed(0)
    recs = load_records('mvtec_ad', category, root); train, test = split(recs, 'train'), split(recs, 'test')
    model = PaDiM('efficientnet_lite0', ('blocks.1', 'blocks.2', 'blocks.4'), d=100, seed=0)
    fit = fit_padim(model, make_loader(train, image_size, batch_size=16))
    maps, masks = [], []
    with torch.no_grad():
        for b in make_loader(test, image_size, batch_size=16):
            maps += full_resolution(model(b['image'])['map'], b['geometry']); masks += [m.numpy() for m in b['mask']]
    rows = []
    for c in AUPRO_CONVENTIONS:
        for L in (0.3, 0.05):
            t0 = time.perf_counter(); v = aupro_convention(maps, masks, L, c); dt = time.perf_counter() - t0
            rows.append(dict(convention=c, limit=L, aupro=v, s=dt))
    off = {r['limit']: r['aupro'] for r in rows if r['convention'] == 'official'}
    for r in rows: r['minus_official'] = r['aupro'] - off[r['limit']]
    print(f"PaDiM {category} {image_size}px: {len(train)} train, {len(test)} test maps of {maps[0].shape}, fit {fit['fit_s']:.1f} s")
    print('| convention | AUPRO@30% | − official | AUPRO@5% | − official | time @30% (s) |'); print('|---|---|---|---|---|---|')
    for c in AUPRO_CONVENTIONS:
        a, b = [r for r in rows if r['convention'] == c]
        print(f"| {c} | {a['aupro']:.4f} | {a['minus_official']:+.4f} | {b['aupro']:.4f} | {b['minus_official']:+.4f} | {a['s']:.2f} |")
    rec = dict(benchmark='aupro_conventions', command=f'python benchmarks/aupro_speed.py --gap {root}',
               model=dict(method='padim', backbone='efficientnet_lite0', layers=['blocks.1', 'blocks.2', 'blocks.4'], d=100,
                          sigma=4.0, seed=0, image_size=image_size),
               data=dict(root=str(root), category=category, n_train=len(train), n_test=len(test), map_shape=list(maps[0].shape)),
               env=dict(torch=torch.__version__, python=platform.python_version(), threads=torch.get_num_threads()),
               fit_s=fit['fit_s'], results=rows)
    json.dump(rec, open(out, 'w'), indent=1); print('written', out)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=100); ap.add_argument('--size', type=int, default=1024)
    ap.add_argument('--gap', default='', help='MVTec AD root: convention gap table on real PaDiM maps instead')
    a = ap.parse_args()
    if a.gap: gap(a.gap); raise SystemExit
    maps, masks = make(a.n, a.size)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter(); v = aupro(maps, masks, 0.3); t1 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'{a.n} maps of {a.size}x{a.size} ({a.n*a.size*a.size/1e6:.0f} Mpx, {int(sum(m.sum() for m in masks))} anomalous px)')
    print(f'AUPRO@30% = {v:.4f} in {t1 - t0:.1f} s; peak RSS {rss1:.0f} MiB (inputs alone {rss0:.0f} MiB, +{rss1 - rss0:.0f} MiB)')
    t0 = time.perf_counter(); pm = pixel_metrics(maps, masks); t1 = time.perf_counter()
    print(f'pixel AUROC/AP/F1max = {pm["pixel_auroc"]:.4f}/{pm["pixel_ap"]:.4f}/{pm["pixel_f1max"]:.4f} in {t1 - t0:.1f} s')
