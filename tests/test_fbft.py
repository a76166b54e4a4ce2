import json, numpy as np, pytest, torch
from adnb.fbft import *
from adnb.datasets import transform
from adnb.metrics import full_resolution
from adnb.run import run_experiment

def test_student_shapes_and_layers():
    s = student(40, 112, 112)
    assert s(torch.rand(7, 40)).shape == (7, 112)
    assert [type(m).__name__ for m in s] == ['Linear', 'GELU', 'Linear', 'GELU', 'Linear']

def test_vit_default_width():
    m = FBFT('dino_vitb8', (4, 8), weights='random')
    assert m.s_f[0].out_features == 768 and m.j == 'block4' and m.k == 'block8'

def test_losses_hand_values():
    a, b = torch.tensor([[3., 4.]]), torch.tensor([[0., 0.]])
    assert patch_distance(a, b, 'l2').item() == 5.
    assert patch_distance(torch.tensor([[1., 0.]]), torch.tensor([[-2., 0.]]), 'cosine').item() == 2.
    with pytest.raises(ValueError, match="'l2' or 'cosine'"): patch_distance(a, b, 'l1')

def test_fusion_and_topm():
    dj, dk = torch.tensor([1., 2.]), torch.tensor([3., 4.])
    assert fuse(dj, dk).tolist() == [3., 8.] and fuse(dj, dk, 'sum').tolist() == [4., 6.]
    assert fuse(dj, dk, 'forward').tolist() == [3., 4.] and fuse(dj, dk, 'backward').tolist() == [1., 2.]
    m = torch.zeros(2, 100, 100); m[0, 0, :10] = 1.; m[1, 50, :5] = 2.
    assert top_mean(m).tolist() == [1., 1.]                                   # M = 10: 5 twos + 5 zeros
    valid = torch.zeros(2, 100, 100, dtype=torch.bool); valid[:, :10] = True   # 1000 valid pixels -> M = 1
    assert top_mean(m, valid=valid).tolist() == [1., 0.]

def test_training_deterministic_for_seed():
    imgs = [dict(image=torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))]
    a = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random')
    b = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random'); b.teacher.load_state_dict(a.teacher.state_dict())
    ra, rb = fit_fbft(a, imgs, epochs=3, progress=False, seed=4), fit_fbft(b, imgs, epochs=3, progress=False, seed=4)
    assert ra['losses'] == rb['losses'] and torch.equal(a.s_f[0].weight, b.s_f[0].weight)
    rc = fit_fbft(b, imgs, epochs=3, progress=False, seed=5); assert rc['losses'] != ra['losses']

def test_auto_distance_needs_training():
    m = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random')
    with pytest.raises(RuntimeError, match='resolved by fit_fbft'): m(torch.rand(1, 3, 32, 32))

def test_padding_removed_from_maps_and_score():
    x, g = transform(np.zeros((60, 30, 3), np.uint8), 64, square=True)
    v = valid_mask([g], 64)[0]
    assert v[:, :16].sum() == 0 and v[:, 48:].sum() == 0 and v[:, 16:48].all()
    assert full_resolution([torch.rand(64, 64)], [g])[0].shape == (60, 30)

@pytest.mark.slow
def test_vit_1036_end_to_end_tiny():
    "The paper's configuration at tiny scale: DINOv2 ViT-B/14 (random init) at 1036 px -> 74x74 tokens."
    m = FBFT('dinov2_vitb14', (8, 12), weights='random', img_size=1036)
    x, g = transform(np.zeros((900, 700, 3), np.uint8), 1036, square=True)
    fit_fbft(m, [dict(image=x[None])], epochs=1, progress=False)
    o = m(x[None], valid_mask([g], 1036))
    assert o['delta_k'].shape == (1, 74, 74) and full_resolution(o['map'], [g])[0].shape == (900, 700)

def test_fbft_experiment_ablation_tiny(tmp_path):
    out = run_experiment('fbft', dict(image_size=64, epochs=1, ablation='fusion', n_gallery=2, category='brick'), reports=tmp_path, progress=False)
    rows = json.loads((out/'results.json').read_text())['results']
    assert [json.loads(r['config'])['fusion'] for r in rows] == list(FUSIONS) and all('rho_30' in r for r in rows)
