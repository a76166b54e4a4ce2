"""Backbone engines (issue 32): the compiled frozen body gives torch's features to float32 rounding, and the rules of when
it runs (CNN, gradients off, CPU float32, no adapters or hooks) hold."""
import copy, os
import pytest, torch
from adnb.backbones import (FeatureExtractor, BackboneError, resolve_engine, set_engine, engine_of, add_adapters, _importable, _NEEDS)

ENGINES = [e for e in ('onnxruntime', 'openvino') if all(map(_importable, _NEEDS[e]))]

@pytest.fixture(scope='module')
def torch_fe(): return FeatureExtractor('efficientnet_lite0', ('blocks.1', 'blocks.2', 'blocks.4'), engine='torch')

def _x(n=2, h=256, w=256, seed=0): return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))

@pytest.mark.parametrize('engine', ENGINES)
def test_features_agree_with_torch(torch_fe, engine):
    fe = FeatureExtractor('efficientnet_lite0', ('blocks.1', 'blocks.2', 'blocks.4'), engine=engine)
    x = _x()
    with torch.no_grad():
        assert fe.uses_engine(x)
        a, b = torch_fe(x), fe(x)
        f64 = copy.deepcopy(torch_fe).double(); c = f64(x.double())
    assert list(a) == list(b) and all(a[k].shape == b[k].shape and b[k].dtype == torch.float32 for k in a)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-4, f'{engine}: max |feature difference| {diff:.2e}'
    # as exact as torch itself: the engine's distance to a float64 run is at most twice torch's own
    e_t = max(float((a[k].double() - c[k]).abs().max()) for k in a); e_e = max(float((b[k].double() - c[k]).abs().max()) for k in a)
    assert e_e <= 2 * e_t + 1e-6, (e_e, e_t)

@pytest.mark.parametrize('engine', ENGINES)
def test_other_sizes_and_batches(torch_fe, engine):
    fe = FeatureExtractor('efficientnet_lite0', ('blocks.1', 'blocks.2', 'blocks.4'), engine=engine)
    for x in (_x(1, 128, 96, 1), _x(3, 64, 64, 2)):                  # dynamic batch, height and width
        with torch.no_grad(): a, b = torch_fe(x), fe(x)
        assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-4

@pytest.mark.skipif(not ENGINES, reason='no engine besides torch installed')
def test_when_the_engine_runs():
    fe = FeatureExtractor('efficientnet_lite0', engine=ENGINES[0]); x = _x(1, 64, 64)
    assert not fe.uses_engine(x)                                   # gradients on: training path, torch
    with torch.no_grad():
        assert fe.uses_engine(x) and not fe.uses_engine(x.double())
        h = fe.body.blocks[0].register_forward_hook(lambda m, i, o: o * 2)
        assert not fe.uses_engine(x); h.remove()                    # a hook inside the body: torch runs it
        assert fe.uses_engine(x)
    add_adapters(fe, ('blocks.2',))
    with torch.no_grad(): assert not fe.uses_engine(x)              # adapters: torch

def test_compiled_body_follows_the_weights():
    if not ENGINES: pytest.skip('no engine besides torch installed')
    fe = FeatureExtractor('efficientnet_lite0', weights='random', engine=ENGINES[0]); x = _x(1, 64, 64)
    with torch.no_grad():
        a = fe(x)['blocks.4'].clone(); first = fe._compiled
        next(fe.body.parameters()).mul_(1.5)                       # weights changed in place: rebuilt, new numbers
        b = fe(x)['blocks.4']
        ref = FeatureExtractor('efficientnet_lite0', weights='random', engine='torch'); ref.body.load_state_dict(fe.body.state_dict())
        c = ref(x)['blocks.4']
    assert fe._compiled is not first and not torch.allclose(a, b) and float((b - c).abs().max()) <= 1e-4

def test_choice_and_errors(monkeypatch):
    with pytest.raises(BackboneError, match='engine must be one of'): resolve_engine('tensorrt')
    monkeypatch.setenv('ADNB_ENGINE', 'torch'); assert resolve_engine() == 'torch'
    monkeypatch.setenv('ADNB_ENGINE', 'fast')
    with pytest.raises(BackboneError, match='ADNB_ENGINE'): resolve_engine()
    monkeypatch.delenv('ADNB_ENGINE')
    assert resolve_engine('auto') == ('onnxruntime' if 'onnxruntime' in ENGINES else 'torch')

def test_set_engine_and_vits():
    from adnb.padim import PaDiM
    m = PaDiM(weights='random', d=20)
    assert set_engine(m, 'torch') == 'torch' and engine_of(m) == 'torch'
    vit = FeatureExtractor('dinov2_vits14', weights='random', img_size=28, engine='auto')
    assert engine_of(vit) == 'torch'                               # ViTs always run torch
    with torch.no_grad(): assert not vit.uses_engine(torch.rand(1, 3, 28, 28))
