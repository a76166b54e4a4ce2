"""DFM Table 7: training and inference throughput (FPS) and peak memory, DFM against PatchCore, in one run.

Each phase runs in its own child process so that its peak memory is its own (CUDA: `torch.cuda.max_memory_allocated`;
CPU: the child's peak RSS, which includes the Python/torch baseline). Timing needs no trained weights: images are
seeded random tensors, the memory is initialised from `--train` of them, and the backbone may be randomly initialised.

Phases:
  dfm_train        DFM two-stage training steps (stage 1 + stage 2, CutPaste), images processed per second
  dfm_infer        DFM forward (FMN: matrix operations, L = --memory rows)
  patchcore_fit    PatchCore feature extraction + greedy coreset (--ratio), images per second
  patchcore_infer  PatchCore forward (faiss k-NN over the coreset, b = 9 re-weighting)
  patchcore_L_infer PatchCore forward with the same L-row memory as DFM (num_neighbors=1)

Paper setting (GPU):  python benchmarks/dfm_speed.py --backbone clip_vitb16 --layers 6 --size 224 --patch 1 --device cuda
CPU check:            flock /tmp/adnb_heavy.lock python benchmarks/dfm_speed.py --size 256 --train 16 --iters 3
"""
import argparse, json, os, shlex, subprocess, sys, time
from pathlib import Path

PHASES = ('dfm_train', 'dfm_infer', 'patchcore_fit', 'patchcore_infer', 'patchcore_L_infer')

def args_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--backbone', default='efficientnet_lite0'); ap.add_argument('--layers', default='blocks.2,blocks.4')
    ap.add_argument('--weights', default='auto', help="auto (offline Lite0 weights) | random (timing only; ViTs offline)")
    ap.add_argument('--size', type=int, default=256); ap.add_argument('--patch', type=int, default=3, help='patch_size (1: raw tokens)')
    ap.add_argument('--memory', type=int, default=196); ap.add_argument('--ratio', type=float, default=0.1, help='PatchCore coreset ratio')
    ap.add_argument('--train', type=int, default=16, help='training images (memory init, PatchCore fit)')
    ap.add_argument('--batch', type=int, default=8); ap.add_argument('--iters', type=int, default=5); ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--device', default='cpu'); ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave)')
    ap.add_argument('--phase', default='', help=argparse.SUPPRESS); ap.add_argument('--out', default='', help='write the record (JSON) here')
    ap.add_argument('--note', default='')
    return ap

def _layers(s): return tuple(int(x) if x.isdigit() else x for x in s.split(','))

def _peak(device):
    import resource, torch
    if device.startswith('cuda'): return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def _sync(device):
    import torch
    if device.startswith('cuda'): torch.cuda.synchronize()

def run_phase(a)->dict:
    import torch
    from adnb.dfm import DFM, init_memory, fit_dfm
    from adnb.patchcore import PatchCore, fit_patchcore
    if a.threads: torch.set_num_threads(a.threads)
    dev, vit = a.device, 'vit' in a.backbone
    g = torch.Generator().manual_seed(0)
    X = torch.rand(a.train, 3, a.size, a.size, generator=g); xb = torch.rand(a.batch, 3, a.size, a.size, generator=g).to(dev)
    kw = dict(img_size=a.size) if vit else {}
    if a.phase.startswith('dfm'):
        m = DFM(a.backbone, _layers(a.layers), a.weights, memory_size=a.memory, patch_size=a.patch, **kw).to(dev)
        init_memory(m, X, dev)
    if a.phase == 'dfm_train':
        fit_dfm(m, X, epochs=1, steps=a.warmup, batch_size=a.batch, device=dev)          # warm-up steps
        if dev.startswith('cuda'): torch.cuda.reset_peak_memory_stats()
        _sync(dev); t0 = time.perf_counter()
        h = fit_dfm(m, X, epochs=1, steps=a.iters, batch_size=a.batch, device=dev); _sync(dev); dt = time.perf_counter() - t0
        n = a.iters * (min(a.batch, a.train) + a.batch + a.batch)   # stage 1 normals; stage 2 normals + CutPaste
        return dict(fps=n / dt, seconds=dt, images=n, peak_mem_mb=_peak(dev))
    if a.phase == 'patchcore_fit':
        pc = PatchCore(a.backbone, _layers(a.layers), a.weights, coreset_ratio=a.ratio, patch_size=a.patch).to(dev)
        if dev.startswith('cuda'): torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter(); info = fit_patchcore(pc, [dict(image=X[i:i + a.batch]) for i in range(0, a.train, a.batch)], dev, progress=False)
        return dict(fps=a.train / (time.perf_counter() - t0), seconds=info['fit_s'], bank=info['bank_size'], peak_mem_mb=_peak(dev))
    if a.phase == 'patchcore_infer':
        m = PatchCore(a.backbone, _layers(a.layers), a.weights, coreset_ratio=a.ratio, patch_size=a.patch, **({} if not vit else {})).to(dev)
        fit_patchcore(m, [dict(image=X[i:i + a.batch]) for i in range(0, a.train, a.batch)], dev, progress=False)
    if a.phase == 'patchcore_L_infer':
        d = DFM(a.backbone, _layers(a.layers), a.weights, memory_size=a.memory, patch_size=a.patch, **kw); init_memory(d, X)
        m = PatchCore(a.backbone, _layers(a.layers), a.weights, num_neighbors=1, patch_size=a.patch).to(dev)
        m.memory_bank = d.fmn.memory.detach().to(dev).contiguous(); del d
    with torch.no_grad():
        for _ in range(a.warmup): m(xb)
        if dev.startswith('cuda'): torch.cuda.reset_peak_memory_stats()
        _sync(dev); t0 = time.perf_counter()
        for _ in range(a.iters): m(xb)
        _sync(dev); dt = time.perf_counter() - t0
    return dict(fps=a.iters * a.batch / dt, ms_per_image=1e3 * dt / (a.iters * a.batch), peak_mem_mb=_peak(dev),
                bank=len(m.memory_bank) if hasattr(m, 'memory_bank') else len(m.fmn.memory))

def main():
    a = args_parser().parse_args()
    if a.phase: print(json.dumps(run_phase(a))); return
    out = dict(command='python ' + shlex.join(sys.argv), note=a.note, backbone=a.backbone, layers=a.layers, weights=a.weights, size=a.size,
               batch=a.batch, iters=a.iters, train_images=a.train, memory=a.memory, coreset_ratio=a.ratio, device=a.device, phases={})
    for ph in PHASES:
        cmd = [sys.executable, __file__, *sys.argv[1:], '--phase', ph]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: sys.exit(f"phase {ph} failed:\n{r.stderr[-2000:]}")
        out['phases'][ph] = json.loads(r.stdout.strip().splitlines()[-1]); print(ph, out['phases'][ph], flush=True)
    import torch, platform
    out['env'] = dict(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine(),
                      device_name=torch.cuda.get_device_name() if a.device.startswith('cuda') else platform.processor())
    if a.out: Path(a.out).write_text(json.dumps(out, indent=1)); print('wrote', a.out)

if __name__ == '__main__': main()
