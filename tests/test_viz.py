import numpy as np
from adnb.viz import *

def test_figures_build_and_stay_small():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128] / 128                                  # smooth, photo-like content (PNG compresses)
    ims = [np.dstack([yy, xx, (yy + xx) / 2]) * (.5 + .2 * i) for i in range(3)]
    gts = [np.zeros((128, 128), np.uint8) for _ in range(3)]; gts[2][5:40, 5:40] = 1
    maps = [g + .2 * yy for g in gts]
    assert len(gallery(ims, gts, maps).to_json()) < 100_000
    assert len(kde_figure(np.r_[rng.normal(size=50), rng.normal(3, size=20)], np.r_[np.zeros(50), np.ones(20)]).data) == 2
    assert len(tsne_figure(rng.normal(size=(40, 5)), np.r_[np.zeros(30), np.ones(10)]).data) == 2

def test_prf_hand_case():
    assert prf_at([np.array([[0., 1., 1., 0.]])], [np.array([[0, 1, 0, 1]])], .5) == dict(precision=.5, recall=.5, f1=.5)

def test_threshold_explorer_updates():
    gts = [np.zeros((16, 16), np.uint8)]; gts[0][:4] = 1
    w = threshold_explorer([np.zeros((16, 16, 3))], gts, [gts[0] * 2.])
    w.children[0].children[1].value = 1.0
    assert '<td>this image</td><td>1.000</td><td>1.000</td><td>1.000</td>' in w.children[1].value
