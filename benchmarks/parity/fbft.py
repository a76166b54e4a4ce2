"""FBFT parity: alex-costanzino/L2BT (`B_infer_VisA.py::infer`, `utils/metrics_utils.py`) and `adnb.fbft` / `adnb.metrics`.

    python benchmarks/parity/fbft.py --authors PATH

Components:
- inference distance + fusion: their `infer()` runs end to end on CPU with its DINOv2 teacher replaced by a stand-in
  returning seeded random tokens of the real shape (ViT-B/14 at 1036 px: 74×74×768; no DINOv2 weights offline) and
  their `FeatureProjectionMLP` students loaded from checkpoints that hold our students' weights; the grid map they
  build (ℓ2 between ℓ2-normalised features, product of the two directions) is read where it enters
  `F.interpolate`, and compared with `FBFT.transfer_errors` + `fuse`;
- smoothing: their 5×5 box ×5 then 7×7 box ×3 (`conv2d`, zero padding) at the padded original resolution vs
  `smooth(..., 'box')` (reflect padding), on the same upsampled map;
- image score: their top `int(0.001·H·W)` mean on the cropped map vs `top_mean` (`round`);
- AUPRO: their `calculate_au_pro` (99 thresholds) vs `adnb.metrics.aupro_convention(..., 'l2bt')` and the exact
  `aupro`, on masks of the embedded dataset (puck) with seeded maps; the quartile cuts (`np.quantile` of region sizes)."""
from __future__ import annotations
import argparse, importlib.util, sys, tempfile, types
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import authors_on_path, cpu_cuda_shims, recording, diff, interior, row, write_record

REPO = 'alex-costanzino/L2BT'
GRID, D, IMG = 74, 768, 1036

class Teacher(torch.nn.Module):
    "Stands in for their DINOv2 FeatureExtractor: image i (encoded in the input) -> fixed tokens (middle, last), (1, N, D)."
    patch_size, embed_dim = 14, D
    def __init__(self, tokens): super().__init__(); self.tokens = tokens
    def forward(self, x): i = int(x.flatten()[0]); return self.tokens[i]

def their_state(seq:torch.nn.Sequential)->dict:
    "Our student's weights under their FeatureProjectionMLP names (input, projection, output)."
    return {f'{n}.{p}': seq[i].state_dict()[p] for i, n in ((0, 'input'), (2, 'projection'), (4, 'output')) for p in ('weight', 'bias')}

def run_infer(path, tokens, s_f, s_b, gts, labels, max_hw):
    "Their infer() on the given tokens and students; returns the grid maps, upsampled maps, final maps, image scores, AUPRO calls."
    spec = importlib.util.spec_from_file_location('l2bt_infer', Path(path)/'B_infer_VisA.py')
    with authors_on_path(path), cpu_cuda_shims(), tempfile.TemporaryDirectory() as d:
        B = importlib.util.module_from_spec(spec); spec.loader.exec_module(B)
        a = types.SimpleNamespace(checkpoint_folder=d, qualitative_folder=d, quantitative_folder=d + '/q', visualize_plot=False,
                                  produce_qualitatives=False, dataset_path=d, class_name='parity', epochs_no=50, img_size=IMG,
                                  batch_size=4, label='adnb')
        Path(d, 'parity').mkdir()
        for name, s in (('forward', s_f), ('backward', s_b)):
            torch.save(their_state(s), f'{d}/parity/{name}_net_adnb_parity_50ep_4bs.pth')
        loader = [(torch.full((1, 3, 1, 1), float(i)), torch.as_tensor(g, dtype=torch.float32)[None, None], torch.tensor([l]), [f'{d}/x/t/{i}.png'])
                  for i, (g, l) in enumerate(zip(gts, labels))]
        B.get_data_loader = lambda *a_, **k: (loader, max_hw)
        B.FeatureExtractor = lambda layers: Teacher(tokens)
        with recording(F, 'interpolate') as up, recording(B, 'roc_auc_score', result=0.5) as auc, recording(B, 'calculate_au_pro') as pro:
            B.infer(a)
    grid = torch.cat([c[0][0] for c in up])[:, 0]                            # (n, 74, 74) product map handed to interpolate
    preds = pro[0][0][1]                                                      # the cropped, smoothed maps
    return dict(grid=grid, maps=[np.asarray(p) for p in preds], score=np.asarray(auc[1][0][1], np.float64).ravel())

def aupro_rows(calculate_au_pro, seed:int=0)->list:
    "Their 99-threshold AUPRO vs ours, on embedded masks with seeded maps."
    from adnb.datasets import load_records, split, read_mask, read_image
    from adnb.metrics import aupro, aupro_convention, region_sizes
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    te = split(load_records('embedded', 'puck'), 'test')
    masks = [read_mask(r, read_image(r.image).shape[:2]).astype(bool) for r in te]
    maps = [gaussian_filter(m.astype(np.float32), 3) + 0.3 * rng.random(m.shape).astype(np.float32) for m in masks]
    lims = [0.3, 0.1, 0.05, 0.01]
    theirs, _, weights = calculate_au_pro([m.astype(int) for m in masks], maps, integration_limit=lims, weighted=False)
    ours_l2bt = [aupro_convention(maps, masks, L, 'l2bt') for L in lims]; ours = [aupro(maps, masks, L) for L in lims]
    cuts_theirs = np.quantile(np.asarray(weights), [0.25, 0.5, 0.75]); cuts_ours = np.percentile(region_sizes(masks), [25, 50, 75])
    n = sum(int(m.any()) for m in masks)
    return [row("AUPRO@30/10/5/1 %: aupro_convention('l2bt') vs calculate_au_pro", **diff(ours_l2bt, theirs),
                note=f'{len(masks)} embedded puck test masks at 128 px ({n} with defects), maps = blurred mask + seeded noise'),
            row('AUPRO@30/10/5/1 %: exact aupro (our default) vs calculate_au_pro', **diff(ours, theirs),
                ours=[round(v, 4) for v in ours], theirs=[round(float(v), 4) for v in theirs],
                note='convention difference (deliberate: all thresholds vs 99 ranks of the normal-pixel scores); largest at small limits, where 99 thresholds leave few points'),
            row('size quartile cuts: np.percentile(region_sizes) vs their np.quantile(weights)', **diff(cuts_ours, cuts_theirs), note='regions 8-connected on both sides')]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--authors', required=True, help='local checkout of alex-costanzino/L2BT')
    ap.add_argument('--out', default=None)
    a = ap.parse_args(argv)
    from adnb.fbft import FBFT, student, fuse, smooth, top_mean
    g = torch.Generator().manual_seed(0)
    n, max_hw = 3, 1024                                                       # e.g. MVTec screw: 1024 px originals
    tokens = [(torch.randn(1, GRID * GRID, D, generator=g), torch.randn(1, GRID * GRID, D, generator=g)) for _ in range(n)]
    model = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random')   # a teacher is needed to build one; its students are replaced
    torch.manual_seed(0); model.s_f, model.s_b = student(D, D, D), student(D, D, D)
    gts = [np.zeros((max_hw, max_hw)), np.zeros((max_hw, max_hw)), np.zeros((700, max_hw))]
    gts[0][400:480, 500:560] = 1; gts[2][100:130, 200:300] = 1                # image 2: a non-square original (centre crop)
    th = run_infer(a.authors, tokens, model.s_f, model.s_b, gts, [1, 0, 1], max_hw)
    with torch.no_grad():
        fj = torch.cat([t[0] for t in tokens]).reshape(n, GRID, GRID, D); fk = torch.cat([t[1] for t in tokens]).reshape(n, GRID, GRID, D)
        grid = fuse(*model.transfer_errors(fj, fk), 'product')
    up = F.interpolate(th['grid'][:, None], size=(max_hw, max_hw), mode='bilinear', align_corners=False)[:, 0]
    ours_box = smooth(up, 'box')
    crop = lambda m, hw: m[(m.shape[0] - hw[0]) // 2:(m.shape[0] - hw[0]) // 2 + hw[0], (m.shape[1] - hw[1]) // 2:(m.shape[1] - hw[1]) // 2 + hw[1]]
    ours_maps = [crop(ours_box[i], gts[i].shape).numpy() for i in range(n)]
    full = lambda f: np.concatenate([f(o, t).ravel() for o, t in zip(ours_maps, th['maps'])])
    r = 2 * 5 + 3 * 3
    top = torch.stack([top_mean(torch.as_tensor(m)[None])[0] for m in th['maps']])
    K = [(int(m.size * 1e-3), max(1, round(1e-3 * m.size))) for m in th['maps']]
    rows = [row("inference distance + product fusion on the grid: transfer_errors + fuse vs infer()", **diff(grid, th['grid']),
                note=f"seeded tokens {GRID}x{GRID}x{D} (ViT-B/14 at {IMG} px), our students' weights in their FeatureProjectionMLP; ℓ2 of ℓ2-normalised features"),
            row("smoothing: smooth(..., 'box') vs their 5x5 x5 + 7x7 x3 conv2d, same upsampled map", **diff(full(lambda o, t: o), full(lambda o, t: t)),
                note=f'their conv2d pads with zeros (the map falls towards 0 within {r} px of the border); ours pads by reflection'),
            row(f'smoothing, same, without a {r} px border', **diff(full(lambda o, t: interior(o, r)), full(lambda o, t: interior(t, r))),
                note='away from the border: float tolerance'),
            row('image score: top_mean vs their top int(0.001·H·W) mean, same final maps', **diff(top, th['score']),
                k_theirs_ours=K, note='K = int(·) vs round(·): 1048 vs 1049 on 1024x1024; maps equal, so the difference is that one value'),
            row('image score, theirs vs ours end to end (box smoothing, same crop)', **diff(torch.stack([top_mean(torch.as_tensor(m)[None])[0] for m in ours_maps]), th['score']),
                note='our smoothing + top_mean on the same grid map; includes the border-padding difference')]
    with authors_on_path(a.authors):
        import utils.metrics_utils as mu
        rows += aupro_rows(mu.calculate_au_pro)
    note = ("Not compared: the DINOv2 ViT-B/14-reg teacher (`get_intermediate_layers(x, [7, 11])`, norm=True; no weights offline), "
            "their VisA loader (SquarePad edge, bicubic resize): the stand-in teacher feeds both sides the same tokens; "
            "training (A_train_VisA.py), whose loss is the cosine distance of our fit_fbft.")
    write_record('fbft', REPO, a.authors, rows, 'python benchmarks/parity/fbft.py --authors ../authors/L2BT', note, a.out)

if __name__ == '__main__': main()
