"""PatchCore parity: amazon-science/patchcore-inspection (`src/patchcore`) and `adnb.patchcore` on the same inputs.

    python benchmarks/parity/patchcore.py --authors PATH

Components (their function, called from their checkout, vs ours):
- greedy coreset: `GreedyCoresetSampler._compute_greedy_coreset_indices` (exact) and `ApproximateGreedyCoresetSampler`
  (their default: 10 random starting points, approximate initial distances) vs `greedy_coreset`, on the same projected
  features; and both full samplers with their own projections; overlap of the chosen indices and of the scores the
  two banks give;
- nearest-neighbour patch scores: `NearestNeighbourScorer(1, FaissNN)` vs `knn` (their scores are faiss `IndexFlatL2`
  distances, i.e. squared);
- image score: `PatchMaker.score` (max over patches; their code has no eq. 7 re-weighting) vs `PatchCore.patch_scores`
  with b = 1 and with eq. 7 (b = 9, our default);
- map: `RescaleSegmentor.convert_to_segmentation` (bilinear + scipy Gaussian σ = 4) vs `PatchCore.anomaly_map`;
- patch embedding: `PatchCore._embed` (unfold 3×3, MeanMapper, Aggregator) vs `patch_embed` at their 1024 / 1024
  dimensions, on WRN50-shaped random maps (layer2 512×28×28, layer3 1024×14×14: no WRN50 weights offline), border
  included;
- end to end from one Lite0 feature map: their embedding, scorer, image score and segmentor vs ours on the same coreset
  indices: image scores and the whole map, border included, for both of our border rules.

Inputs: EfficientNet-Lite0 blocks.2 + blocks.4 features (offline ImageNet weights) of the embedded dataset (puck, 16
train and 15 test images at 256 px), seeded random tensors for the embedding."""
from __future__ import annotations
import argparse, sys
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import authors_on_path, diff, overlap, interior, row, write_record, embedded_batches

REPO = 'amazon-science/patchcore-inspection'

def coreset_rows(pc_mod, E:torch.Tensor, Eq:torch.Tensor, ratio:float=0.1, seed:int=0)->list:
    "Coreset: exact greedy on the same projection, their approximate sampler, and the scores each bank gives."
    from adnb.patchcore import random_projection, greedy_coreset, knn
    S = pc_mod.sampler
    Z = random_projection(E, 128, seed); n = int(len(E) * ratio)      # their count: int(N·p)
    sub = Z[:4096]; ns = int(len(sub) * ratio)                         # their exact sampler builds the N×N matrix
    theirs_exact = S.GreedyCoresetSampler(ratio, 'cpu')._compute_greedy_coreset_indices(sub)
    D = torch.cdist(sub, sub); start = int(torch.norm(D, dim=1).argmax())   # their first pick (row-norm argmax)
    ours_exact = greedy_coreset(sub, ns, start)
    np.random.seed(seed); torch.manual_seed(seed)
    theirs_apx = torch.as_tensor(S.ApproximateGreedyCoresetSampler(ratio, 'cpu')._compute_greedy_coreset_indices(Z))
    start = int(torch.randint(len(E), (1,), generator=torch.Generator().manual_seed(seed)))
    ours = greedy_coreset(Z, n, start)
    np.random.seed(seed); torch.manual_seed(seed)                       # their run(): own nn.Linear projection
    theirs_run = S.ApproximateGreedyCoresetSampler(ratio, 'cpu').run(E)
    score = lambda bank: knn(bank, Eq, 1, False)[0][:, 0]
    s_ours, s_apx, s_run = score(E[ours]), score(E[theirs_apx]), score(theirs_run)
    cover = lambda idx: float(knn(Z[idx], Z, 1, False)[0].max())         # k-centre objective: largest distance to the bank
    return [
        row('coreset: exact greedy, same projection and start', **overlap(ours_exact, theirs_exact),
            note=f'GreedyCoresetSampler._compute_greedy_coreset_indices vs greedy_coreset on {len(sub)} projected patches, {ns} centres'),
        row('coreset: their approximate greedy (default) vs ours', **overlap(ours, theirs_apx),
            note=f"ApproximateGreedyCoresetSampler (10 starting points) vs exact greedy, same 128-d projection, {n} of {len(E)}; "
                 f"largest patch-to-bank distance (k-centre objective) ours {cover(ours):.3f}, theirs {cover(theirs_apx):.3f}"),
        row('coreset: scores of the two banks on test patches', **diff(s_ours, s_apx), rank_corr=float(np.corrcoef(s_ours.argsort().argsort(), s_apx.argsort().argsort())[0, 1]),
            note='nearest-bank distance of every test patch, bank = exact vs approximate coreset'),
        row("coreset: their run() (own nn.Linear projection) vs ours, scores", **diff(s_ours, s_run),
            note='their projection is a freshly initialised torch.nn.Linear(D, 128); ours a seeded Gaussian matrix'),
    ]

def scorer_rows(pc_mod, model, bank:torch.Tensor, emb:torch.Tensor)->list:
    "NN patch scores, image score, map."
    from adnb.patchcore import knn
    from adnb.metrics import gaussian_blur
    C = pc_mod.common
    B, h, w, D = emb.shape
    nn = C.NearestNeighbourScorer(1, C.FaissNN(False, 1)); nn.fit([bank.numpy()])
    s_theirs = nn.predict([emb.reshape(-1, D).numpy()])[0]             # (B·h·w,) mean over 1 neighbour of faiss L2 (squared)
    d_ours = knn(bank, emb.reshape(-1, D), 1, True)[0][:, 0]
    d_torch = knn(bank, emb.reshape(-1, D), 1, False)[0][:, 0]
    pm = pc_mod.patchcore.PatchMaker(3, 1)
    img_theirs = pm.score(pm.unpatch_scores(s_theirs, B).reshape(B, h * w, -1))
    model.memory_bank = bank; model.num_neighbors = 1
    ps1, img1 = model.patch_scores(emb)
    model.num_neighbors = 9; _, img9 = model.patch_scores(emb)
    seg = C.RescaleSegmentor('cpu', target_size=(256, 256)).convert_to_segmentation(s_theirs.reshape(B, h, w))
    ours_map = model.anomaly_map(torch.as_tensor(s_theirs.reshape(B, h, w)).float(), (256, 256))
    r = int(4 * model.sigma + .5)
    return [
        row('NN patch score: knn (faiss) squared vs NearestNeighbourScorer', **diff(d_ours**2, s_theirs),
            note='their scores are faiss IndexFlatL2 outputs, squared L2 distances; ours take the square root'),
        row('NN patch score: knn (torch.cdist) squared vs NearestNeighbourScorer', **diff(d_torch**2, s_theirs), note='our no-faiss path'),
        row('NN patch score: ours (distance) vs theirs (squared distance)', **diff(d_ours, s_theirs),
            note='monotone per patch: image ranking by max is unchanged, smoothed maps are not the same function'),
        row('image score, b = 1 (plain max), squared', **diff(img1**2, img_theirs), note='PatchMaker.score: max over patches'),
        row('image score, eq. 7 re-weighting (b = 9, our default) vs their max', **diff(img9, np.sqrt(img_theirs)),
            rank_corr=float(np.corrcoef(img9.argsort().argsort(), np.sqrt(img_theirs).argsort().argsort())[0, 1]),
            note="their code omits eq. 7 (image score = max patch distance); ours multiplies s* by 1 − softmax weight (deliberate: the paper's eq. 7)"),
        row('map: upsampling + Gaussian σ=4 on the same patch scores, whole map (border included)', **diff(ours_map, np.stack(seg)),
            note="F.interpolate + scipy gaussian_filter (mode 'reflect' = half-sample symmetric) vs F.interpolate + adnb.metrics.gaussian_blur "
                 "with map_border='symmetric' (PatchCore's default)"),
        row(f'map, same, without a {r} px border', **diff(interior(ours_map, r), interior(np.stack(seg), r)), note='away from the border'),
        row("map, whole, with map_border='reflect' (torch's reflect = scipy's 'mirror'; before 2026-12-07)",
            **diff(gaussian_blur(torch.nn.functional.interpolate(torch.as_tensor(s_theirs.reshape(B, h, w)).float()[:, None], size=(256, 256),
                                                                  mode='bilinear', align_corners=False)[:, 0], model.sigma, 'reflect'), np.stack(seg)),
            note='the other border rule, for reference: differs only within 4σ of the border'),
    ]

class _Maps(torch.nn.Module):
    "Stands in for their NetworkFeatureAggregator: returns fixed feature maps."
    def __init__(self, maps): super().__init__(); self.maps = maps
    def forward(self, images): return dict(self.maps)

def their_embed(pc_mod, maps:dict, pre:int, tgt:int)->torch.Tensor:
    "Their PatchCore._embed on given maps (our stand-in for the feature aggregator), as (B, h, w, tgt) on the first map's grid."
    P = pc_mod.patchcore.PatchCore('cpu')
    P.layers_to_extract_from, P.patch_maker = list(maps), pc_mod.patchcore.PatchMaker(3, 1)
    P.forward_modules = torch.nn.ModuleDict(dict(feature_aggregator=_Maps(maps),
                                                  preprocessing=pc_mod.common.Preprocessing([m.shape[1] for m in maps.values()], pre),
                                                  preadapt_aggregator=pc_mod.common.Aggregator(tgt)))
    B, _, h, w = next(iter(maps.values())).shape
    return torch.as_tensor(np.asarray(P._embed(torch.zeros(B, 3, 8 * h, 8 * w)))).reshape(B, h, w, tgt)

def embedding_rows(pc_mod, seed:int=0)->list:
    "Their PatchCore._embed vs patch_embed on WRN50-shaped random maps."
    from adnb.patchcore import patch_embed
    g = torch.Generator().manual_seed(seed)
    maps = {'layer2': torch.rand(2, 512, 28, 28, generator=g), 'layer3': torch.rand(2, 1024, 14, 14, generator=g)}
    cases = [('patch embedding, layer2 + layer3, pre/target 1024/1024 (their WRN50 setting)', maps, 1024, 1024,
              "their MeanMapper pools layer2's 512·9 unfolded values to 1024 (windows of 4.5 values across channel and position); "
              "ours takes the 3×3 mean per channel, then 512 -> 1024 repeats each channel"),
             ('patch embedding, layer3 alone, 1024/1024', {'layer3': maps['layer3']}, 1024, 1024, 'C·9 -> C: the 3×3 mean per channel on both sides'),
             ('patch embedding, layer2 alone, 512/512', {'layer2': maps['layer2']}, 512, 512, 'C·9 -> C: the 3×3 mean per channel on both sides')]
    out = []
    for name, m, pre, tgt, note in cases:
        th, ours = their_embed(pc_mod, m, pre, tgt), patch_embed(m, 3, pre, tgt)
        out.append(row(name, **diff(ours, th), note=note))
        out.append(row(name + ', interior', **diff(interior(ours.permute(0, 3, 1, 2), 1), interior(th.permute(0, 3, 1, 2), 1)),
                       note='away from the outermost ring of patches'))
    th, ex = their_embed(pc_mod, {'layer3': maps['layer3']}, 1024, 1024), patch_embed({'layer3': maps['layer3']}, 3, 1024, 1024, pad='exclude')
    out.append(row("patch embedding, layer3 alone, pad='exclude' (real neighbours only; our rule before 2026-12-07)", **diff(ex, th),
                   note="their unfold zero-pads and counts the zeros, as pad='zeros' (our default) does; 'exclude' differs on the outermost ring"))
    return out

def pipeline_rows(pc_mod, model, x_train, x_test, ratio:float=0.1)->list:
    "End to end from the same Lite0 feature map (blocks.4): their _embed + NearestNeighbourScorer + PatchMaker.score + RescaleSegmentor vs ours."
    from adnb.patchcore import patch_embed, random_projection, greedy_coreset
    C = pc_mod.common
    with torch.no_grad(): ft, fq = model.features(x_train)['blocks.4'], model.features(x_test)['blocks.4']
    D = ft.shape[1]
    th_tr, th_te = their_embed(pc_mod, {'b4': ft}, D, D), their_embed(pc_mod, {'b4': fq}, D, D)
    out = []
    for pad in ('zeros', 'exclude'):
        o_tr, o_te = patch_embed({'b4': ft}, 3, pad=pad), patch_embed({'b4': fq}, 3, pad=pad)
        Z = random_projection(o_tr.flatten(0, 2), 128, 0); n = int(round(len(Z) * ratio))
        idx = greedy_coreset(Z, n, int(torch.randint(len(Z), (1,), generator=torch.Generator().manual_seed(0))))
        B, h, w, _ = o_te.shape
        nn = C.NearestNeighbourScorer(1, C.FaissNN(False, 1)); nn.fit([th_tr.flatten(0, 2)[idx].numpy()])
        s_th = nn.predict([th_te.reshape(-1, D).numpy()])[0].reshape(B, h, w)
        pm = pc_mod.patchcore.PatchMaker(3, 1)
        img_th = np.asarray(pm.score(s_th.reshape(B, h * w, 1)))
        seg = np.stack(C.RescaleSegmentor('cpu', target_size=tuple(x_test.shape[-2:])).convert_to_segmentation(s_th))
        model.memory_bank = o_tr.flatten(0, 2)[idx].contiguous(); model.num_neighbors = 1
        ps, img = model.patch_scores(o_te)
        ours_map = model.anomaly_map(ps**2, tuple(x_test.shape[-2:]))      # their map smooths squared distances
        ring = lambda S: float(np.mean([(lambda i: i // w in (0, h - 1) or i % w in (0, w - 1))(int(np.argmax(m))) for m in np.asarray(S).reshape(B, -1)]))
        tag = "pad='zeros' (our default)" if pad == 'zeros' else "pad='exclude' (our rule before 2026-12-07)"
        out += [row(f'end to end, image scores (b = 1, squared), {tag}', **diff(img**2, img_th),
                    rank_corr=float(np.corrcoef(np.asarray(img).argsort().argsort(), img_th.argsort().argsort())[0, 1]),
                    ours_border_max_share=ring(ps), theirs_border_max_share=ring(s_th),
                    note=f'same Lite0 blocks.4 maps of the embedded puck, same coreset indices ({n} of {len(Z)}); their _embed (zero-padded unfold + MeanMapper {D}) '
                         f'and max over patches vs ours; *_border_max_share: share of test images whose maximum patch lies on the outermost ring'),
                row(f'end to end, whole map (border included), {tag}', **diff(ours_map, seg),
                    note='their RescaleSegmentor (bilinear + scipy gaussian_filter σ 4) vs PatchCore.anomaly_map on squared distances')]
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--authors', required=True, help='local checkout of amazon-science/patchcore-inspection')
    ap.add_argument('--weights', default='auto')
    ap.add_argument('--out', default=None)
    a = ap.parse_args(argv)
    from adnb.patchcore import PatchCore
    model = PatchCore('efficientnet_lite0', ('blocks.2', 'blocks.4'), a.weights, coreset_ratio=0.1, use_faiss=True)
    with torch.no_grad():
        E = model.embed(embedded_batches('puck', 'train', 256)['image']).flatten(0, 2)
        emb = model.embed(embedded_batches('puck', 'test', 256)['image'])
    with authors_on_path(a.authors, 'src'):
        import patchcore.sampler, patchcore.common, patchcore.patchcore
        import patchcore as pc_mod
        rows = coreset_rows(pc_mod, E, emb.flatten(0, 2))
        from adnb.patchcore import random_projection, greedy_coreset
        Z = random_projection(E, 128, 0); start = int(torch.randint(len(E), (1,), generator=torch.Generator().manual_seed(0)))
        bank = E[greedy_coreset(Z, int(round(len(E) * .1)), start)].contiguous()
        rows += scorer_rows(pc_mod, model, bank, emb)
        rows += embedding_rows(pc_mod)
        rows += pipeline_rows(pc_mod, model, embedded_batches('puck', 'train', 256)['image'], embedded_batches('puck', 'test', 256)['image'])
    note = (f"embedded puck at 256 px, Lite0 blocks.2 + blocks.4 ({a.weights} weights): {len(E)} train patches x {E.shape[1]} dims, "
            f"{emb.shape[0]} test images ({emb.shape[1]}x{emb.shape[2]} patches). Not compared: their backbone loading "
            "(torchvision WRN50 with downloaded weights) and faiss on GPU.")
    write_record('patchcore', REPO, a.authors, rows, 'python benchmarks/parity/patchcore.py --authors ../authors/patchcore-inspection', note, a.out)

if __name__ == '__main__': main()
