"""Which backbone engine should be the default on this machine (issue 32)? Times the frozen EfficientNet-Lite0 body on
torch, onnxruntime and OpenVINO (float32) on real images, passes interleaved in one process, and measures how far each
engine's features are from torch's and from a float64 run of the same network.

    flock /tmp/adnb_timing.lock python benchmarks/engine_speed.py --data ../shared/data/mvtec_ad_256 --category bottle --threads 1

Writes reports/records/engine_speed_cpu.json: ms per image per engine (median of passes after a warm-up, adnb.timing),
max |feature difference| against torch and against float64, and the fastest engine whose features stay within
float32 rounding (its error against float64 at most twice torch's own), which is what `engine='auto'` picks.
"""
from __future__ import annotations
import argparse, copy, json, os, statistics, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='../shared/data/mvtec_ad_256'); p.add_argument('--category', default='bottle')
    p.add_argument('--images', type=int, default=32); p.add_argument('--passes', type=int, default=5); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--size', type=int, default=256); p.add_argument('--out', default=None)
    a = p.parse_args(argv)
    from adnb.backbones import FeatureExtractor, resolve_engine, _importable, _NEEDS
    from adnb.datasets import load_records, make_loader, split
    from adnb.timing import pinned_threads
    load0 = os.getloadavg()
    recs = split(load_records('mvtec_ad', a.category, a.data), 'test')[:a.images]
    batches = [b['image'] for b in make_loader(recs, a.size, batch_size=16)]
    out = dict(benchmark='engine_speed', command='python benchmarks/engine_speed.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
               data=dict(data=a.data, category=a.category, n_images=sum(len(b) for b in batches), image_size=a.size), threads=a.threads, layer_sets={})
    engines = ['torch'] + [e for e in ('onnxruntime', 'openvino') if all(map(_importable, _NEEDS[e]))]
    with pinned_threads(a.threads), torch.no_grad():
        for layers in (('blocks.2', 'blocks.4'), ('blocks.1', 'blocks.2', 'blocks.4')):
            fes = {e: FeatureExtractor('efficientnet_lite0', layers, engine=e) for e in engines}
            f64 = copy.deepcopy(fes['torch']).double()
            ref = [fes['torch'](x) for x in batches]; ref64 = [f64(x.double()) for x in batches]
            t_build = {}
            for e, fe in fes.items():
                if e != 'torch': t0 = time.perf_counter(); fe(batches[0][:1]); t_build[e] = time.perf_counter() - t0   # export (cached) + session
            n = sum(len(x) for x in batches); runs = {e: [] for e in engines}
            for e in engines:                                                   # warm-up pass each
                for x in batches: fes[e](x)
            for _ in range(a.passes):                                           # interleaved passes
                for e in engines:
                    t0 = time.perf_counter()
                    for x in batches: fes[e](x)
                    runs[e].append(1e3 * (time.perf_counter() - t0) / n)
            rows = {}
            for e in engines:
                got = [fes[e](x) for x in batches]
                d_t = max(float((g[k] - r[k]).abs().max()) for g, r in zip(got, ref) for k in r)
                d_64 = max(float((g[k].double() - r[k]).abs().max()) for g, r in zip(got, ref64) for k in r)
                rows[e] = dict(ms_per_image=statistics.median(runs[e]), ms_per_image_passes=[round(v, 3) for v in runs[e]],
                               max_abs_diff_vs_torch=d_t, max_abs_diff_vs_float64=d_64, build_s=t_build.get(e))
            torch_err = rows['torch']['max_abs_diff_vs_float64']
            for e in engines: rows[e]['speedup_vs_torch'] = rows['torch']['ms_per_image'] / rows[e]['ms_per_image']
            exact = [e for e in engines if rows[e]['max_abs_diff_vs_float64'] <= 2 * torch_err]
            out['layer_sets']['+'.join(layers)] = dict(engines=rows, max_abs_feature=max(float(v.abs().max()) for r in ref for v in r.values()),
                                                      fastest_exact=min(exact, key=lambda e: rows[e]['ms_per_image']))
            print('+'.join(layers), {e: (round(r['ms_per_image'], 1), f"{r['max_abs_diff_vs_torch']:.1e}") for e, r in rows.items()})
    picks = {v['fastest_exact'] for v in out['layer_sets'].values()}
    out.update(default=resolve_engine('auto'), fastest_exact_engines=sorted(picks), load_before=list(load0), load_after=list(os.getloadavg()),
               note=(f"{os.cpu_count()}-core shared CPU, {a.threads} thread(s); 'auto' resolves to {resolve_engine('auto')}; an engine counts as exact "
                     "when its max |difference| from a float64 run of the same network is at most twice torch's own float32 difference"))
    if a.out != '-':
        f = Path(a.out) if a.out else ROOT/'reports'/'records'/'engine_speed_cpu.json'
        f.write_text(json.dumps(out, indent=1) + '\n'); print('written', f)
    return out

if __name__ == '__main__': main()
