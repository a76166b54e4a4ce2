"""AnomalyDINO's reference search, exhaustive against pruned (issue 32), on a real full-shot bank, in one process.

    flock /tmp/adnb_timing.lock python benchmarks/anomalydino_search.py --data ../shared/data/mvtec_ad_256 --category bottle --threads 1

The bank: every training image's EfficientNet-Lite0 patch features (AnomalyDINO's defaults, 256 px, 32x32 grid). The
queries: the patches of `--test-images` test images. Three searches choose each query's nearest reference patch:
faiss's exhaustive `IndexFlatIP` (what the model used before), the exhaustive torch product, and `PrunedIP`; passes
alternate between them (median reported). Scores: the image scores and patch distances from each, compared bit for bit.
Writes reports/records/anomalydino_search_<category>.json.
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='../shared/data/mvtec_ad_256'); p.add_argument('--category', default='bottle')
    p.add_argument('--test-images', type=int, default=32); p.add_argument('--passes', type=int, default=3); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None)
    a = p.parse_args(argv)
    from adnb.anomalydino import AnomalyDINO, fit_anomalydino, nn_cosine, flat_ip_index, PrunedIP, top_frac_mean
    from adnb.datasets import load_records, make_loader, split
    from adnb.timing import pinned_threads
    load0 = os.getloadavg()
    recs = load_records('mvtec_ad', a.category, a.data)
    train, test = split(recs, 'train'), split(recs, 'test')
    test = test[::max(1, len(test) // a.test_images)][:a.test_images]
    with pinned_threads(a.threads), torch.no_grad():
        m = AnomalyDINO('efficientnet_lite0', img_size=256, pruned_from=None)
        fit = fit_anomalydino(m, make_loader(train, 256, batch_size=16)); bank = m.reference_bank
        q = torch.cat([m.patch_features(b['image']) for b in make_loader(test, 256, batch_size=16)])
        B, h, w, D = q.shape; q = q.reshape(-1, D)
        t0 = time.perf_counter(); flat = flat_ip_index(bank); t_flat = time.perf_counter() - t0
        t0 = time.perf_counter(); pr = PrunedIP(bank); t_pr = time.perf_counter() - t0
        searches = dict(faiss_flat=lambda: nn_cosine(bank, q, index=flat), torch_exhaustive=lambda: nn_cosine(bank, q, use_faiss=False),
                        pruned=lambda: nn_cosine(bank, q, index=pr))
        runs = {k: [] for k in searches}; out = {}
        for k, f in searches.items(): out[k] = f()                     # warm-up, and the results compared below
        pr.work = 0.
        for _ in range(a.passes):
            for k, f in searches.items():
                t0 = time.perf_counter(); f(); runs[k].append(1e3 * (time.perf_counter() - t0) / B)
        work = pr.work / a.passes / (len(q) * len(bank))
    ms = {k: statistics.median(v) for k, v in runs.items()}
    score = {k: top_frac_mean(d.reshape(B, -1), 0.01) for k, (d, _) in out.items()}
    ref_d, ref_i = out['torch_exhaustive']
    rec = dict(benchmark='anomalydino_search', command='python benchmarks/anomalydino_search.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
               data=dict(data=a.data, category=a.category, n_references=len(train), n_test_images=B, image_size=256),
               bank=dict(rows=len(bank), dim=D, clusters=len(pr.counts), index_build_s=dict(faiss_flat=t_flat, pruned=t_pr)),
               ms_per_image=ms, ms_per_image_passes={k: [round(x, 2) for x in v] for k, v in runs.items()},
               speedup_pruned_vs_faiss_flat=ms['faiss_flat'] / ms['pruned'], speedup_pruned_vs_torch_exhaustive=ms['torch_exhaustive'] / ms['pruned'],
               pruned_work_fraction=work,
               pruned_vs_torch_exhaustive=dict(same_indices=bool(torch.equal(out['pruned'][1], ref_i)), identical_distances=bool(torch.equal(out['pruned'][0], ref_d)),
                                               identical_image_scores=bool(torch.equal(score['pruned'], score['torch_exhaustive']))),
               faiss_flat_vs_torch_exhaustive=dict(index_agreement=float((out['faiss_flat'][1] == ref_i).float().mean()),
                                                   max_abs_distance_diff=float((out['faiss_flat'][0] - ref_d).abs().max()),
                                                   max_abs_image_score_diff=float((score['faiss_flat'] - score['torch_exhaustive']).abs().max())),
               threads=a.threads, load_before=list(load0), load_after=list(os.getloadavg()),
               note='passes alternate between the three searches in one process; ms per test image of the search alone (1,024 queries per image)')
    print(json.dumps({k: rec[k] for k in ('ms_per_image', 'speedup_pruned_vs_faiss_flat', 'pruned_work_fraction', 'pruned_vs_torch_exhaustive',
                                           'faiss_flat_vs_torch_exhaustive')}, indent=1))
    if a.out != '-':
        f = Path(a.out) if a.out else ROOT/'reports'/'records'/f'anomalydino_search_{a.category}.json'
        f.write_text(json.dumps(rec, indent=1) + '\n'); print('written', f)
    return rec

if __name__ == '__main__': main()
