"""ADPretrain pretraining throughput (images/s) and peak memory at the paper's setting.

Paper setting (§4.1, App. D): DINOv2-B (`dinov2_vitb14`) blocks 3/6/9/12, 224 px, batch 32, N_r = 2048, bf16 on GPUs
that support it. Weights: random (`--weights random`, the only ones offline); throughput does not depend on them.
Data: the embedded dataset's textures (written to a temp folder), with CutPaste/Perlin anomalies, as in our runs.

GPU (the measurement the issue asks for; not run in the session that wrote this script, no GPU was lent):
    python benchmarks/adpretrain_throughput.py --device cuda --steps 20 --out reports/records/adpretrain_throughput_gpu.json
CPU (small, recorded: Lite0 at the same batch / image size, or the ViT with a small batch):
    flock /tmp/adnb_heavy.lock python benchmarks/adpretrain_throughput.py --device cpu --backbone efficientnet_lite0 \\
        --layers blocks.2 blocks.4 --batch 8 --steps 3 --out reports/records/adpretrain_throughput_cpu.json

Images/s counts query images per optimisation step (each is seen in two views); the first `--warmup` steps (cuDNN
autotuning, allocator growth) are excluded. The one-off setup (decoding, reference-pool features, centres) is reported
separately. Peak memory: `torch.cuda.max_memory_allocated` on GPU, max RSS of the process on CPU.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
import torch

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--backbone', default='dinov2_vitb14'); ap.add_argument('--layers', nargs='+', default=['3', '6', '9', '12'])
    ap.add_argument('--weights', default='random'); ap.add_argument('--image-size', type=int, default=224)
    ap.add_argument('--batch', type=int, default=32); ap.add_argument('--n-ref', type=int, default=2048)
    ap.add_argument('--steps', type=int, default=20); ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--max-anchors', type=int, default=0, help='0: every position (paper)')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--out', default=''); ap.add_argument('--note', default='')
    a = ap.parse_args(argv)
    from adnb.adpretrain import ADPretrain, pretrain, _bf16
    from adnb.datasets import make_embedded, mvtec_records, EMBEDDED_CATEGORIES
    from adnb.metrics import peak_memory_mb
    from adnb.experiment import env_info
    layers = [int(l) if l.isdigit() else l for l in a.layers]
    vit = all(isinstance(l, int) for l in layers)
    root = make_embedded(Path(tempfile.gettempdir())/'adnb_adpretrain_bench')
    recs = [r for c in EMBEDDED_CATEGORIES for r in mvtec_records(root, c, 'embedded')]
    model = ADPretrain(a.backbone, layers, a.weights, img_size=a.image_size if vit else None, n_ref=a.n_ref)
    if a.device.startswith('cuda'): torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    n = a.warmup + a.steps
    # two runs with the same setup: `warmup` steps, then `warmup + steps` steps; the difference is the timed steps
    times = {}
    for k in (a.warmup, n):
        if a.device.startswith('cuda'): torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        h = pretrain(model, recs, 'bottle', epochs=100, batch_size=a.batch, image_size=a.image_size, crop=None, max_steps=k,
                     max_anchors=a.max_anchors or None, device=a.device, progress=False)
        if a.device.startswith('cuda'): torch.cuda.synchronize()
        times[k] = (time.perf_counter() - t0, h['images'])
    dt, di = times[n][0] - times[a.warmup][0], times[n][1] - times[a.warmup][1]
    rec = dict(benchmark='adpretrain_throughput', command='python ' + ' '.join([sys.argv[0], *(argv or sys.argv[1:])]), note=a.note,
               backbone=a.backbone, layers=layers, weights=a.weights, image_size=a.image_size, batch=a.batch, n_ref=a.n_ref,
               max_anchors=a.max_anchors or None, bf16=_bf16(a.device), timed_steps=a.steps, timed_images=di,
               images_per_s=di / dt if dt > 0 else None, s_per_step=dt / a.steps, setup_and_warmup_s=times[a.warmup][0],
               peak_mem_mb=peak_memory_mb(a.device), env=env_info(a.device))
    print(json.dumps(rec, indent=1))
    if a.out: Path(a.out).write_text(json.dumps(rec, indent=1))
    return rec

if __name__ == '__main__': main()
