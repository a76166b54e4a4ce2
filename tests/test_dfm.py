"DFM library (adnb.dfm): identity initialisation, FMN blocks, losses by hand, guards, determinism, routing, ViT path."
import numpy as np, pytest, torch
from adnb.dfm import *
from adnb.datasets import Record
from adnb.patchcore import knn, PatchCore

@pytest.fixture(scope='module')
def fitted():
    torch.manual_seed(0); m = DFM(weights='random', memory_size=40)
    init_memory(m, torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))); return m

def _x(n=2, size=64, seed=2): return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))

def test_identity_init_equals_nearest_neighbour_matching(fitted):
    "Untrained FMN = plain NN matching: patch scores = faiss distances to the memory; maps/scores = PatchCore with that bank."
    x = _x(); out = fitted(x)
    P = fitted.embed(x).detach(); d, _ = knn(fitted.fmn.memory.detach(), P.reshape(-1, P.shape[-1]))
    torch.testing.assert_close(out['patch_scores'].detach().flatten(), d[:, 0], atol=1e-3, rtol=1e-5)
    pc = PatchCore(weights='random', num_neighbors=1); pc.memory_bank = fitted.fmn.memory.detach().clone()
    ref = pc(x)
    torch.testing.assert_close(out['score'].detach(), ref['score'], atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(out['map'].detach(), ref['map'], atol=1e-3, rtol=1e-5)

def test_shapes_of_every_block(fitted):
    x = _x(3); P = fitted.embed(x)
    assert P.shape == (3, 8, 8, 152) and fitted.fmn.memory.shape == (40, 152)
    assert fitted.fmn.mod1.weight.shape == (40, 40) and fitted.fmn.mod2.weight.shape == (64, 64)
    S, s, D = fitted.fmn(P, raw=True)
    assert S.shape == D.shape == (3, 8, 8) and s.shape == (3,)
    out = fitted(x, return_embeddings=True)
    assert out['map'].shape == (3, 64, 64) and out['embeddings'].shape == (3, 8, 8, 152)
    assert [tuple(a.lin.weight.shape) for a in fitted.features.adapters.values()] == [(40, 40), (112, 112)]
    assert not any(p.requires_grad for p in fitted.features.body.parameters())
    with pytest.raises(ValueError, match='built for a 8x8 patch grid, got 4x4'): fitted(_x(1, 32))

def test_fmn_hand_case():
    fmn = FMN(torch.tensor([[0., 0.], [3., 0.]]), (1, 2))
    S, s = fmn(torch.tensor([[[[0., 0.], [3., 4.]]]]))
    assert S.tolist() == [[[0., 4.]]] and s.tolist() == [4.]
    with torch.no_grad(): fmn.mod1.weight.copy_(torch.tensor([[2., 0.], [0., 1.]]))   # Mod1 doubles the distance to row 0
    assert fmn(torch.tensor([[[[1., 0.], [3., 4.]]]]))[0].tolist() == [[[2., 4.]]]    # min(2*1, 2) = 2; min(2*5, 4) = 4

def test_losses_on_hand_computable_cases():
    s_a, s_n = torch.tensor([1., 10.]), torch.tensor([2., 4.])
    assert loss_det(s_a, s_n).item() == pytest.approx(4 + 1)                   # hinge (9-1)/2, L1 to mu=3: (1+1)/2
    S_a, M_a = torch.tensor([[[1., 10.], [5., 0.]]]), torch.tensor([[[1., 0.], [1., 0.]]])
    assert loss_seg(S_a, M_a).item() == pytest.approx(12 / 4)                  # masked hinges 8 and 4 over 4 pixels
    assert loss_sup(s_a, s_n, S_a, M_a, 0.9, 2., .5).item() == pytest.approx(2 * 5 + .5 * 3)
    S_n = torch.tensor([[[1., 10.]], [[2., 4.]]])
    assert loss_unsup(S_n.flatten(1).amax(1), S_n).item() == pytest.approx(1 / 2 + 1 / 4)
    assert loss_det(torch.tensor([5., 5.]), torch.tensor([3., 3.]), beta=1.).item() == 0

def test_targets_are_detached():
    s = torch.tensor([1., 10.], requires_grad=True); loss_det(s, torch.tensor([2., 4.])).backward()
    assert s.grad.tolist() == [-0.5, 0.]                                       # no gradient through beta*max(s_a)
    S = torch.tensor([[[1., 10.]]], requires_grad=True); loss_unsup(S.flatten(1).amax(1), S).backward()
    assert S.grad.tolist() == [[[0., 1.5]]]                                     # image hinge 1 + pixel hinge 1/2, target constant

def test_scale_guard_makes_losses_scale_free():
    g = torch.Generator().manual_seed(0); S, D = torch.rand(2, 4, 4, generator=g) + .5, torch.rand(2, 4, 4, generator=g) + .5
    s = S.flatten(1).amax(1)
    raw = [loss_unsup(*guarded(False, a * D, a * s, a * S)).item() for a in (1., 1e-3)]
    safe = [loss_unsup(*guarded(True, a * D, a * s, a * S)).item() for a in (1., 1e-3)]
    assert raw[1] == pytest.approx(1e-3 * raw[0])                              # raw eq. 9 shrinks with the scale: trivial minimiser
    assert safe[1] == pytest.approx(safe[0], rel=1e-5)                         # guarded: nothing to gain by shrinking

def _run(seed, **kw):
    torch.manual_seed(123); m = DFM(weights='random', memory_size=30)
    return m, fit_dfm(m, _x(4, 32, seed=0), epochs=2, steps=1, batch_size=2, seed=seed, **kw)

def test_training_is_deterministic_for_a_seed():
    (m1, h1), (m2, h2) = _run(0), _run(0)
    assert h1['loss_sup'] == h2['loss_sup'] and h1['loss_unsup'] == h2['loss_unsup']
    for k, v in m1.state_dict().items(): assert torch.equal(v, m2.state_dict()[k]), k
    assert not torch.equal(m1.fmn.mod2.weight, torch.eye(16))                   # training did move the FMN
    ad = m1.features.adapters['ablocks_4'].lin.weight
    assert not torch.equal(ad, torch.eye(112))                                   # and the adapters

def test_test_split_guard_refuses():
    tr, te = Record('a.png', 'c', 'train', 0), Record('b.png', 'c', 'test', 1)
    m = DFM(weights='random', memory_size=8)
    with pytest.raises(OnTestSplitError, match=r'training on the test split is refused \(1 test record\(s\), e.g. b.png\)'): fit_dfm(m, [tr, te], 64)
    with pytest.raises(OnTestSplitError, match='epoch/checkpoint selection on the test split is refused'): fit_dfm(m, _x(2), select_on=[te])
    with pytest.raises(OnTestSplitError, match='threshold calibration on the test split is refused'): calibrate_threshold(m, [te], 64)
    assert m.fmn is None                                                         # refused before any work

def test_select_on_validation_images_keeps_the_chosen_epoch():
    m = DFM(weights='random', memory_size=16); x = _x(4, 32, seed=0)
    h = fit_dfm(m, x[:2], epochs=2, steps=1, batch_size=2, select_on=x[2:])
    assert h['selected_epoch'] in (0, 1, 2) and [v['epoch'] for v in h['val']] == [0, 1, 2]   # epoch 0 = untrained is a candidate

def test_per_image_task_routing_on_two_toy_tasks():
    cm = ContinualDFM()
    for v in (.1, .9):
        m = DFM(weights='random', memory_size=16); x = torch.full((2, 3, 32, 32), v); init_memory(m, x); cm.add_task(m, task_keys(m, x, 16), str(v))
    x = torch.cat([torch.full((1, 3, 32, 32), v) for v in (.9, .1, .92, .08)])
    assert cm.route(x).tolist() == [1, 0, 1, 0]
    out = cm(x); assert out['task'].tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(out['score'][2:3], cm.tasks[1](x[2:3])['score'], atol=1e-3, rtol=1e-5)
    assert cm(x, task=0)['task'].tolist() == [0, 0, 0, 0]

def test_save_load_roundtrip(fitted, tmp_path):
    with torch.no_grad(): fitted.fmn.mod2.bias.add_(.25)
    fitted.save(tmp_path/'d.pt'); m2 = DFM.load(tmp_path/'d.pt'); x = _x(1)
    torch.testing.assert_close(m2(x)['map'], fitted(x)['map'].detach())
    with torch.no_grad(): fitted.fmn.mod2.bias.sub_(.25)

@pytest.mark.slow   # ~9 s on one core (CLIP ViT-B/16 at 224 px)
def test_vit_path_end_to_end_with_random_weights():
    "The paper's setting at tiny size: CLIP ViT-B/16 (random init), 224 px, block 6 tokens, adapters after blocks 5 and 6."
    m = DFM('clip_vitb16', layers=(6,), weights='random', img_size=224, memory_size=20, patch_size=1)
    assert list(m.features.adapters) == ['a5', 'a6'] and m.features.adapters['a6'].lin.weight.shape == (768, 768)
    x = _x(1, 224); h = fit_dfm(m, x, epochs=1, steps=1, batch_size=1)
    out = m(x)
    assert h['grid'] == (14, 14) and m.fmn.memory.shape == (20, 768) and out['patch_scores'].shape == (1, 14, 14) and out['map'].shape == (1, 224, 224)

def test_deepcopy_owns_its_adapters():
    "copy.deepcopy (the experiment's baseline copies, ablation variants) rebinds the adapter hooks: training a copy leaves the original as it was."
    import copy
    torch.manual_seed(0); m = DFM(weights='random', memory_size=16); x = _x(2, 32); init_memory(m, x)
    m2 = copy.deepcopy(m); y = m(x)['map'].detach().clone()
    with torch.no_grad(): m2.features.adapters['ablocks_4'].lin.weight.mul_(2)
    torch.testing.assert_close(m(x)['map'].detach(), y)
    assert not torch.allclose(m2(x)['map'].detach(), y)

def test_border_defaults_are_the_authors_and_old_checkpoints_load_as_trained(fitted, tmp_path):
    "pad='zeros' (the 3x3 mean counts the zero padding) and map_border='symmetric' by default; a checkpoint without them loads the old way."
    assert (fitted.pad, fitted.map_border) == ('zeros', 'symmetric') and fitted.config['pad'] == 'zeros'
    fitted.save(tmp_path/'d.pt'); ck = torch.load(tmp_path/'d.pt', weights_only=False)
    for k in ('pad', 'map_border'): del ck['config'][k]
    torch.save(ck, tmp_path/'old.pt'); old = DFM.load(tmp_path/'old.pt')
    assert (old.pad, old.map_border) == ('exclude', 'reflect')
    with pytest.raises(ValueError, match="pad must be one of"): DFM(weights='random', pad='reflect')
    with pytest.raises(ValueError, match="map_border must be one of"): DFM(weights='random', map_border='zeros')

def test_unit_gain_projection_keeps_shape_not_gain():
    "Every modulate form: a random step projected back has unit gain and no shift; a pure gain on a diagonal layer is undone exactly."
    g = torch.Generator().manual_seed(0); M = torch.randn(7, 5, generator=g)
    for kind in MODULATE:
        f = FMN(M, (3, 4), kind)
        for layer in (f.mod1, f.mod2):
            assert modulate_gain(layer) == pytest.approx((1., 0.))
            with torch.no_grad():
                for p in layer.parameters(): p.add_(torch.rand(p.shape, generator=g))
            assert modulate_gain(unit_gain_(layer)) == pytest.approx((1., 0.), abs=1e-5)
    d = Diagonal(6)
    with torch.no_grad(): d.weight.mul_(1.56); d.bias.add_(.3)
    unit_gain_(d); torch.testing.assert_close(d.weight.detach(), torch.ones(6)); torch.testing.assert_close(d.bias.detach(), torch.zeros(6))

def test_patch_auroc_is_scale_free():
    S_n, S_a, M_a = torch.tensor([[[1., 2.], [0., 1.]]]), torch.tensor([[[3., 0.], [1.5, 9.]]]), torch.tensor([[[1., 0.], [1., 0.]]])
    assert patch_auroc(S_n, S_a, M_a) == pytest.approx((4 + 3) / 8)          # defect patches 3 and 1.5 against normals 1, 2, 0, 1 (9 is not in the mask)
    assert patch_auroc(2 * S_n + 5, 2 * S_a + 5, M_a) == patch_auroc(S_n, S_a, M_a)
    assert patch_auroc(S_n, S_a, torch.zeros_like(M_a)) != patch_auroc(S_n, S_a, torch.zeros_like(M_a))   # no defect patch: NaN

def test_fit_logs_each_term_apart_and_refuses_a_bad_gain():
    m, h = _run(0)
    for k in EPOCH_KEYS: assert len(h[k]) == 2, k
    assert h['fixed_before_s2'] == h['eq8'] and h['fixed_before_s1'] == h['eq9']
    assert h['eq8'][0] == pytest.approx(h['eq6'][0] + h['eq7'][0]) and h['eq9'][0] == pytest.approx(h['eq9_image'][0] + h['eq9_pixel'][0], rel=1e-5)
    assert h['loss_sup'][0] == pytest.approx(h['eq8'][0] + h['anchor_s2'][0], rel=1e-5)          # what was optimised = paper term + anchor
    assert h['mod2_gain'] == [pytest.approx(1.)] * 2 and h['gain'] == 'unit'
    with pytest.raises(ValueError, match="gain must be one of"): fit_dfm(m, _x(2, 32), gain='half')
    with pytest.raises(ValueError, match="needs scale_guard=True"): fit_dfm(m, _x(2, 32), gain='normal_mean', scale_guard=False)
