"""How much of PatchCore's exact 1-NN search a cluster bound could skip (issue 32): a work count, not a timing.

    python benchmarks/knn_prune_probe.py [--data ../shared/data/mvtec_ad_256] [--category bottle] [--images 3]

PatchCore's search is one exact L2 1-NN per test patch against the coreset bank (bottle at 256 px: 1024 patches x 21400
rows x 152 dims per image, ~6.7 GFLOP), already run near this CPU's float32 GEMM peak by faiss. A faster *exact* search
must do less arithmetic. This probe k-means-clusters the bank (faiss, K clusters), takes each cluster's radius r_j (the
largest member distance to the centroid c_j) and counts, for the test patches of a few test images, the rows in clusters
the triangle inequality cannot rule out given the true nearest distance d*: ||q - c_j|| - r_j <= d*. That is the work of
an ideal pruned search (the real one first scans the nearest cluster, so its bound is a little looser). Writes
reports/records/knn_prune_probe_<category>.json.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path
import numpy as np, torch
ROOT = Path(__file__).resolve().parents[1]

def main(argv=None):
    p = argparse.ArgumentParser(); p.add_argument('--data', default='../shared/data/mvtec_ad_256'); p.add_argument('--category', default='bottle')
    p.add_argument('--images', type=int, default=3); p.add_argument('--clusters', default='64,146,512'); a = p.parse_args(argv)
    import faiss
    from adnb.datasets import load_records, split, make_loader
    from adnb.patchcore import PatchCore, fit_patchcore
    torch.set_num_threads(1); faiss.omp_set_num_threads(1)
    recs = load_records('mvtec_ad', a.category, a.data)
    te = split(recs, 'test'); pick = [te[i] for i in np.linspace(0, len(te) - 1, a.images).round().astype(int)]
    m = PatchCore(layers=['blocks.2', 'blocks.4']); fit_patchcore(m, make_loader(split(recs, 'train'), 256, batch_size=16), progress=False); m.eval()
    B = m.memory_bank.float().numpy(); N, D = B.shape
    with torch.no_grad(): Q = np.concatenate([m(b['image'], return_embeddings=True)['embeddings'].reshape(-1, D).numpy()
                                              for b in make_loader(pick, 256, batch_size=len(pick))])
    idx = faiss.IndexFlatL2(D); idx.add(B); best = np.sqrt(np.maximum(idx.search(Q, 1)[0][:, 0], 0))
    rows = []
    for K in map(int, a.clusters.split(',')):
        km = faiss.Kmeans(D, K, niter=10, seed=0); km.train(B); lab = km.index.search(B, 1)[1][:, 0]; C = km.centroids
        r = np.zeros(K, np.float32); np.maximum.at(r, lab, np.sqrt(((B - C[lab])**2).sum(1))); cnt = np.bincount(lab, minlength=K)
        dq = np.sqrt(np.maximum((Q**2).sum(1)[:, None] + (C**2).sum(1)[None] - 2 * Q @ C.T, 0))
        share = ((dq - r[None] <= best[:, None]) * cnt[None]).sum(1) / N
        rows.append(dict(clusters=K, rows_scanned_share_mean=float(share.mean()), median=float(np.median(share)), p90=float(np.quantile(share, .9)),
                         centroid_work_share=K / N, radius_median=float(np.median(r))))
        print(f"K={K}: an ideal pruned search scans {share.mean():.3f} of the bank on average (median {np.median(share):.3f}, p90 "
              f"{np.quantile(share, .9):.3f}) plus {K / N:.4f} for the centroids")
    out = dict(benchmark='knn_prune_probe', command='python benchmarks/knn_prune_probe.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
               date=time.strftime('%Y-%m-%d'), data=dict(category=a.category, bank_rows=N, dims=D, query_patches=len(Q), test_images=[r.image.rsplit('/', 3)[-2] + '/' + r.image.rsplit('/', 1)[-1] for r in pick]),
               nearest_distance_median=float(np.median(best)), rows=rows,
               note='work count of an ideal exact pruned search (triangle inequality with the true nearest distance); not a timing')
    path = ROOT/'reports'/'records'/f'knn_prune_probe_{a.category}.json'; path.write_text(json.dumps(out, indent=1) + '\n'); print('written', path)

if __name__ == '__main__': main()
