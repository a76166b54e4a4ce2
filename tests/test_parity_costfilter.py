"Our side of the CostFilter-AD parity script (benchmarks/parity/costfilter.py) at tiny size, with hand-computed values."
import importlib.util, math
from pathlib import Path
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def P():
    spec = importlib.util.spec_from_file_location('parity_costfilter', ROOT/'benchmarks'/'parity'/'costfilter.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

def test_layout_adapters(P):
    tok = torch.arange(12.).view(1, 4, 3)                       # 2x2 tokens, 3 channels, row-major
    g = P.tokens_to_grid(tok, 2); assert g.shape == (1, 3, 2, 2) and g[0, :, 1, 0].tolist() == [6., 7., 8.]   # token 2 = (y 1, x 0)
    ref = torch.arange(24.).view(1, 8, 3)                       # two templates of 4 tokens, template-major
    t = P.refs_to_templates(ref, 2, 2); assert t.shape == (1, 2, 3, 2, 2) and t[0, 1, :, 0, 1].tolist() == [15., 16., 17.]

def test_our_volume_hand_computed(P):
    "One layer, 1x2 test tokens (1, 0) and (0, 1); one template of 2x2 tokens (1, 0), (1, 1)/√2, (−1, 0), (0, −1); D = 2."
    s = 1 - 2 ** -.5
    tok = torch.tensor([[[1., 0.], [0., 1.], [1., 0.], [0., 1.]]])              # 2x2 grid (rows repeat)
    ref = torch.tensor([[[1., 0.], [2 ** -.5, 2 ** -.5], [-1., 0.], [0., -1.]]])
    o = P.ours_volume([tok], [ref], n=1, D=2, order='index', upsample=1)
    # token (1, 0): costs 0, s, 2, 1 -> kept template patches 0 and 1, by index: (0, s); token (0, 1): 1, s, 1, 2 -> kept 1 and
    # 0 or 2 (a tie at 1): M̄ = s either way
    assert o['volume'].shape == (1, 2, 1, 2, 2)
    torch.testing.assert_close(o['volume'][0, :, 0, 0, 0], torch.tensor([0., s]))
    torch.testing.assert_close(o['m_bar'][0, 0], torch.tensor([[0., s], [0., s]]))
    a = P.ours_volume([tok], [ref], n=1, D=2, order='ascending', upsample=2)
    assert a['volume_up'].shape == (1, 2, 1, 4, 4) and a['m_bar_up'].shape == (1, 1, 4, 4)

def test_our_losses_hand_computed(P):
    "p = ½ everywhere, an all-anomalous 4x4 mask, class logits (1, 0) for class 0: γ = max(1.5, 3 − 1) = 2."
    e = 1e-5; pt = .5 * (1 - 2 * e) + 2 * e
    o = P.ours_losses(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4), torch.tensor([[1., 0.]]), torch.tensor([0]), difficult=())
    assert o['gamma'].tolist() == [2.]
    assert math.isclose(o['focal'].item(), (1 - pt) ** 2 * -math.log(pt), rel_tol=1e-6)
    assert math.isclose(o['softiou'].item(), 1 - (8 + 1) / (8 + 16 - 8 + 1), rel_tol=1e-6)   # Σp = 8, Σm = 16, Σpm = 8
    assert math.isclose(o['mse'].item(), .25, rel_tol=1e-6) and math.isclose(o['ce'].item(), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    w = dict(focal=1., ssim=.2, mse=1., softiou=.1, ce=.5)
    assert math.isclose(o['total'].item(), sum(w[k] * o[k].item() for k in w), rel_tol=1e-6)
    assert math.isclose(P.ours_total(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4), torch.tensor([[1., 0.]]), torch.tensor([0]), ()).item(),
                        o['total'].item(), rel_tol=1e-6)
    assert P.ours_losses(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4), torch.tensor([[1., 0.]]), torch.tensor([0]), difficult=(0,))['gamma'].tolist() == [3.5]

def test_code_gamma_keeps_its_gradient(P):
    "Rule 'code' lets the focal term's gradient reach the class logits through γ (as released); detached, it does not."
    lg, m, y = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(0)), torch.ones(1, 4, 4), torch.tensor([0])
    grads = []
    for detach in (False, True):
        c = torch.tensor([[.5, 0.]], requires_grad=True)
        (P.ours_losses(lg, m, c, y, (), detach_gamma=detach)['focal'] + 0 * c.sum()).backward(); grads.append(c.grad.abs().sum().item())
    assert grads[0] > 0 and grads[1] == 0

def test_ast_adapter_on_a_stand_in_file(P, tmp_path):
    "The adapter compiles one function / one run of statements / the loss weights from a file without importing it."
    f = tmp_path/'train.py'
    f.write_text("import not_installed_module\n"
                 "def helper(x):\n    return 2 * x\n"
                 "def train(batch):\n    for epoch in range(3):\n        a = []\n        a.append(batch + 1)\n        b = a[0] * 10\n"
                 "        alpha, beta, gamma, yita = 1.0, 0.2, 1.0, 0.1\n        loss = seg + 0.5 * cls\n")
    assert P.their_function(f, 'helper', {})(4) == 8
    ns = dict(batch=2); exec(P.their_block(f, 'train', 'a', 'b'), ns); assert ns['b'] == 30
    assert P.their_weights(f, 'train') == dict(focal=1.0, ssim=.2, mse=1.0, softiou=.1, ce=.5)
    with pytest.raises(LookupError, match="no statement list assigns both 'a' and 'zz'"): P.their_block(f, 'train', 'a', 'zz')

def test_missing_checkout_is_refused(P, tmp_path):
    with pytest.raises(SystemExit, match='not found; pass --authors'): P.main(['--authors', str(tmp_path)])

def test_inputs_have_the_released_shapes(P):
    tokens, refs, logits, mask, cl, y = P.inputs(0, B=8, T=16, C=8, H=32)
    assert [t.shape for t in tokens] == [(8, 16, 8)] * 4 and [r.shape for r in refs] == [(8, 64, 8)] * 4
    assert logits.shape == (8, 2, 32, 32) and mask.shape == (8, 32, 32) and mask[::2].sum() == 0 and cl.shape == (8, 15)
    assert (cl[:4].argmax(1) == y[:4]).all() and y[3] == 0
