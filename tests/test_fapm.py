import math, json, pytest, torch
from adnb.fapm import *
from adnb.run import run_experiment

def test_cell_index_borders():
    ci, n = cell_index(13, 13, 8, 32, 100, 100)          # 100 px: 4 cells per side, the last partial
    assert n == 16 and ci[0, 0] == 0 and ci[3, 3] == 0 and ci[4, 4] == 5 and ci[12, 12] == 15 and ci[12, 0] == 12
    ci, n = cell_index(5, 7, 16, 0, 80, 112)             # cell_px 0: one global cell
    assert n == 1 and ci.unique().tolist() == [0]

def test_cell_positions_cover_grid_once():
    ci, n = cell_index(13, 13, 8, 32, 100, 100); pos, valid = cell_positions(ci, n)
    got = sorted(pos[valid].tolist()); assert got == list(range(169))
    for c in range(n): assert (ci.flatten()[pos[c][valid[c]]] == c).all()

def _one_hot_model(fill_cell):
    m = FAPM(weights='random', layers=('blocks.2',), patch_size=1, k=1, cell_px=32)
    m.bank0 = torch.zeros(4, 2, 40); m.count0 = torch.tensor([2, 1, 1, 2])
    m.bank0[fill_cell, 0] = 1.; return m

@pytest.mark.parametrize('cell', [0, 1, 2, 3])
def test_feature_meets_only_its_cell(cell):
    "A memory that holds the test vector (ones) in one cell only: zero distance there, sqrt(40) elsewhere — incl. borders."
    m = _one_hot_model(cell)
    m.bank0[cell, 1] = 1.      # make the cell's memory exactly the test vector (count 2 cells use both slots)
    e = torch.ones(1, 8, 8, 40); ps = m.layer_scores(e, 8, 0, 64, 64)[0]
    ci, _ = cell_index(8, 8, 8, 32, 64, 64)
    assert torch.allclose(ps[ci == cell], torch.zeros(16)) and torch.allclose(ps[ci != cell], torch.full((48,), 40**.5))

def test_padding_slots_are_ignored():
    m = _one_hot_model(0)      # cell 1 has count 1: its zero padding slot must not be matched
    m.bank0[1, 0] = 5.
    ps = m.layer_scores(torch.zeros(1, 8, 8, 40), 8, 0, 64, 64)[0]
    ci, _ = cell_index(8, 8, 8, 32, 64, 64)
    assert torch.allclose(ps[ci == 1], torch.full((16,), 5 * 40**.5))

def test_adaptive_rule():
    g = torch.Generator().manual_seed(0)
    tight = torch.randn(200, 3, generator=g) * .01
    idx, up = adaptive_coreset(tight, .1, d_th=.5); assert not up and len(idx) == 20
    idx, up = adaptive_coreset(tight * 1000, .1, d_th=.5); assert up and len(idx) == 40
    idx, up = adaptive_coreset(tight * 1000, .1, d_th=None); assert not up and len(idx) == 20
    # threshold on eq. 1: a cluster of radius r scores 1 - 2/(1+e^r); D_th = 0.5 <=> r = ln 3
    X = torch.tensor([[0.], [math.log(3) * 0.99], [100.], [100 + math.log(3) * 1.01]])
    s = cluster_score(X, torch.tensor([[0.], [100.]])); assert s[0] < .5 < s[1]

def test_scoring_k_and_topk():
    m = FAPM(weights='random', layers=('blocks.2',), patch_size=1, k=2, n_top=1, cell_px=0, sigma=0)
    m.bank0 = torch.zeros(1, 3, 40); m.bank0[0, 1, 0] = 2.; m.bank0[0, 2, 0] = 10.; m.count0 = torch.tensor([3])
    e = torch.zeros(1, 2, 2, 40); e[0, 1, 1, 0] = 4.
    ps = m.layer_scores(e, 8, 0, 16, 16)[0]
    assert ps[0, 0] == 1. and ps[1, 1] == 3.              # mean of the 2 nearest: (0+2)/2 and (2+4)/2

def test_fit_deterministic_and_empty():
    imgs = [dict(image=torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))]
    a = FAPM(weights='random'); b = FAPM(weights='random'); b.features.load_state_dict(a.features.state_dict())
    with pytest.raises(RuntimeError, match='memory is empty'): a(imgs[0]['image'])
    fit_fapm(a, imgs); fit_fapm(b, imgs)
    assert torch.equal(a.bank0, b.bank0) and torch.equal(a.count1, b.count1)
    c = FAPM(weights='random'); c.load_state_dict(a.state_dict()); assert c.memory_size() == a.memory_size()

def test_table2_experiment_tiny(tmp_path):
    out = run_experiment('fapm', dict(image_size=64, rows='AE', category='brick'), reports=tmp_path, progress=False)
    r = json.loads((out/'results.json').read_text())
    assert [t['row'] for t in r['table']] == ['A', 'E'] and all(t['fps'] > 0 for t in r['table'])
