import numpy as np, pytest, torch
from scipy import ndimage
from sklearn.metrics import roc_auc_score, average_precision_score, precision_recall_curve
from adnb.metrics import *

def reference_aupro(maps, masks, limit):
    "Slow and obviously correct: PRO and FPR at every distinct score, trapezoids clipped at `limit`, divided by it."
    regs = []
    for a, m in zip(maps, masks):
        lab, n = ndimage.label(m, structure=np.ones((3, 3)))
        regs += [a[lab == i] for i in range(1, n + 1)]
    normal = np.concatenate([a[m == 0] for a, m in zip(maps, masks)])
    ths = np.unique(np.concatenate([a.ravel() for a in maps]))[::-1]
    pts = [(0.0, 0.0)] + [((normal >= t).mean(), np.mean([(r >= t).mean() for r in regs])) for t in ths]
    area = 0.0
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        if x0 >= limit: break
        if x1 > limit: y1, x1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0), limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / limit

def random_case(seed, n=5, size=24, ties=False):
    rng = np.random.default_rng(seed); masks = []
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        if i % 3 == 1: pass                                              # good image
        else:
            m[2:7, 3:9] = 1; m[7, 9] = 1                                 # diagonal touch: same 8-region
            m[12, 12] = 1                                                # single-pixel region
            m[15:20, 2:4] = 1; m[15:20, 4:6] = 1                         # two touching blocks = one region
            if i % 2: m[18:23, 15:23] = 1
        masks.append(m)
    maps = [rng.random((size, size)) + 0.8 * ndimage.gaussian_filter(m.astype(float), 1.5) for m in masks]
    if ties: maps = [np.round(a * 8) / 8 for a in maps]
    return maps, masks

@pytest.mark.parametrize('seed,ties', [(0, False), (1, False), (2, True), (3, True)])
@pytest.mark.parametrize('limit', [0.3, 0.1, 0.05, 0.01, 1.0])
def test_aupro_matches_reference(seed, ties, limit):
    maps, masks = random_case(seed, ties=ties)
    assert abs(aupro(maps, masks, limit) - reference_aupro(maps, masks, limit)) < 1e-6

def test_aupro_hand_case():
    a, m = np.array([[3., 1., 2., 0.]]), np.array([[1, 1, 0, 0]])
    assert aupro([a], [m], 1.0) == pytest.approx(0.75, abs=1e-12)

def test_aupro_perfect_and_float32():
    maps, masks = random_case(0)
    perfect = [m.astype(np.float32) for m in masks]
    assert aupro(perfect, masks, 0.3) == pytest.approx(1.0)
    assert abs(aupro([a.astype(np.float32) for a in maps], masks) - reference_aupro([a.astype(np.float32) for a in maps], masks, .3)) < 1e-6

def test_pixel_metrics_match_sklearn():
    maps, masks = random_case(4, ties=True)
    s = np.concatenate([a.ravel() for a in maps]); y = np.concatenate([m.ravel() for m in masks])
    pm = pixel_metrics(maps, masks)
    p, r, _ = precision_recall_curve(y, s)
    assert abs(pm['pixel_auroc'] - roc_auc_score(y, s)) < 1e-9
    assert abs(pm['pixel_ap'] - average_precision_score(y, s)) < 1e-9
    assert abs(pm['pixel_f1max'] - np.max(2*p*r/np.maximum(p + r, 1e-300))) < 1e-9

def test_image_metrics_match_sklearn():
    rng = np.random.default_rng(5); s, y = rng.normal(size=300), rng.random(300) < .4
    s[y] += .7
    im = image_metrics(s, y)
    assert abs(im['image_auroc'] - roc_auc_score(y, s)) < 1e-9 and abs(im['image_ap'] - average_precision_score(y, s)) < 1e-9

def hand_pair():
    "Anomalous image: region scores 3, 1, normal 2, 0; good image: normal 3.5, -1."
    return [np.array([[3., 1., 2., 0.]]), np.array([[3.5, -1.]])], [np.array([[1, 1, 0, 0]]), np.zeros((1, 2), np.uint8)]

def test_conventions_hand_values():
    maps, masks = hand_pair()
    # official: 3.5 is a false positive before 3 is found: (0,0)-(.25,0)-(.25,.5)-(.5,.5)-(.5,1)-(1,1) -> 1/8 + 1/2
    assert aupro_convention(maps, masks, 1., 'official') == pytest.approx(0.625, abs=1e-12)
    assert aupro_convention(maps, masks, 1., 'anomalous_only') == pytest.approx(0.75, abs=1e-12)   # good image dropped
    # l2bt: thresholds at normal ranks -1, 0, 2, 3.5 -> FPR .75, .5, .25, 0 and PRO (> t) 1, 1, .5, 0:
    # trapezoids .25*.25 + .25*.75 + .5*1
    assert aupro_convention(maps, masks, 1., 'l2bt') == pytest.approx(0.75, abs=1e-12)
    # grid200 on the anomalous image: FPR .5 -> 1 after /max, PRO .5 on the last segment in threshold order
    assert aupro_convention(maps[:1], masks[:1], 1., 'grid200') == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(MetricError, match="unknown AUPRO convention 'x'"): aupro_convention(maps, masks, .3, 'x')
    with pytest.raises(MetricError, match='limit must be in'): aupro_convention(maps, masks, 0., 'l2bt')

def test_l2bt_jump_and_ties():
    # 99 normal scores 0..98 (all ranks sampled) and a region scored 1000, 90.5
    a = np.r_[np.arange(99.), 1000., 90.5][None]; m = np.r_[np.zeros(99), 1, 1][None].astype(np.uint8)
    assert aupro_convention([a], [m], .3, 'official') == pytest.approx(1 - 4/29.7, abs=1e-12)   # vertical jump at 8/99
    assert aupro_convention([a], [m], .3, 'l2bt') == pytest.approx(1 - 3.75/29.7, abs=1e-12)    # trapezoid 7/99 -> 8/99
    z = np.zeros((1, 101))
    assert aupro_convention([z], [m], 1., 'official') == pytest.approx(0.5, abs=1e-12)          # ties: diagonal
    assert aupro_convention([z], [m], 1., 'l2bt') == pytest.approx(1/198, abs=1e-12)            # ties: misses until (1, 1)

def reference_l2bt(maps, masks, limit, n=99):
    "L2BT's recipe written plainly: per sampled rank, FPR from the rank, PRO as the mean share of region pixels > t."
    normal = np.sort(np.concatenate([a[m == 0] for a, m in zip(maps, masks)]))
    regs = []
    for a, m in zip(maps, masks):
        lab, k = ndimage.label(m, structure=np.ones((3, 3)))
        regs += [a[lab == i] for i in range(1, k + 1)]
    pts = [(1.0, 1.0)]
    for p in np.linspace(0, len(normal) - 1, n).astype(int):
        pts.append((1 - (p + 1) / len(normal), np.mean([(r > normal[p]).mean() for r in regs])))
    x, y = np.array(pts[::-1]).T
    return reference_area(x, y, limit) / limit

def reference_area(x, y, limit):
    area = 0.0
    for x0, y0, x1, y1 in zip(x[:-1], y[:-1], x[1:], y[1:]):
        if x0 >= limit: break
        if x1 > limit: y1, x1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0), limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area

@pytest.mark.parametrize('seed,ties', [(0, False), (2, True)])
@pytest.mark.parametrize('limit', [0.3, 0.05])
def test_l2bt_matches_plain_recipe(seed, ties, limit):
    maps, masks = random_case(seed, ties=ties)
    assert aupro_convention(maps, masks, limit, 'l2bt') == pytest.approx(reference_l2bt(maps, masks, limit), abs=1e-9)

def test_quartiles_known_answer():
    # regions of sizes 1, 4, 9, 16 (one per image); a detector that finds only regions larger than 2 pixels
    sizes = [1, 4, 9, 16]; masks, maps = [], []
    for s in sizes:
        m = np.zeros((12, 12), np.uint8); k = int(np.sqrt(s)); m[1:1+k, 1:1+k] = 1; masks.append(m)
        maps.append(m.astype(float) * (s > 2))
    masks.append(np.zeros((12, 12), np.uint8)); maps.append(np.zeros((12, 12)))
    q = quartile_aupro(maps, masks, limits=(1.0,))
    # percentiles of [1,4,9,16]: 25th = 3.25 -> Q1 = {1}; 50th = 6.5 -> {1,4}; 75th = 10.75 -> {1,4,9}; Q4 all.
    # region 1 scores 0 like every normal pixel: PRO rises with FPR (tie diagonal) -> area 1/2; others are found at FPR 0.
    exp = [0.5, (0.5 + 1) / 2, (0.5 + 2) / 3, (0.5 + 3) / 4]
    for i in range(4): assert q[f'aupro_100_q{i+1}'] == pytest.approx(exp[i], abs=1e-9)
    s = abs(exp[3] - exp[0]) / max(exp[0], exp[3]); w = np.mean(exp)
    assert q['rho_100'] == pytest.approx(w * (1 - s), abs=1e-9) and q['aupro_100_qmean'] == pytest.approx(w)

def test_forgetting_measure():
    M = [[.9, .8, .6], [np.nan, .7, .75], [np.nan, np.nan, .8]]
    assert forgetting_measure(M) == pytest.approx(((.9 - .6) + (.7 - .75)) / 2)
    with pytest.raises(MetricError, match='square'): forgetting_measure([[1, 2, 3]])

@pytest.mark.parametrize('bad,msg', [
    ('nan', 'map 0 holds 1 NaN/inf'), ('inf', 'map 0 holds 1 NaN/inf'), ('shape', 'map 1 has shape'),
    ('nonbinary', 'mask 0 is not binary'), ('noanom', 'no anomalous pixel')])
def test_bad_inputs(bad, msg):
    maps, masks = random_case(0, n=2)
    if bad == 'nan': maps[0][0, 0] = np.nan
    if bad == 'inf': maps[0][0, 0] = np.inf
    if bad == 'shape': maps[1] = maps[1][:-1]
    if bad == 'nonbinary': masks[0] = masks[0] * 255
    if bad == 'noanom': masks = [np.zeros_like(m) for m in masks]
    with pytest.raises(MetricError, match=msg): evaluate([0, 1], [0, 1], maps, masks)

def test_image_scores_nan_and_one_class():
    with pytest.raises(MetricError, match='NaN'): image_metrics([0, np.nan], [0, 1])
    with pytest.raises(MetricError, match='no normal sample'): image_metrics([0, 1], [1, 1])

def test_full_resolution_and_blur():
    from adnb.datasets import transform
    _, g = transform(np.zeros((30, 60, 3), np.uint8), 32, square=True)
    out = full_resolution([torch.rand(8, 8)], [g], sigma=4)
    assert out[0].shape == (30, 60) and out[0].dtype == np.float32
    x = torch.rand(2, 20, 20)
    assert torch.allclose(gaussian_blur(x, 1.5)[1], torch.from_numpy(ndimage.gaussian_filter(x[1].numpy(), 1.5, mode='mirror')), atol=1e-5)

def test_evaluate_hand_values():
    maps, masks = hand_pair()
    r = evaluate([3., 3.5], [1, 0], maps, masks, limits=(1.0,), quartiles=True, conventions=('anomalous_only', 'l2bt'))
    assert r['image_auroc'] == 0.0                                   # the good image scores higher
    assert r['pixel_auroc'] == pytest.approx(5/8)                     # 3 beats 3 normal pixels, 1 beats 2, of 2*4 pairs
    assert r['aupro_100'] == pytest.approx(0.625) and r['aupro_100_anomalous_only'] == pytest.approx(0.75)
    assert r['aupro_100_l2bt'] == pytest.approx(0.75)
    # one region: every quartile holds it, so Q1..Q4 = official and rho = mean * (1 - 0)
    assert [r[f'aupro_100_q{i}'] for i in range(1, 5)] == pytest.approx([0.625] * 4) and r['rho_100'] == pytest.approx(0.625)

def test_full_resolution_length_mismatch():
    from adnb.datasets import Geometry
    g = Geometry((30, 60))
    assert [a.shape for a in full_resolution(torch.zeros(2, 8, 8), [g, g])] == [(30, 60)] * 2
    with pytest.raises(MetricError, match='2 maps but 1 geometries'): full_resolution(torch.zeros(2, 8, 8), [g])
