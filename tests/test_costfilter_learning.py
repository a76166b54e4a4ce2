"CostFilter-AD learns: on a tiny synthetic case the objective falls and a validation metric from held-out training images does not get worse."
import numpy as np, pytest, torch
from PIL import Image
from adnb.costfilter import CostFilter, LITE0_LAYERS, fit_costfilter, split_validation, ProtocolError
from adnb.datasets import Record

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def grey(tmp_path_factory):
    "24 grey, noisy 64 px normal images (real Lite0 features of a structure-free surface); anomalies are Perlin textures."
    root, rng = tmp_path_factory.mktemp('grey'), np.random.default_rng(0); recs = []
    for i in range(24):
        p = root/f'{i:03d}.png'; Image.fromarray((128 + rng.normal(0, 6, (64, 64, 3))).clip(0, 255).astype(np.uint8)).save(p)
        recs.append(Record(str(p), 'grey', 'train', 0))
    return recs

def test_costfilter_learns_on_a_tiny_case(grey):
    """Real Lite0 weights, 18 training and 6 held-out images, 20 epochs of 3 steps (about 7 s). lr 3e-3 instead of the
    paper's 1e-3 because the budget is 60 steps (the real-data record uses 1e-3 over 1240 steps)."""
    tr, val = split_validation(grey, .25, 0); assert (len(tr), len(val)) == (18, 6)
    m = CostFilter('efficientnet_lite0', LITE0_LAYERS, img_size=64, classes=['grey'], width=4)
    h = fit_costfilter(m, tr, epochs=20, lr=3e-3, anomaly_prob=1., val=val, progress=False)['history']
    assert h['epoch'] == list(range(21)) and h['loss'][0] is None
    assert h['loss'][-1] < .2 * h['loss'][1]                              # the objective falls by more than 80 % (measured: 4.79 -> 0.25)
    assert h['val_pixel_ap'][-1] >= h['val_pixel_ap'][0]                 # held-out pixel AP not worse than untrained (0.024 -> 0.047)
    assert h['val_pixel_auroc'][-1] > h['val_pixel_auroc'][0] + .05       # and it learned to localise something (0.41 -> 0.60)
    assert len(set(h['val_base_pixel_ap'])) == 1                          # the base map does not train: a flat reference line

def test_validation_split_is_seeded_disjoint_and_refuses_test(grey):
    a, b = split_validation(grey, .25, 0), split_validation(grey, .25, 0)
    assert a == b and not {r.image for r in a[0]} & {r.image for r in a[1]} and len(a[0]) + len(a[1]) == 24
    assert split_validation(grey, .25, 1)[1] != a[1] and split_validation(grey, 0., 0) == (sorted(grey, key=lambda r: r.image), [])
    with pytest.raises(ProtocolError, match='validation split: refusing 1 test-split'):
        split_validation(grey + [Record('t.png', 'grey', 'test', 1)], .25)

def test_validation_does_not_change_training(grey):
    "The per-epoch validation draws from its own generator: with or without it, the same seed trains the same network."
    tr, val = split_validation(grey[:12], .25, 0)
    nets = []
    for v in (None, val):
        m = CostFilter('efficientnet_lite0', LITE0_LAYERS, weights='random', img_size=64, classes=['grey'], width=4, n_templates=2)
        r = fit_costfilter(m, tr, epochs=2, val=v, progress=False); nets.append((r['losses'], m.net.state_dict()))
    assert nets[0][0] == nets[1][0] and all(torch.equal(nets[0][1][k], nets[1][1][k]) for k in nets[0][1])
