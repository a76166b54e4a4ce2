"""CostFilter-AD parity: the released code (ZHE-SAPI/CostFilter-AD, AnomalyDINO "AnomalDF" variant, folder
`Costfilter_Glad/Costfilter_Glad_Mvtecad`) and `adnb.costfilter` on the same seeded inputs of the real shapes.

    python benchmarks/parity/costfilter.py --authors ../authors/CostFilter-AD

Components: the cost volume with top-D trimming and its bilinear upsampling (batch 8, 4 DINO layers of 1024 tokens x
768, 4 templates of 1024 tokens = 4096 reference patches, D = 1024), the initial map M-bar, the focal / SSIM / SoftIoU
/ MSE / CE terms, the released gamma rule (values and gradients), the released weighted sum (value and gradients) and
the loss resolution (their softmax-then-resize against our resize-then-softmax).

How their code is called without copying it: their training script imports diffusers, bitsandbytes, accelerate and
a CUDA-only pipeline at module level, and computes the cost volume inline in its training loop. So this script reads
their source file, compiles the one function (`compute_dynamic_gamma`) or the one run of statements (the cost volume,
from `min_similarity_map_all_3 = []` to `min_similarity_map_all_bat = ...`) straight from their AST, and executes it
with our tensors in its namespace (the DINO model is a stub that hands out the seeded token features). Their
`loss.py` imports cleanly; its SSIM calls `.cuda()` in `__init__`, shimmed to a no-op while it is built. Nothing of
their code is stored in this repository; it is read from `--authors` at run time.

Not compared (and why): the 3D U-Net forward pass and the class-aware adaptor (their modules hard-code a (4, 64, 64)
volume, 768-channel DINO inputs and 144 adaptor channels; ours is retargeted to any grid and to Lite0's four widths, so
the same weights cannot be loaded: parameter counts only); the synthetic anomaly generator (imgaug plus a DTD folder
and per-class Otsu modes; ours is a different, prior-free generator, documented in the ledger); the test-time fusion
(48 random templates x 8 rotations per test image and checkpoint choice on the test set, which we do not reproduce).
"""
from __future__ import annotations
import argparse, ast, contextlib, sys, time, types
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import authors_on_path, diff, write_record  # noqa: E402

SUB = 'Costfilter_Glad/Costfilter_Glad_Mvtecad'      # the AnomalyDINO variant's training script and losses
TRAIN = 'main_multi_glad_dino_3d_anomaldino_num4.py'
THEIR_CLASSES = ['hazelnut', 'capsule', 'grid', 'carpet', 'leather', 'tile', 'wood', 'bottle',
                 'cable', 'metal_nut', 'pill', 'screw', 'toothbrush', 'transistor', 'zipper']   # their class index order
THEIR_DIFFICULT = ('hazelnut', 'capsule', 'wood', 'cable', 'pill', 'screw', 'transistor', 'zipper')

# ---------------------------------------------------------------- our side (also run by tests/test_parity_costfilter.py)
def tokens_to_grid(tok:torch.Tensor, side:int)->torch.Tensor:
    "(B, side*side, C) row-major tokens -> (B, C, side, side)."
    return tok.transpose(1, 2).reshape(tok.shape[0], tok.shape[2], side, side)

def refs_to_templates(ref:torch.Tensor, n:int, side:int)->torch.Tensor:
    "(B, n*side*side, C) template tokens, template-major -> (B, n, C, side, side)."
    B, _, C = ref.shape
    return ref.view(B, n, side * side, C).permute(0, 1, 3, 2).reshape(B, n, C, side, side)

def ours_volume(tokens:list, refs:list, n:int, D:int, order:str='index', upsample:int=2)->dict:
    "adnb.costfilter's cost volume on their layout: per layer test tokens (B, T, C) and template tokens (B, n*T, C)."
    from adnb.costfilter import cost_volume, CostFilter
    side = int(round(tokens[0].shape[1] ** .5))
    fs = [tokens_to_grid(t.float(), side) for t in tokens]; ft = [refs_to_templates(r.float(), n, side) for r in refs]
    Cv, mb = cost_volume(fs, ft, D, order)
    up, mb_up = CostFilter.volume_up(types.SimpleNamespace(upsample=upsample), Cv, mb)
    return dict(volume=Cv, m_bar=mb, volume_up=up, m_bar_up=mb_up)

def ours_losses(logits:torch.Tensor, mask:torch.Tensor, class_logits:torch.Tensor, y:torch.Tensor, difficult:tuple,
                detach_gamma:bool=False)->dict:
    "Each unweighted term of adnb.costfilter's losses at the mask's resolution, the released γ and the released weighted sum."
    from adnb.costfilter import focal_loss, focal_gamma, soft_iou_loss, ssim_loss, LOSS_WEIGHTS
    M = logits.softmax(1)[:, 1]
    g = focal_gamma(class_logits.detach() if detach_gamma else class_logits, y, 'code', difficult=difficult)
    t = dict(gamma=g, focal=focal_loss(logits, mask, g), ssim=ssim_loss(M, mask), softiou=soft_iou_loss(M, mask),
             mse=F.mse_loss(M, mask), ce=F.cross_entropy(class_logits, y))
    t['total'] = sum(w * t[k] for k, w in LOSS_WEIGHTS['code'].items() if w); return t

def ours_total(logits, mask, class_logits, y, difficult)->torch.Tensor:
    "adnb.costfilter.loss_terms with the released weights and γ rule: the sum the experiment trains on with loss='code'."
    from adnb.costfilter import loss_terms
    return loss_terms(dict(logits=logits, class_logits=class_logits), mask, y, 'code', 'code', difficult)['total']

# ---------------------------------------------------------------- their side, read from their files at run time
def _tree(path:Path)->ast.Module: return ast.parse(path.read_text(), str(path))

def their_function(path:Path, name:str, ns:dict):
    "Compile the top-level function `name` of `path` alone (not its module's imports) into `ns` and return it."
    node = next(n for n in _tree(path).body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), str(path), 'exec'), ns); return ns[name]

def _assigns(stmt, name): return isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)

def their_block(path:Path, func:str, first:str, last:str)->types.CodeType:
    "The statements of `func` from the assignment to `first` through the assignment to `last` (one statement list)."
    fn = next(n for n in _tree(path).body if isinstance(n, ast.FunctionDef) and n.name == func)
    for node in ast.walk(fn):
        for field in ('body', 'orelse'):
            body = getattr(node, field, None)
            if isinstance(body, list) and any(_assigns(s, first) for s in body) and any(_assigns(s, last) for s in body):
                i = next(k for k, s in enumerate(body) if _assigns(s, first)); j = next(k for k, s in enumerate(body) if _assigns(s, last))
                return compile(ast.Module(body[i:j + 1], []), str(path), 'exec')
    raise LookupError(f"{path.name}:{func}: no statement list assigns both {first!r} and {last!r}")

def their_weights(path:Path, func:str)->dict:
    "The released loss weights, read from `alpha, beta, gamma, yita = ...` and `loss = segmentation_loss + w * classification_loss`."
    fn = next(n for n in _tree(path).body if isinstance(n, ast.FunctionDef) and n.name == func); w = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple) and \
                [getattr(e, 'id', None) for e in node.targets[0].elts] == ['alpha', 'beta', 'gamma', 'yita']:
            w.update(zip(('focal', 'ssim', 'mse', 'softiou'), ast.literal_eval(node.value)))
        if _assigns(node, 'loss') and isinstance(node.value, ast.BinOp) and isinstance(node.value.right, ast.BinOp):
            w['ce'] = ast.literal_eval(node.value.right.left)
    return w

class _Torch32(types.ModuleType):
    "torch with float16 read as float32: runs their half-precision cost volume in single precision."
    def __init__(self): super().__init__('torch'); self.float16 = torch.float32
    def __getattr__(self, k): return getattr(torch, k)

def their_volume(root:Path, tokens:list, refs:list, fp32:bool=False)->dict:
    "Their inline cost-volume statements on our tokens (a stub DINO model yields them with a CLS token in front)."
    B, T, C = tokens[0].shape; calls = iter(range(B))
    def dino_model(img):       # (1, 3, 256, 256) -> (cls, per layer (1, 1 + T, C)) of the image being processed
        i = next(calls); return None, [torch.cat([torch.zeros(1, 1, C), t[i:i + 1].float()], 1) for t in tokens]
    tt = _Torch32() if fp32 else torch
    ns = dict(torch=tt, F=F, np=np, time=time, batch_size=B, device='cpu', weight_dtype=torch.float32,
              anomaly_images=torch.zeros(B, 3, 256, 256), args=types.SimpleNamespace(dino_resolution=256),
              transform=lambda x: x, dino_model=dino_model, masking_default={'bottle': False}, object_name=['bottle'] * B,
              compute_background_mask=lambda *a, **k: None,
              **{f'features_ref_{l}_bat': r.to(tt.float16) for l, r in zip((3, 6, 9, 12), refs)})
    with warnings_off(): exec(their_block(root/SUB/TRAIN, 'train_2dunet_dino_triloss_volume', 'min_similarity_map_all_3', 'min_similarity_map_all_bat'), ns)
    return dict(volume=ns['anomaly_maps_all'], m_bar=ns['min_similarity_maps_all'], volume_up=ns['anomaly_map_all_bat'],
                m_bar_up=ns['min_similarity_map_all_bat'])

@contextlib.contextmanager
def warnings_off():
    import warnings
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); yield

@contextlib.contextmanager
def cuda_is_noop():
    "Tensor.cuda returns the tensor itself while their SSIM is constructed (it calls .cuda() in __init__)."
    old = torch.Tensor.cuda; torch.Tensor.cuda = lambda self, *a, **k: self
    try: yield
    finally: torch.Tensor.cuda = old

def their_losses(root:Path, logits, mask, class_logits, y, weights:dict)->dict:
    "Their loss modules and γ function on the same tensors, composed as their training loop composes them."
    with authors_on_path(root, SUB):
        import loss as L
        with cuda_is_noop(): ssim = L.SSIM()
        p = logits.softmax(1); M = p[:, 1:2]; m = mask[:, None]
        g = their_function(root/SUB/TRAIN, 'compute_dynamic_gamma', dict(torch=torch))(class_logits, y.float(), 256, num_classes=15)
        fl = L.FocalLoss_gamma(); focal = sum(fl(p[i:i + 1], m[i:i + 1], g[i]) for i in range(len(p))) / len(p)
        t = dict(gamma=g, focal=focal, ssim=ssim(M, m), softiou=L.SoftIoULoss(M, m), mse=torch.nn.MSELoss()(M, m),
                 ce=torch.nn.CrossEntropyLoss()(class_logits, y))
    t['total'] = sum(weights[k] * t[k] for k in ('focal', 'ssim', 'mse', 'softiou', 'ce')); return t

# ---------------------------------------------------------------- inputs and comparison
def inputs(seed:int=0, B:int=8, T:int=1024, C:int=768, n:int=4, K:int=15, H:int=256):
    "Seeded inputs of the released shapes: tokens, template tokens, 2-class logits at 256 px, Perlin-like masks, class logits."
    g = torch.Generator().manual_seed(seed)
    tokens = [torch.randn(B, T, C, generator=g) for _ in range(4)]
    refs = [t[torch.randint(0, B, (B,), generator=g)].repeat(1, n, 1) + .8 * torch.randn(B, n * T, C, generator=g) for t in tokens]
    logits = 2 * torch.randn(B, 2, H, H, generator=g)
    blob = F.interpolate(torch.rand(B, 1, 8, 8, generator=g), size=(H, H), mode='bilinear', align_corners=False)[:, 0]
    mask = (blob > .7).float(); mask[::2] = 0                                     # half the images normal, as in training
    cl = 2 * torch.randn(B, K, generator=g); y = torch.randint(0, K, (B,), generator=g)
    y[:4] = cl[:4].argmax(1)                                                      # four classified right, the rest mostly wrong
    for i, k in ((1, 7), (2, 2)):                                                 # bottle, grid (not difficult), small logits:
        cl[i] *= .3; cl[i, k] = cl[i].max() + .3; y[i] = k                        # γ = 3 − max logit, unclamped
    cl[0, y[0]] = 4.                                                              # one clamped γ (3 − 4 < 1.5)
    cl[3, 0] = cl[3].max() + 1; y[3] = 0                                          # right, but a 'difficult' class (hazelnut): 3.5
    return tokens, refs, logits, mask, cl, y

def _grads(f, *xs):
    xs = [x.detach().clone().requires_grad_() for x in xs]; f(*xs).backward(); return [x.grad for x in xs]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--authors', required=True, help="local checkout of ZHE-SAPI/CostFilter-AD")
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--out', default=None)
    a = ap.parse_args(argv); root = Path(a.authors)
    if not (root/SUB/TRAIN).exists(): raise SystemExit(f"costfilter parity: {root/SUB/TRAIN} not found; pass --authors <checkout of ZHE-SAPI/CostFilter-AD>")
    torch.manual_seed(a.seed); tokens, refs, logits, mask, cl, y = inputs(a.seed)
    rows = []; add = lambda comp, d, note='': rows.append(dict(component=comp, **d, note=note))

    ours = ours_volume(tokens, refs, n=4, D=1024, order='index')
    asc = ours_volume(tokens, refs, n=4, D=1024, order='ascending')
    for fp32, tag in ((False, 'released float16'), (True, 'float16 read as float32')):
        th = their_volume(root, tokens, refs, fp32)
        for k in ('volume', 'm_bar', 'volume_up', 'm_bar_up'):
            add(f'cost volume: {k} ({tag})', diff(ours[k], th[k]),
                'ours order=index, D=1024 of 4096 template patches' + ('; theirs in half precision' if not fp32 else ''))
        if fp32:
            add('cost volume: kept costs as a set, ours order=ascending (default)', diff(asc['volume'].sort(1).values, th['volume'].float().sort(1).values),
                'same D smallest costs per position; only the channel order differs (ascending vs by template index)')
            add('cost volume: channel order, ours order=ascending vs theirs', diff(asc['volume'], th['volume']),
                'deliberate: channel k = k-th smallest cost (paper) vs kept costs re-sorted by template index (code)')

    difficult = tuple(THEIR_CLASSES.index(c) for c in THEIR_DIFFICULT)
    w = their_weights(root/SUB/TRAIN, 'train_2dunet_dino_triloss_volume')
    o, t = ours_losses(logits, mask, cl, y, difficult), their_losses(root, logits, mask, cl, y, w)
    notes = dict(gamma="rule 'code': max(1.5, 3 - max logit), 3.5 if wrong or difficult",
                 focal="per image on the 2-class softmax; their smoothing pt = (1-2e)p + 2e, e = 1e-5",
                 ssim='11 px Gaussian window, sigma 1.5, zero padding', softiou='over the whole batch')
    o['loss_terms total'] = ours_total(logits, mask, cl, y, difficult); t['loss_terms total'] = t['total']
    for k in ('gamma', 'focal', 'ssim', 'softiou', 'mse', 'ce', 'total', 'loss_terms total'):
        add(f'loss: {k}', diff(o[k], t[k]), notes.get(k, "weights read from their training loop: " + str(w) if 'total' in k else ''))
    add('loss weights (code)', dict(max_abs=max(abs(w[k] - v) for k, v in __import__('adnb.costfilter', fromlist=['x']).LOSS_WEIGHTS['code'].items())),
        f'ours LOSS_WEIGHTS["code"] against the numbers in their training loop {w}')
    go = _grads(lambda lg, c: ours_total(lg, mask, c, y, difficult), logits, cl)
    gd = _grads(lambda lg, c: ours_losses(lg, mask, c, y, difficult, detach_gamma=True)['total'], logits, cl)
    gt = _grads(lambda lg, c: their_losses(root, lg, mask, c, y, w)['total'], logits, cl)
    add('loss gradient: d total / d map logits', diff(go[0], gt[0]))
    add('loss gradient: d total / d class logits (CE and the gamma path)', diff(go[1], gt[1]),
        "rule 'code' keeps gamma's gradient into the adaptor as the released code does; rule 'paper' detaches it (ours)")
    add('loss gradient: the gamma path alone (ours with gamma detached vs theirs)', diff(gd[1], gt[1]),
        'what the comparison above would show if gamma were detached under the code rule: the path is not negligible')

    # loss resolution: they resize the softmax (align_corners=True) 64 -> 256, we resize the logits (align_corners=False)
    for lg64, kind in ((logits[:, :, ::4, ::4].contiguous(), 'independent per-pixel logits (worst case)'),
                       (F.interpolate(logits[:, :, ::32, ::32], size=64, mode='bilinear', align_corners=False), 'smooth logits (8x8 field upsampled)')):
        p_theirs = F.interpolate(lg64.softmax(1), size=256, mode='bilinear', align_corners=True)[:, 1]
        p_ours = F.interpolate(lg64, size=256, mode='bilinear', align_corners=False).softmax(1)[:, 1]
        add(f'loss resolution: anomaly probability at 256 px from 64 px, {kind}', diff(p_ours, p_theirs),
            'deliberate: ours resizes logits (align_corners=False) then softmax; theirs softmax then resize (align_corners=True)')

    with authors_on_path(root, SUB):
        import unet3d_att_dino_channel_test_48_min as U
        net = U.DiscriminativeSubNetwork_3d_att_dino_channel(in_channels=1024, out_channels=2, base_channels=48)
        n_theirs = sum(p.numel() for p in net.parameters())
    from adnb.costfilter import CostFilterNet
    n_ours = sum(p.numel() for p in CostFilterNet(1024, (768,) * 4, 15, width=48).parameters())
    add('U-Net parameters (w = 48, D = 1024, 15 classes)', dict(ours=n_ours, theirs=n_theirs, max_rel=abs(n_ours - n_theirs) / n_theirs),
        'not the same module (forward not compared): theirs one shared 768-channel DINO projection, channel attention without '
        'biases, CBAM on three decoder stages; ours one projection per layer, CBAM on all five')
    write_record('costfilter', 'ZHE-SAPI/CostFilter-AD', root, rows,
                 'python benchmarks/parity/costfilter.py --authors ../authors/CostFilter-AD', out=a.out,
                 note=f'seed {a.seed}; CPU; their AnomalyDINO-variant training script {SUB}/{TRAIN} and {SUB}/loss.py. '
                      'Not compared: U-Net forward (different module layout, parameter counts only), synthetic anomalies, '
                      'test-time templates/rotations/fusion (random per test image, checkpoint chosen on test).')

if __name__ == '__main__': main()
