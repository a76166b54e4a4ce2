"""One prepared GPU check (issue 32): every experiment at the ci profile on the device, each paper's headline
architecture timed per image with its peak GPU memory beside the paper's printed cost, and PatchCore's coreset at paper
scale. Written to run in <= 8 minutes on one H100 and to leave one record.

    python benchmarks/gpu_check.py --device cuda                     # on the GPU machine (writes reports/records/gpu_check_<gpu>.json)
    python benchmarks/gpu_check.py --device cpu --tiny --out -       # CPU dry run: every code path at toy sizes (tests/test_gpu_check.py)

Headline architectures use random initialisation (no ViT weights exist offline); their times are what the paper's
architecture costs, not what its detector scores. Times: `adnb.timing.time_passes` (one warm-up pass, median of the
timed passes, CUDA synchronised around each call); memory: `torch.cuda.max_memory_allocated` above what was allocated
before the call (CPU: null). `--tiny` shrinks every input (and skips executing the experiments: it only resolves
their ci parameters) so the script's paths are checked on any machine in seconds.
"""
from __future__ import annotations
import argparse, json, os, platform, sys, tempfile, time, traceback
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ('patchcore', 'fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain')
BUDGET_S = 480
# what the papers print (shared/papers/*.txt); units as printed
PAPERS = dict(
    fapm=dict(table='FAPM Table 1 (GPU)', values=dict(fapm_fps=44.1, patchcore_fps='5.9 (23.4*)')),
    dfm=dict(table='DFM Table 7 (ViT-L, GPU)', values=dict(patchcore_infer_fps=20.32, dfm_train_fps=24.09, dfm_infer_fps=49.90,
                                                           patchcore_infer_mb=2713, dfm_train_mb=4923, dfm_infer_mb=3671)),
    fbft=dict(table='FBFT Table 3 (VisA, inference time per sample as printed, "ms")', values=dict(fbft_original_resolution=1.321, fbft_high_resolution=1.786,
                                                                                               patchcore_original=87.151, patchcore_high=227.230)),
    costfilter=dict(table='CostFilter-AD Table 6 (A100 40 GB)', values=dict(anomalydino_s=0.31, costfilter_added_s=0.32, anomalydino_gb=3.25, costfilter_added_gb=0.82)),
    anomalydino=dict(table='AnomalyDINO: paper text not in shared/papers', values={}),
)

def _peak_mb(fn, x, cuda:bool):
    "Peak CUDA MiB one call of fn(x) allocates above what was allocated before it; None on CPU."
    if not cuda: return None
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); m0 = torch.cuda.memory_allocated()
    with torch.no_grad(): fn(x)
    torch.cuda.synchronize(); return (torch.cuda.max_memory_allocated() - m0) / 2**20

def timed(fn, x, dev:str, passes:int)->dict:
    "ms per image (adnb.timing: warm-up, median of passes, synchronised) and peak MiB of `fn` on the batch `x`."
    from adnb.timing import time_passes
    r = time_passes(lambda b: fn(b), [x], passes=passes, device=dev)
    return dict(ms_per_image=r['ms_per_image'], ms_per_image_passes=r['ms_per_image_passes'], fps=r['fps'], batch=len(x),
                peak_mb=_peak_mb(fn, x, dev.startswith('cuda')), threads=r['threads'])

# ------------------------------------------------------------------ headline architectures
def anomalydino(dev, tiny, passes):
    from adnb.anomalydino import AnomalyDINO, fit_anomalydino
    S = 56 if tiny else 448
    m = AnomalyDINO('dinov2_vits14', weights='random', img_size=S).to(dev)
    fit_anomalydino(m, torch.rand(1, 3, S, S, device=dev), device=dev)          # 1-shot bank
    return dict(config=f'DINOv2 ViT-S/14 at {S} px, 1 reference, random init', bank=len(m.reference_bank),
                **timed(m, torch.rand(1, 3, S, S, device=dev), dev, passes))

def dfm(dev, tiny, passes):
    from adnb.dfm import DFM, init_memory
    S = 64 if tiny else 224
    m = DFM('clip_vitb16', weights='random', img_size=S).to(dev).eval()
    init_memory(m, torch.rand(2, 3, S, S, device=dev), dev)
    return dict(config=f'CLIP ViT-B/16 at {S} px, FMN memory {m.memory_size} rows, random init', **timed(m, torch.rand(1, 3, S, S, device=dev), dev, passes))

def costfilter(dev, tiny, passes):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import costfilter_latency
    args = ['--device', dev, '--repeats', str(passes)] + (['--size', '64', '--width', '8'] if tiny else ['--size', '256', '--width', '48'])
    r = costfilter_latency.main(args)
    return dict(config=f"DINO ViT-B/8 at {r['size']} px, blocks 3/6/9/12, U-Net width {r['width']}, {r['templates']} templates, random init", **r)

def fbft(dev, tiny, passes):
    from adnb.fbft import FBFT
    S = 112 if tiny else 1036
    m = FBFT('dinov2_vitb14', (8, 12), weights='random', img_size=S).to(dev).eval()
    return dict(config=f'DINOv2 ViT-B/14 blocks 8/12 at {S} px, students at width 768, random init', **timed(m, torch.rand(1, 3, S, S, device=dev), dev, passes))

def coreset(dev, tiny, passes):
    "PatchCore's memory build at paper scale: 209 images x 28x28 WRN50 patches (1024-d), projected to 128, 10 % greedy coreset."
    from adnb.patchcore import random_projection, greedy_coreset
    N, D = (3000, 64) if tiny else (209 * 28 * 28, 1024)
    g = torch.Generator().manual_seed(0); E = torch.randn(N, D, generator=g).to(dev)
    sync = torch.cuda.synchronize if dev.startswith('cuda') else (lambda: None)
    sync(); t0 = time.perf_counter(); Z = random_projection(E, 128, 0); idx = greedy_coreset(Z, N // 10, 0); sync()
    return dict(config=f'{N:,} patches x {D} dims -> 128 (random projection) -> {N // 10:,} centres', seconds=time.perf_counter() - t0,
                centres=len(idx), device=dev)

HEADLINES = dict(anomalydino=anomalydino, dfm=dfm, costfilter=costfilter, fbft=fbft, patchcore_coreset=coreset)

# ------------------------------------------------------------------ experiments at the ci profile
def experiment(name, dev, tiny, reports):
    from adnb.run import find_experiment, resolve_params, run_experiment
    params = dict(profile='ci', device=dev)
    resolved, profile = resolve_params(find_experiment(name), params)
    if tiny: return dict(status='resolved (dry run: not executed)', profile=profile, device=resolved.get('device'))
    t0 = time.perf_counter(); out = run_experiment(name, params, reports=reports, progress=False)
    res = json.loads((out/'results.json').read_text()) if (out/'results.json').is_file() else {}
    return dict(status='done', profile=profile, seconds=time.perf_counter() - t0, results_keys=sorted(res)[:20],
                headline={k: v for k, v in (res.get('summary') or res).items() if isinstance(v, (int, float, str))} if isinstance(res, dict) else None)

def machine(dev)->dict:
    cuda = dev.startswith('cuda')
    return dict(device=dev, gpu=torch.cuda.get_device_name(0) if cuda else None, torch=torch.__version__, python=platform.python_version(),
                cpu=platform.processor() or platform.machine(), cores=os.cpu_count(), cuda=torch.version.cuda if cuda else None)

def main(argv=None)->dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda'); p.add_argument('--tiny', action='store_true')
    p.add_argument('--passes', type=int, default=None); p.add_argument('--budget-s', type=float, default=BUDGET_S)
    p.add_argument('--only', nargs='*', default=None, help='run only these items (experiment names or headline names)')
    p.add_argument('--out', default=None, help='record path (default reports/records/gpu_check_<device>.json; "-": none)')
    a = p.parse_args(argv)
    if a.device.startswith('cuda') and not torch.cuda.is_available(): raise SystemExit('--device cuda: torch sees no CUDA device here')
    passes = a.passes or (2 if a.tiny else 5); t_start = time.perf_counter()
    rec = dict(benchmark='gpu_check', command='python benchmarks/gpu_check.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
               machine=machine(a.device), tiny=a.tiny, budget_s=a.budget_s, papers=PAPERS, headlines={}, experiments={}, skipped=[])
    want = lambda k: a.only is None or k in a.only
    def guarded(section, key, fn):
        if not want(key): return
        if time.perf_counter() - t_start > a.budget_s: rec['skipped'].append(key); return
        t0 = time.perf_counter()
        try: rec[section][key] = fn()
        except Exception as e: rec[section][key] = dict(status='failed', error=f'{type(e).__name__}: {e}', trace=traceback.format_exc()[-2000:])
        rec[section][key]['wall_s'] = time.perf_counter() - t0
        print(f"gpu_check: {section}/{key} {rec[section][key].get('status', 'ok')} in {rec[section][key]['wall_s']:.1f} s", flush=True)
    torch.manual_seed(0)
    for k, f in HEADLINES.items(): guarded('headlines', k, lambda f=f: f(a.device, a.tiny, passes))
    with tempfile.TemporaryDirectory() as tmp:
        for k in EXPERIMENTS: guarded('experiments', k, lambda k=k: experiment(k, a.device, a.tiny, tmp))
    rec['total_s'] = time.perf_counter() - t_start
    rec['failed'] = [f'{s}/{k}' for s in ('headlines', 'experiments') for k, v in rec[s].items() if v.get('status') == 'failed']
    print(f"gpu_check: {rec['total_s']:.0f} s in all; failed: {rec['failed'] or 'none'}; skipped (budget): {rec['skipped'] or 'none'}")
    if a.out != '-':
        tag = (rec['machine']['gpu'] or a.device).lower().replace(' ', '_')
        out = Path(a.out) if a.out else ROOT/'reports'/'records'/f"gpu_check_{tag}.json"
        out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(rec, indent=1, default=str) + '\n'); print('written', out)
    return rec

if __name__ == '__main__': main()
