"""AnomalyDINO parity: dammsi/AnomalyDINO (`src/`) and `adnb.anomalydino` on the same inputs.

    python benchmarks/parity/anomalydino.py --authors PATH

Components (their function, called from their checkout, vs ours):
- 1-NN cosine distance, end to end: their `src.detection.run_anomaly_detection` (faiss `IndexFlatL2` on
  L2-normalised features, ÷ 2) on a copy of the embedded puck category in their folder layout, with their DINOv2
  wrapper replaced by a shim that returns our EfficientNet-Lite0 features (no DINOv2 weights offline), vs
  `AnomalyDINO.forward` (faiss `IndexFlatIP`, 1 − ⟨q, m⟩): without masking, with PCA masking (their threshold 10 is
  hard-coded in `run_anomaly_detection`; the shim passes our Lite0 threshold 0 to their `compute_background_mask`),
  and with their 8 reference rotations;
- PCA masking alone: `DINOv2Wrapper.compute_background_mask` (sklearn randomized PCA, cv2 dilate + close on the
  flattened column) vs `pca_mask` (`morphology='raster'` and our default `'grid'`), on seeded DINOv2-shaped tokens
  (32×32×384, threshold 10) and on our Lite0 tokens (threshold 0);
- image score: `src.post_eval.mean_top1p` vs `top_frac_mean`;
- map: `src.utils.dists2map` (cv2 bilinear + scipy Gaussian σ = 4) vs `distance_map`."""
from __future__ import annotations
import argparse, os, sys, tempfile
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import authors_on_path, cpu_cuda_shims, diff, interior, row, write_record

REPO = 'dammsi/AnomalyDINO'
SIZE = 256

def layout(recs, root:Path, category:str)->Path:
    "The records as `<root>/<category>/train/good`, `test/<defect>` (symlinks), the folders `run_anomaly_detection` reads."
    for r in recs:
        d = root/category/r.split/r.defect; d.mkdir(parents=True, exist_ok=True)
        os.symlink(r.image, d/Path(r.image).name)
    return root

def shim_class(backbones, model):
    "Their DINOv2Wrapper with our feature extractor inside (their masking and visualisation methods kept)."
    from adnb.datasets import transform
    class Shim(backbones.DINOv2Wrapper):
        def __init__(self, threshold=None):
            self.device, self.half_precision, self.model_name, self.threshold = 'cpu', False, 'adnb-lite0', threshold
        def prepare_image(self, img):
            x, _ = transform(img, SIZE); return x[None], tuple(model.raw_features(x[None]).shape[1:3])
        def extract_features(self, x):
            with torch.no_grad(): return model.raw_features(x)[0].flatten(0, 1).numpy()
        def compute_background_mask(self, img_features, grid_size, threshold=10, masking_type=False, **kw):
            t = threshold if self.threshold is None else self.threshold          # run_anomaly_detection hard-codes 10
            return super().compute_background_mask(img_features, grid_size, t, masking_type, **kw)
    return Shim

def authors_run(det, shim, root, category, defects, masking, rotation):
    "run_anomaly_detection on CPU; returns {defect/name: (score, patch distances (h, w))}."
    with tempfile.TemporaryDirectory() as plots, cpu_cuda_shims():
        scores, _, _ = det.run_anomaly_detection(shim, category, str(root), -1, {category: list(defects)}, plots, masking=masking,
                                                 rotation=rotation, faiss_on_cpu=True, save_examples=False)
        out = {}
        for k, s in scores.items():
            t, n = k.split('/'); out[k] = (s, np.load(f'{plots}/anomaly_maps/seed=0/{category}/test/{t}/{Path(n).stem}.npy'))
    return out

def ours_run(model, train, test, masking, rotation):
    from adnb.anomalydino import fit_anomalydino
    fit_anomalydino(model, train, rotations=rotation, masking=masking)
    with torch.no_grad(): out = model(test)
    return out['score'], out['patch_scores']

def mask_rows(backbones, model, tokens_lite0)->list:
    "PCA masking alone on the same tokens."
    from adnb.anomalydino import pca_mask
    cbm = backbones.DINOv2Wrapper.compute_background_mask
    g = torch.Generator().manual_seed(0)
    t = torch.randn(32, 32, 384, generator=g); t[8:24, 10:22] += 3 * torch.randn(384, generator=g)   # an object on a background
    out = []
    for name, toks, thr in [('DINOv2-shaped tokens (32x32x384), threshold 10', t, 10.), ('Lite0 tokens of the 15 test images, threshold 0', tokens_lite0, 0.)]:
        toks = toks if toks.ndim == 4 else toks[None]
        theirs = np.stack([cbm(None, x.flatten(0, 1).numpy(), x.shape[:2], thr, True).reshape(x.shape[:2]) for x in toks])
        raster = np.stack([pca_mask(x, thr, morphology='raster').numpy() for x in toks])
        grid = np.stack([pca_mask(x, thr).numpy() for x in toks])
        agree = lambda a: dict(agreement=float((a == theirs).mean()), n_differ=int((a != theirs).sum()), n=int(theirs.size),
                               foreground_theirs=float(theirs.mean()))
        out += [row(f"PCA mask, {name}: pca_mask(morphology='raster')", **agree(raster),
                    note="compute_background_mask: sklearn PCA(1, randomized), first PC > threshold, flip if <= 35 % of the centre, cv2 dilate + close 3x3 on the (h·w, 1) column"),
                row(f"PCA mask, {name}: pca_mask(morphology='grid', our default)", **agree(grid),
                    note='ours dilates / closes on the 2-D grid (deliberate: the flattened column joins the end of one row to the start of the next)')]
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--authors', required=True, help='local checkout of dammsi/AnomalyDINO')
    ap.add_argument('--weights', default='auto')
    ap.add_argument('--out', default=None)
    a = ap.parse_args(argv)
    from adnb.datasets import load_records, split, make_loader
    from adnb.anomalydino import AnomalyDINO, top_frac_mean, distance_map
    cat = 'puck'; recs = load_records('embedded', cat); tr, te = split(recs, 'train'), split(recs, 'test')
    train = next(iter(make_loader(tr, SIZE, batch_size=64)))['image']; tb = next(iter(make_loader(te, SIZE, batch_size=64)))
    keys = [f'{r.defect}/{Path(r.image).name}' for r in te]
    model = AnomalyDINO('efficientnet_lite0', weights=a.weights, img_size=SIZE, mask_threshold=0., morphology='raster')
    rows = []
    with authors_on_path(a.authors), tempfile.TemporaryDirectory() as d:
        import src.detection as det, src.backbones as backbones, src.post_eval as post, src.utils as utils
        root = layout(recs, Path(d), cat)
        defects = sorted({r.defect for r in te if r.defect != 'good'})
        shim = shim_class(backbones, model)(threshold=0.)
        for masking, rotation, note in [(False, False, 'no masking, no rotation (bottle-like setting)'),
                                        (True, False, "PCA masking (threshold 0 on both sides, our morphology='raster'); masked patches score 0 on both sides"),
                                        (False, True, 'their 8 rotations: cv2.warpAffine of the original image (BORDER_REFLECT_101, centre (w/2, h/2)) vs ours on the resized tensor (rot90 / grid_sample)')]:
            th = authors_run(det, shim, root, cat, defects, masking, rotation)
            s, ps = ours_run(model, train, tb['image'], masking, rotation)
            ths = np.array([th[k][0] for k in keys]); thd = np.stack([th[k][1] for k in keys])
            tag = ('masking' if masking else '') + ('rotations' if rotation else '') or 'plain'
            rows += [row(f'1-NN cosine distance per patch ({tag})', **diff(ps, thd), note=note),
                     row(f'image score, mean of top 1 % ({tag})', **diff(s, ths), note='end to end: run_anomaly_detection scores vs AnomalyDINO.forward')]
        # the pieces alone, on our distances
        d0 = ps.flatten(1)
        rows.append(row('top-1 % mean: mean_top1p vs top_frac_mean (same distances)', **diff(top_frac_mean(d0), np.array([post.mean_top1p(x.numpy()) for x in d0])),
                        note=f'{d0.shape[1]} patches: the mean of the {max(1, int(d0.shape[1] * .01))} largest on both sides'))
        ours_map = distance_map(ps, (SIZE, SIZE)); theirs_map = np.stack([utils.dists2map(x.numpy().astype(np.float32), (SIZE, SIZE)) for x in ps])
        rows += [row('map: dists2map vs distance_map (same patch distances)', **diff(ours_map, theirs_map),
                     note='cv2.resize + scipy gaussian_filter (mode reflect = half-sample symmetric) vs F.interpolate + adnb.metrics.gaussian_blur (torch reflect = scipy mirror)'),
                 row('map, same, without a 16 px border', **diff(interior(ours_map, 16), interior(theirs_map, 16)), note='away from the border: float tolerance'),
                 row('map scale', note="their dists2map smooths at the original image size (900 px for MVTec bottle), ours at the model input (256 px here): not compared, a protocol difference")]
        with torch.no_grad(): toks = model.raw_features(tb['image'])
        rows += mask_rows(backbones, model, toks)
    note = (f"embedded puck ({len(tr)} references, {len(te)} test images) at {SIZE} px, Lite0 blocks.2 + blocks.4 ({a.weights} weights) on the "
            "32x32 grid, full-shot. Not compared: DINOv2 ViT-S/14 features and the 448 px preprocessing (no weights offline), faiss on GPU.")
    write_record('anomalydino', REPO, a.authors, rows, 'python benchmarks/parity/anomalydino.py --authors ../authors/AnomalyDINO', note, a.out)

if __name__ == '__main__': main()
