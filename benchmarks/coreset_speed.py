"""Greedy coreset speed on the real PatchCore setting of the PatchCore issue.

EfficientNet-Lite0 blocks.2+blocks.4 features of the 209 MVTec AD bottle training images at 256 px (~214k patch
features, dim 152), Gaussian projection to 128, ratio 0.1 (21,400 centres). Compares our pruned exact greedy with the
dense per-iteration update anomalib 2.7's KCenterGreedy performs (distance of every point to the new centre, running
minimum, argmax), timed for `--dense-steps` centres on the same projected features and extrapolated; also checks both
pick the same first centres.

    python benchmarks/coreset_speed.py [--data-root ../shared/data/mvtec_ad_256] [--ratio 0.1] [--dense-steps 300]
"""
import argparse, time
from pathlib import Path
import torch

from adnb.datasets import mvtec_records, split, make_loader
from adnb.patchcore import PatchCore, collect_embeddings, random_projection, greedy_coreset

def dense_steps(Z, start, n):
    "anomalib-style dense update: ||Z - c|| for all points each step."
    d = torch.linalg.norm(Z - Z[start], dim=1); idx = [start]
    for _ in range(n - 1):
        i = int(d.argmax()); idx.append(i); d = torch.minimum(d, torch.linalg.norm(Z - Z[i], dim=1))
    return idx

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data-root', default=str(Path(__file__).resolve().parents[2]/'shared/data/mvtec_ad_256'))
    ap.add_argument('--ratio', type=float, default=0.1); ap.add_argument('--dense-steps', type=int, default=300)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    if not (Path(a.data_root)/'bottle').is_dir(): raise SystemExit(f'no MVTec AD bottle under {a.data_root}: pass --data-root')
    pc = PatchCore('efficientnet_lite0')
    E = collect_embeddings(pc, make_loader(split(mvtec_records(a.data_root, 'bottle'), 'train'), 256, batch_size=16), progress=False)
    Z = random_projection(E, 128, 0); n = int(round(len(E) * a.ratio)); start = 0
    print(f'features {tuple(E.shape)} -> projected {tuple(Z.shape)}; {n} centres; {a.threads} threads')
    t0 = time.perf_counter(); ours = greedy_coreset(Z, n, start); t_ours = time.perf_counter() - t0
    t0 = time.perf_counter(); ref = dense_steps(Z, start, a.dense_steps); t_dense = time.perf_counter() - t0
    rate = a.dense_steps / t_dense
    same = ours[:a.dense_steps].tolist() == ref
    print(f'ours (pruned exact greedy): {t_ours:.1f} s for {n} centres = {n / t_ours:.0f} centres/s')
    print(f'dense update (anomalib 2.7 rule): {rate:.1f} centres/s -> {n / rate / 60:.1f} min extrapolated')
    print(f'speed-up: {n / rate / t_ours:.1f}x; first {a.dense_steps} centres identical: {same}')
