"""Time and memory CostFilter-AD adds to its base detector, per image (paper Table 6: AnomalyDINO +0.32 s, +0.82 GB on an A100).

The paper's setting (GPU): DINO ViT-B/8 at 256 px, blocks 3/6/9/12, N = 3 templates, D = 1024, volume upsampled to
64x64, U-Net width 48. Random weights suffice for timing (no DINO weights offline):

    python benchmarks/costfilter_latency.py --device cuda
    python benchmarks/costfilter_latency.py --device cpu --size 64 --width 8 --repeats 3     # small CPU check

Prints one JSON object per run: per-image ms of the stages (features, cost volume, U-Net; `adnb.costfilter.profile_filter`)
and of the whole forward pass of the base (AnomalyDINO on the same features and templates) and of the filter; on CUDA
the peak memory the volume and U-Net add per image, and each model's peak memory for one forward pass.
"""
import argparse, json, time, platform
import torch
from adnb.costfilter import CostFilter, profile_filter
from adnb.anomalydino import AnomalyDINO, fit_anomalydino

def _ms(f, x, repeats, cuda):
    "Per-image ms of f(x): adnb.timing's method (one warm-up pass, the median of `repeats` passes, threads as set)."
    from adnb.timing import time_passes
    return time_passes(lambda b: f(b), [x], passes=repeats, warmup=1, device=str(x.device))['ms_per_image']

def _peak(f, x, cuda):
    "Peak CUDA MiB of one call above what was allocated before it (None on CPU)."
    if not cuda: return None
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); m0 = torch.cuda.memory_allocated()
    f(x); torch.cuda.synchronize(); return (torch.cuda.max_memory_allocated() - m0) / 2**20

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--backbone', default='dino_vitb8'); p.add_argument('--layers', nargs='+', default=['3', '6', '9', '12'])
    p.add_argument('--size', type=int, default=256); p.add_argument('--width', type=int, default=48)
    p.add_argument('--templates', type=int, default=3); p.add_argument('--batch', type=int, default=1)
    p.add_argument('--repeats', type=int, default=10); p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, default=0); p.add_argument('--out', default='')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    layers = [int(l) if l.isdigit() else l for l in a.layers]; dev = torch.device(a.device); cuda = dev.type == 'cuda'
    torch.manual_seed(0)
    cf = CostFilter(a.backbone, layers, weights='random', img_size=a.size, width=a.width, n_templates=a.templates).to(dev).eval()
    tpl, x = torch.rand(a.templates, 3, a.size, a.size, device=dev), torch.rand(a.batch, 3, a.size, a.size, device=dev)
    cf.set_templates('object', tpl)
    base = AnomalyDINO(a.backbone, layers, weights='random', img_size=a.size, grid=cf.grid[0]).to(dev)
    fit_anomalydino(base, tpl, device=dev)
    with torch.no_grad():
        r = dict(backbone=a.backbone, layers=layers, size=a.size, width=a.width, templates=a.templates, D=cf.D,
                 grid=list(cf.grid), device=str(dev), gpu=torch.cuda.get_device_name(dev) if cuda else None, cpu=platform.processor(),
                 filter_params_m=sum(q.numel() for q in cf.net.parameters()) / 1e6,
                 **profile_filter(cf, x, repeats=a.repeats),         # threads, engine and the timing method come with it
                 repeats=a.repeats,
                 anomalydino_ms=_ms(base, x, a.repeats, cuda), costfilter_ms=_ms(cf, x, a.repeats, cuda),
                 anomalydino_peak_mb=_peak(base, x, cuda), costfilter_peak_mb=_peak(cf, x, cuda))
    r['added_ms_forward'] = r['costfilter_ms'] - r['anomalydino_ms']
    s = json.dumps(r, indent=1); print(s)
    if a.out: open(a.out, 'w').write(s + '\n')
    return r

if __name__ == '__main__': main()
