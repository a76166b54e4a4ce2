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

@pytest.mark.parametrize('name,size,grid,prefix', [('dinov2_vitb14', 1036, 74, 1), ('dinov2_vitb14_reg4', 224, 16, 5), ('dino_vitb8', 64, 8, 1)])
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
