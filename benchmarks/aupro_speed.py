"""AUPRO time and peak memory for 100 maps of 1024x1024 with realistic masks (issue: under 30 s on 2 CPU cores).

    python benchmarks/aupro_speed.py [--n 100] [--size 1024]
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

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=100); ap.add_argument('--size', type=int, default=1024)
    a = ap.parse_args()
    maps, masks = make(a.n, a.size)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter(); v = aupro(maps, masks, 0.3); t1 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'{a.n} maps of {a.size}x{a.size} ({a.n*a.size*a.size/1e6:.0f} Mpx, {int(sum(m.sum() for m in masks))} anomalous px)')
    print(f'AUPRO@30% = {v:.4f} in {t1 - t0:.1f} s; peak RSS {rss1:.0f} MiB (inputs alone {rss0:.0f} MiB, +{rss1 - rss0:.0f} MiB)')
    t0 = time.perf_counter(); pm = pixel_metrics(maps, masks); t1 = time.perf_counter()
    print(f'pixel AUROC/AP/F1max = {pm["pixel_auroc"]:.4f}/{pm["pixel_ap"]:.4f}/{pm["pixel_f1max"]:.4f} in {t1 - t0:.1f} s')
