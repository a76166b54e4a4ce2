"""Our side of every parity case in benchmarks/parity/{patchcore,fapm,fbft,anomalydino,ucad,adpretrain}.py at tiny size, with hand-computed
values, plus the scripts' own adapters; the comparison with the authors' code needs their checkout and runs as a `slow`
test only when it is present (`ADNB_AUTHORS`, default `../authors` beside the repository)."""
import importlib.util, json, math, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
PARITY = ROOT/'benchmarks'/'parity'

def script(name):
    "A parity script as a module (its `_common` import resolves from benchmarks/parity)."
    sys.path.insert(0, str(PARITY))
    try:
        spec = importlib.util.spec_from_file_location(f'parity_{name}', PARITY/f'{name}.py')
        m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m
    finally: sys.path.remove(str(PARITY))

# --- _common

def test_common_diff_overlap_interior():
    c = script('_common')
    d = c.diff(np.array([1., 2.]), np.array([1., 4.]))
    assert d['max_abs'] == 2. and d['max_rel'] == 0.5 and d['shape'] == [2]
    assert c.diff(np.zeros(2), np.zeros(3))['max_abs'] is None
    o = c.overlap([0, 1, 2, 3], [3, 2, 9, 8])
    assert o['overlap'] == 0.5 and not o['same_order']
    assert c.interior(np.zeros((2, 10, 12)), 2).shape == (2, 6, 8)

def test_common_shims_restore():
    c = script('_common')
    before = torch.Tensor.cuda, torch.cuda.Event
    with c.cpu_cuda_shims():
        x = torch.ones(2); assert x.cuda() is x
        e = torch.cuda.Event(enable_timing=True); e.record(); assert e.elapsed_time(e) == 0.
    assert (torch.Tensor.cuda, torch.cuda.Event) == before
    ns = type('NS', (), {'f': staticmethod(lambda a: a + 1)})
    with c.recording(ns, 'f') as calls: assert ns.f(2) == 3
    with c.recording(ns, 'f', result=0) as calls2: assert ns.f(5) == 0
    assert calls[0][0] == (2,) and calls2[0][0] == (5,) and ns.f(1) == 2

def test_common_authors_on_path_and_record(tmp_path, capsys):
    c = script('_common')
    (tmp_path/'theirmod_parity.py').write_text('X = 41 + 1\n')
    with c.authors_on_path(tmp_path):
        import theirmod_parity; assert theirmod_parity.X == 42
    assert 'theirmod_parity' not in sys.modules and str(tmp_path) not in sys.path     # forgotten after
    rows = [c.row('a', **c.diff(np.ones(3), np.ones(3)), note='equal'), c.row('b', **c.overlap([1, 2], [2, 1]))]
    p = c.write_record('toy', 'owner/name', tmp_path, rows, 'python x.py', 'n', out=tmp_path/'r.json')
    rec = json.loads(p.read_text())
    assert rec['authors_commit'] == 'unknown' and rec['rows'][0]['max_abs'] == 0. and rec['rows'][1]['overlap'] == 1.
    assert 'a  max_abs=0' in capsys.readouterr().out

# --- PatchCore

def test_patchcore_greedy_hand():
    from adnb.patchcore import greedy_coreset
    Z = torch.tensor([[0.], [1.], [2.], [10.]])
    assert greedy_coreset(Z, 3, 0).tolist() == [0, 3, 2]      # farthest from {0} is 10, then 2 (distance 2 > 1)

def test_patchcore_knn_squared_and_scores():
    from adnb.patchcore import knn, PatchCore
    bank = torch.tensor([[0., 0.], [3., 4.]])
    d, i = knn(bank, torch.tensor([[0., 0.], [6., 8.]]), 1, use_faiss=False)
    assert torch.allclose(d[:, 0]**2, torch.tensor([0., 25.])) and i[:, 0].tolist() == [0, 1]   # the authors' scores are these squares
    pc = PatchCore(weights='random', num_neighbors=1, use_faiss=False)
    pc.memory_bank = torch.tensor([[0.], [1.], [3.]])
    emb = torch.tensor([2.5, 0.2]).reshape(1, 1, 2, 1)
    ps, s = pc.patch_scores(emb)
    assert torch.allclose(ps[0, 0], torch.tensor([0.5, 0.2])) and torch.isclose(s[0], torch.tensor(0.5))   # plain max (their PatchMaker.score)
    pc.num_neighbors = 2; _, s7 = pc.patch_scores(emb)
    w = 1 - 1 / (1 + math.e)                                   # m* = 3, N_b = {3, 1}: distances 0.5, 1.5 from 2.5
    assert torch.isclose(s7[0], torch.tensor(w * 0.5))
    test_d, _ = knn(pc.memory_bank, torch.tensor([[2.5]]), 2, use_faiss=True)   # faiss path (main's reused index): same distances
    assert torch.allclose(test_d[0], torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match='width 1'): knn(pc.memory_bank, torch.zeros(1, 2), 1)

def test_patchcore_map_constant_and_scipy_interior():
    from scipy.ndimage import gaussian_filter
    from adnb.patchcore import PatchCore
    pc = PatchCore(weights='random', use_faiss=False)
    m = pc.anomaly_map(torch.full((2, 4, 4), 3.), (32, 32))     # 32 px: the σ = 4 kernel (radius 16) fits the reflection
    assert m.shape == (2, 32, 32) and torch.allclose(m, torch.full_like(m, 3.))
    ps = torch.rand(1, 6, 6, generator=torch.Generator().manual_seed(0))
    ours = pc.anomaly_map(ps, (48, 48))[0].numpy()             # the script's map row: F.interpolate + scipy σ = 4 (theirs)
    theirs = gaussian_filter(F.interpolate(ps[:, None], size=(48, 48), mode='bilinear', align_corners=False)[0, 0].numpy(), 4)
    assert np.abs(ours - theirs).max() < 1e-5                  # the default border is scipy's: equal on the whole map
    old = PatchCore(weights='random', use_faiss=False, map_border='reflect').anomaly_map(ps, (48, 48))[0].numpy()
    assert np.abs(old - theirs)[16:-16, 16:-16].max() < 1e-5 and np.abs(old - theirs).max() > 1e-4   # torch's reflect: equal inside only

def test_patchcore_embed_border_and_script_adapter():
    from adnb.patchcore import patch_embed
    e = patch_embed({'a': torch.ones(1, 2, 5, 5)}, 3)          # default pad='zeros': the padding zeros count (their unfold + mean)
    assert e.shape == (1, 5, 5, 2) and e[0, 0, 0, 0].item() == pytest.approx(4 / 9) and e[0, 0, 1, 0].item() == pytest.approx(6 / 9)
    ex = patch_embed({'a': torch.ones(1, 2, 5, 5)}, 3, pad='exclude')
    assert torch.allclose(ex, torch.ones_like(ex))                            # pad='exclude': real neighbours only, corner 1
    x = torch.rand(2, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(patch_embed({'a': x}, 3).permute(0, 3, 1, 2), torch.nn.AvgPool2d(3, 1, 1)(x), atol=1e-6)   # whole map, border included
    e2 = patch_embed({'a': x}, 3, 3, 6)                                        # channel pooling up: each channel repeated
    assert e2.shape == (2, 6, 7, 6) and torch.allclose(e2[..., 0], e2[..., 1])
    pc = script('patchcore'); maps = pc._Maps({'x': torch.zeros(1)})
    assert list(maps(None)) == ['x']

# --- FAPM

def test_fapm_reweighted_hand():
    from adnb.fapm import reweighted_score
    fused = torch.zeros(1, 2, 2, 2); fused[0, 1, 0] = torch.tensor([1., 1 + math.log(3)])   # softmax (1/4, 3/4)
    assert torch.isclose(reweighted_score(fused, fused[..., 0]), torch.tensor([0.25]))

def test_fapm_authors_coarse_order_hand():
    f = script('fapm')
    coarse = torch.arange(4.).reshape(1, 2, 2, 1)              # one 32 px cell: 2x2 coarse, 4x4 fine positions
    assert f.spatial_nearest(coarse)[0, ..., 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert f.authors_coarse_order(coarse)[0, ..., 0].tolist() == [[0] * 4, [1] * 4, [2] * 4, [3] * 4]   # fine (py, px) <- coarse (py//2, py%2)
    big = torch.arange(14 * 14.).reshape(1, 14, 14, 1)
    assert f.authors_coarse_order(big).shape == (1, 28, 28, 1)

def test_fapm_exp_regimes_and_memory_layout():
    f = script('fapm')
    nb = torch.tensor([[1., 2., 3., 4.], [89., 1., 1., 1.], [88., 88., 88., 88.]])
    assert f.exp_regimes(nb).tolist() == ['exact', 'nan', 'w=1']   # 88 + ln 4 > ln(float32 max) = 88.72
    from adnb.fapm import FAPM
    m = FAPM(weights='random', layers=('blocks.2', 'blocks.4'))
    for i, cnt in enumerate(([2, 3], [1, 1])):
        setattr(m, f'bank{i}', torch.arange(2 * 3 * 2.).reshape(2, 3, 2)); setattr(m, f'count{i}', torch.tensor(cnt))
    d = f.memory_dict(m)
    assert d['fn_selector_f'].tolist() == [False, True] and d['final_near_core_f'].shape == (2, 2, 2)
    assert d['final_far_core_f'].shape == (2, 3, 2) and d['final_far_core_f'][0].abs().sum() == 0
    assert torch.equal(d['final_far_core_f'][1], m.bank0[1]) and not d['fn_selector_c'].any()

def test_fapm_fuse_layers_is_spatial_nearest_and_test_py_float32():
    from adnb.fapm import fuse_layers
    f = script('fapm')
    fine, coarse = torch.rand(1, 4, 4, 2), torch.arange(8.).reshape(1, 2, 2, 2)
    assert torch.equal(fuse_layers([fine, coarse], [1., 1.], (4, 4)), fine + f.spatial_nearest(coarse))   # ours: the spatial neighbour
    nb = torch.tensor([[1., 1., 1., 1.], [0., 0., 0., 89.], [88., 88., 88., 88.]])
    with np.errstate(invalid='ignore'): s = f.test_py_float32(nb, torch.tensor([2., 5., 7.]))
    assert s[0] == pytest.approx(1.5) and np.isnan(s[1]) and s[2] == 7.           # w = 3/4; inf/inf; the sum overflows: w = 1
    d = f.finite_diff([1., 2., 3.], [1., np.nan, 3.5])
    assert d['max_abs'] == .5 and d['n_nan_theirs'] == 1 and d['n'] == 3
    assert f.by_label([1., 2., 3., 10.], np.array([0, 0, 1, 1]))['defective']['median'] == 6.5
    assert f._auroc(np.array([0, 1]), [0., 1.]) == 1. and f._auroc(np.array([0, 1]), [0., np.nan]).startswith('undefined (1 of 2')

def test_fapm_ours_side_tiny():
    "run_ours and image_score_diagnostic on a 64 px random-weight FAPM: the script's own pieces agree with the model."
    from adnb.fapm import FAPM, fit_fapm, reweighted_score
    f = script('fapm'); torch.manual_seed(0)
    m = FAPM(weights='random', layers=('blocks.2', 'blocks.4'), ratio=.5, k=4, use_faiss=False)
    fit_fapm(m, [dict(image=torch.rand(3, 3, 64, 64))])
    batch = dict(image=torch.rand(4, 3, 64, 64), label=torch.tensor([0, 0, 1, 1]))
    us = f.run_ours(m, batch)
    assert us['fused'].shape == (4, 8, 8, 4) and us['fused_authors'].shape == (4, 8, 8, 4) and m.image_score == 'reweight'
    assert torch.allclose(us['score'], reweighted_score(us['fused'], us['fused'][..., 0]))
    assert torch.allclose(us['s_star'], us['fused'][..., 0].flatten(1).max(1).values)
    m.image_score = 'max'; assert torch.allclose(m(batch['image'])['score'], us['s_star']); m.image_score = 'reweight'   # the option: s*
    d = f.image_score_diagnostic(m, batch)
    assert d['n'] == 4 and sum(d['test_py_exp'].values()) == 4 and len(d['image_auroc']) == 8
    assert d['per_label']['w']['good']['median'] <= 1.

# --- FBFT

def test_fbft_distance_fusion_smoothing_topk():
    from adnb.fbft import patch_distance, fuse, smooth, top_mean, student
    a, b = torch.tensor([[2., 0.]]), torch.tensor([[0., 5.]])
    d = patch_distance(a, b)                                    # ℓ2 of unit vectors (L2BT): √2
    assert torch.isclose(d, torch.tensor([math.sqrt(2)])) and torch.isclose(fuse(d, d), torch.tensor([2.]))
    c = smooth(torch.full((1, 30, 30), 2.), 'box'); assert torch.allclose(c, torch.full_like(c, 2.))   # reflect padding keeps a constant
    m = torch.zeros(1, 1024, 1024); m.view(-1)[:1048] = 1.; m.view(-1)[1048] = .5
    assert torch.isclose(top_mean(m)[0], torch.tensor((1048 + .5) / 1049))   # round(1048.576) = 1049; L2BT's int() takes 1048 -> 1.0
    fb = script('fbft'); s = student(4, 4, 4); st = fb.their_state(s)
    assert sorted(st) == ['input.bias', 'input.weight', 'output.bias', 'output.weight', 'projection.bias', 'projection.weight']
    assert torch.equal(st['projection.weight'], s[2].weight)
    t = fb.Teacher([('a0', 'b0'), ('a1', 'b1')]); assert t(torch.full((1, 3, 1, 1), 1.)) == ('a1', 'b1')

def test_fbft_box_interior_equals_zero_padded():
    from adnb.fbft import smooth
    x = torch.rand(1, 60, 60, generator=torch.Generator().manual_seed(0))
    y = x[:, None]                                               # the L2BT form: conv2d with zero padding, 5x5 x5 then 7x7 x3
    for k, n in ((5, 5), (7, 3)):
        for _ in range(n): y = F.conv2d(y, torch.full((1, 1, k, k), 1 / k**2), padding=k // 2)
    ours, r = smooth(x, 'box'), 2 * 5 + 3 * 3
    assert torch.allclose(ours[:, r:-r, r:-r], y[:, 0, r:-r, r:-r], atol=1e-6) and (ours - y[:, 0]).abs().max() > .1
    c = F.conv2d(torch.ones(1, 1, 9, 9), torch.full((1, 1, 5, 5), 1 / 25), padding=2)
    assert c[0, 0, 0, 0].item() == pytest.approx(9 / 25)         # zero padding: a corner keeps 3x3 of 5x5

def test_fbft_aupro_l2bt_perfect_map():
    from adnb.metrics import aupro_convention
    mask = np.zeros((20, 20), bool); mask[5:9, 5:9] = True
    assert aupro_convention([mask.astype(float)], [mask], 0.3, 'l2bt') == pytest.approx(1.0)
    from adnb.metrics import region_sizes
    m2 = np.zeros((10, 10), bool); m2[0:2, 0:2] = True; m2[5:8, 5:9] = True; m2[2, 2] = True   # (2, 2) touches (1, 1) diagonally: 8-connected
    assert sorted(region_sizes([m2]).tolist()) == [5, 12]
    assert np.percentile(region_sizes([m2, mask]), [25, 50, 75]).tolist() == pytest.approx(np.quantile([5, 12, 16], [.25, .5, .75]).tolist())

# --- AnomalyDINO

def test_anomalydino_cosine_topk_mask_map():
    from adnb.anomalydino import nn_cosine, top_frac_mean, pca_mask, distance_map
    bank = F.normalize(torch.tensor([[1., 0.], [0., 1.]]), dim=1)
    d, i = nn_cosine(bank, F.normalize(torch.tensor([[1., 1.]]), dim=1), use_faiss=False)
    assert torch.isclose(d[0], torch.tensor(1 - math.cos(math.pi / 4)), atol=1e-6)
    x = torch.zeros(1, 1024); x[0, :10] = 1.; assert top_frac_mean(x).item() == 1.      # int(1 % of 1024) = 10, as mean_top1p
    assert top_frac_mean(torch.arange(99.)[None]).item() == 98.                       # int(0.99) = 0: the maximum
    t = torch.zeros(12, 12, 2); t[3:9, 3:9, 0] = 10.
    m = pca_mask(t, 5., morphology='raster')
    assert m.shape == (12, 12) and m[6, 6] and not m[0, 0]
    assert distance_map(torch.ones(2, 4, 4), (16, 16)).shape == (2, 16, 16)
    from adnb.anomalydino import _dilate
    one = torch.zeros(3, 3, dtype=torch.bool); one[0, 2] = True                # last patch of the first row
    assert _dilate(one, 3, True).nonzero().tolist() == [[0, 1], [0, 2], [1, 0]]   # raster (their column): wraps to the next row
    assert _dilate(one, 3, False).nonzero().tolist() == [[0, 1], [0, 2], [1, 1], [1, 2]]   # grid (our default): 2-D neighbours

def test_anomalydino_layout(tmp_path):
    from adnb.datasets import load_records
    ad = script('anomalydino')
    recs = load_records('embedded', 'puck')
    root = ad.layout(recs, tmp_path/'data', 'puck')
    files = sorted(p.relative_to(root).parts[:3] for p in root.rglob('*.png'))
    assert len(files) == len(recs) and ('puck', 'train', 'good') in files and all(p.is_symlink() for p in root.rglob('*.png'))

# --- ucad (the continual protocol DFM follows)

def test_ucad_key_bank_start_and_greedy_hand():
    "UCAD starts its 196-key coreset at the row of largest distance-row norm; from there greedy k-centre is ours."
    from adnb.patchcore import greedy_coreset
    Z = torch.tensor([[0.], [1.], [10.], [11.], [5.]])
    start = int(torch.cdist(Z, Z).norm(dim=1).argmax())     # row norms sqrt(247), sqrt(198), sqrt(207), sqrt(258), sqrt(102)
    assert start == 3
    assert greedy_coreset(Z, 3, start).tolist() == [3, 0, 4]   # 11, then 0 (11 away), then 5 (5 away from both)
    m = script('ucad'); assert m.REPO == 'shirowalker/UCAD' and callable(m.routing_rows)

# --- adpretrain

def test_adpretrain_parity_inputs_in_the_loss_regime():
    "The parity features have compressed norms sqrt(||x|| + 1) - 1 in [0.1, 1.5], about 10 % anomalous, seeded."
    m = script('adpretrain'); z, lab = m.features(40)
    n = torch.sqrt(z.norm(dim=1) + 1) - 1
    assert z.shape == (512, 40) and 0.1 - 1e-4 <= float(n.min()) and float(n.max()) <= 1.5 + 1e-4
    assert 0.05 < float(lab.float().mean()) < 0.15 and torch.equal(m.features(40)[0], z)
    v, g = m.grad_of(lambda q: (q ** 2).sum(), torch.ones(2, 3)); assert float(v) == 6. and torch.equal(g, 2 * torch.ones(2, 3))

# --- the comparison itself (needs the authors' checkouts)

AUTHORS = Path(os.environ.get('ADNB_AUTHORS', ROOT.parent/'authors'))
PYTHON = os.environ.get('ADNB_PARITY_PYTHON', sys.executable)   # an interpreter with the authors' extra packages (cv2, einops)
CASES = [('patchcore', 'patchcore-inspection', ()), ('fapm', 'FAPM_official', ('cv2', 'einops')),
         ('fbft', 'L2BT', ()), ('anomalydino', 'AnomalyDINO', ('cv2',)), ('ucad', 'UCAD', ()), ('adpretrain', 'ADPretrain', ())]

@pytest.mark.slow
@pytest.mark.parametrize('method,checkout,needs', CASES)
def test_parity_against_authors(method, checkout, needs, tmp_path):
    path = AUTHORS/checkout
    if not path.is_dir(): pytest.skip(f"authors' checkout not found at {path} (set ADNB_AUTHORS)")
    for n in needs:
        if subprocess.run([PYTHON, '-c', f'import {n}'], capture_output=True).returncode:
            pytest.skip(f"{n} missing in {PYTHON} (the authors' code needs it; set ADNB_PARITY_PYTHON)")
    out = tmp_path/f'parity_{method}.json'
    r = subprocess.run([PYTHON, str(PARITY/f'{method}.py'), '--authors', str(path), '--out', str(out)], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads(out.read_text()); stored = json.loads((ROOT/'reports'/'records'/f'parity_{method}.json').read_text())
    assert [r['component'] for r in rec['rows']] == [r['component'] for r in stored['rows'] if not r['component'].startswith('bottle: ')]
    tol = {r['component']: r for r in stored['rows']}
    for r in rec['rows']:                                           # float-tolerance rows stay at float tolerance
        s = tol[r['component']]
        if s.get('max_rel') is not None and s['max_rel'] < 1e-4: assert r['max_rel'] < 1e-4, r['component']
