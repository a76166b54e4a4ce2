"""FBFT training memory at paper scale (DINOv2 ViT-B/14, random init, 1036 px -> 74x74 tokens).

Each mode runs in a fresh subprocess (peak RSS is a per-process high-water mark) and fits the students for one epoch
on N images after one warm-up teacher forward (`base`):
  old    the pre-streaming `fit_fbft`: a list of every image's features, then one `torch.cat` (2x the features at once)
  cpu    `fit_fbft(cache='cpu')`:  features held once in CPU memory, one batch moved to the device per step
  disk   `fit_fbft(cache='disk')`: features in a float16 memmap, one batch read per step
On CUDA the script reports peak CUDA memory (torch.cuda.max_memory_allocated); on CPU the process's peak RSS.
    flock /tmp/adnb_heavy.lock python benchmarks/fbft_memory.py --n 3
"""
import argparse, json, resource, subprocess, sys, time
import torch

def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def peak_mb(dev):
    return torch.cuda.max_memory_allocated() / 2**20 if dev.startswith('cuda') else rss_mb()

def old_fit(model, loader, device, batch_size=4096, seed=0):
    "The pre-streaming collection (list of features + cat, all on `device`), then one epoch of the same updates."
    from adnb.fbft import patch_distance
    pairs = [model.pair(b['image'].to(device)) for b in loader]
    Fj = torch.cat([p[0].flatten(0, 2) for p in pairs]); Fk = torch.cat([p[1].flatten(0, 2) for p in pairs])
    opt = torch.optim.Adam([*model.s_f.parameters(), *model.s_b.parameters()], lr=1e-3)
    perm = torch.randperm(len(Fj), generator=torch.Generator().manual_seed(seed)).to(Fj.device)
    for s in range(0, len(Fj), batch_size):
        i = perm[s:s + batch_size]
        loss = patch_distance(model.s_b(Fk[i]), Fj[i], 'cosine').mean() + patch_distance(model.s_f(Fj[i]), Fk[i], 'cosine').mean()
        opt.zero_grad(); loss.backward(); opt.step()
    return len(Fj)

def one(mode, n, size, device):
    from adnb.fbft import FBFT, fit_fbft
    torch.manual_seed(0)
    m = FBFT('dinov2_vitb14', (8, 12), weights='random', img_size=size).to(device)
    imgs = [dict(image=torch.rand(1, 3, size, size)) for _ in range(n)]
    m.pair(imgs[0]['image'].to(device))                                    # warm-up: teacher activations set the base
    base = peak_mb(device); t0 = time.perf_counter()
    if mode == 'old': P = old_fit(m, imgs, device)
    else: P = fit_fbft(m, imgs, epochs=1, device=device, progress=False, cache=mode)['n_patches']
    return dict(mode=mode, n_images=n, patches=P, base_mb=round(base), peak_mb=round(peak_mb(device)),
                above_base_mb=round(peak_mb(device) - base), seconds=round(time.perf_counter() - t0, 1))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=3); ap.add_argument('--size', type=int, default=1036)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--modes', default='old,cpu,disk'); ap.add_argument('--one', default='')
    a = ap.parse_args()
    if a.one: print(json.dumps(one(a.one, a.n, a.size, a.device))); return
    g = a.size // 14; per_img = g * g * (768 + 768) * 4 / 2**20
    print(f"device {a.device}, torch {torch.__version__}, threads {torch.get_num_threads()}; {a.size} px -> {g}x{g} tokens, "
          f"features {per_img:.1f} MiB/image (float32, F_j + F_k)")
    for mode in a.modes.split(','):
        out = subprocess.run([sys.executable, __file__, '--one', mode, '--n', str(a.n), '--size', str(a.size), '--device', a.device],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"{mode:5s} N={r['n_images']} patches={r['patches']}: peak {'CUDA' if a.device.startswith('cuda') else 'RSS'} "
              f"{r['peak_mb']} MiB, {r['above_base_mb']} MiB above the teacher warm-up ({r['base_mb']} MiB), {r['seconds']} s")
    batch = 4096 * (768 + 768) * 4 / 2**20
    for N in (a.n, 209, 391):
        print(f"features for N={N}: held once {N*per_img/1024:.2f} GiB, old list+cat peak {2*N*per_img/1024:.2f} GiB; "
              f"streaming keeps on the device one batch of 4096 patches = {batch:.0f} MiB (+ teacher, students, Adam)")

if __name__ == '__main__': main()
