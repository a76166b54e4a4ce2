"""ADPretrain parity: the released losses (xcyao00/ADPretrain, read through a fork with the author's upload) and
`adnb.adpretrain` on the same inputs.

    python benchmarks/parity/adpretrain.py --authors PATH

Components (their function, called from their checkout's `losses/`, vs ours), on seeded features of the widths of
Lite0's blocks.2 / blocks.4 (40 / 112 channels), scaled into the loss's regime (compressed norms spread around the
radius 0.4, as the median-norm feature scaling gives), about 10 % of the positions anomalous:
- norm loss, released form: `losses.norm_loss.calculate_norm_loss(features, mask)` vs `norm_loss(z, m, variant='code')`
  (value and gradient), with anomalies, without anomalies, and with every anomaly already beyond r + Δr;
- norm loss, paper form (eqs. 3–6, `variant='paper'`) vs their code: a deliberate difference (the paper's
  √(‖x‖² + 1) − 1, fixed radius, no lower band, mean over all N); the size of the difference is recorded;
- angle loss: `losses.angle_loss.calculate_angle_loss(f1, f2, masks, center, 0.15)` vs `angle_loss(..., anchors='both')`
  averaged (value and gradient), with and without a centre; and the paper's view-1 anchors vs theirs.
Not compared: their projector and training loop (DINOv2/CLIP weights, RealIAD, CUDA/bf16)."""
from __future__ import annotations
import argparse, sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import authors_on_path, diff, row, write_record

REPO = 'xcyao00/ADPretrain'

def features(C:int, N:int=512, frac:float=.1, seed:int=0)->tuple[torch.Tensor, torch.Tensor]:
    "Seeded (N, C) features with compressed norms √(‖x‖ + 1) − 1 spread over about 0.1–1.5, and 0/1 labels."
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(N, C, generator=g), dim=1)
    n = 0.1 + 1.4 * torch.rand(N, 1, generator=g)                # target compressed norm
    m = (torch.rand(N, generator=g) < frac).long()
    return x * ((n + 1) ** 2 - 1), m

def grad_of(f, z):
    "Value and gradient of the scalar f(z)."
    z = z.clone().requires_grad_(True); v = f(z); v.backward(); return v.detach(), z.grad

def norm_rows(NL, norm_loss)->list:
    rows = []
    for C in (40, 112):
        z, m = features(C)
        cases = {'with anomalies': (z, m), 'no anomalies': (z, torch.zeros_like(m)),
                 'anomalies beyond r + Δr': (torch.where(m[:, None].bool(), z * 40, z), m)}
        for name, (zz, mm) in cases.items():
            vt, gt = grad_of(lambda q: torch.as_tensor(NL.calculate_norm_loss(q, mm)).float(), zz)
            vo, go = grad_of(lambda q: norm_loss(q, mm, variant='code'), zz)
            rows.append(row(f'norm loss, code variant, C={C}, {name}: value', **diff(vo, vt), ours=float(vo), theirs=float(vt),
                            note='calculate_norm_loss vs norm_loss(variant="code")'))
            rows.append(row(f'norm loss, code variant, C={C}, {name}: gradient', **diff(go, gt), note='d loss / d features'))
        vp = norm_loss(z, m, variant='paper'); vt = NL.calculate_norm_loss(z, m)
        rows.append(row(f'norm loss, paper variant vs their code, C={C}', **diff(vp, torch.as_tensor(vt)), ours=float(vp), theirs=float(vt),
                        note="deliberate: eqs. 3-6 as written (sqrt(||x||^2+1)-1, r = 0.4, no lower band, mean over N) vs the released form"))
    return rows

def angle_rows(AL, angle_loss)->list:
    rows = []
    for C in (40, 112):
        z1, m = features(C, seed=1); z2 = z1 + 0.05 * torch.randn(z1.shape, generator=torch.Generator().manual_seed(2))
        c = z1[m == 0].mean(0)
        for name, cc in (('no centre', None), ('centre = mean normal feature', c)):
            vt, gt = grad_of(lambda q: AL.calculate_angle_loss(q, z2, m, cc, 0.15), z1)
            vo, go = grad_of(lambda q: angle_loss(q, z2, m, cc, 0.15, 'both').mean(), z1)
            rows.append(row(f'angle loss, both views as anchors, C={C}, {name}: value', **diff(vo, vt), ours=float(vo), theirs=float(vt),
                            note='calculate_angle_loss (mean) vs angle_loss(anchors="both").mean()'))
            rows.append(row(f'angle loss, both views as anchors, C={C}, {name}: gradient', **diff(go, gt), note='d loss / d view-1 features'))
        vp = angle_loss(z1, z2, m, None, 0.15, 'view1').mean(); vt = AL.calculate_angle_loss(z1, z2, m, None, 0.15)
        rows.append(row(f'angle loss, paper anchors (view 1 only) vs their code, C={C}', **diff(vp, vt), ours=float(vp), theirs=float(vt),
                        note='deliberate: the paper takes i <= N as anchors; the released code both views'))
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--authors', required=True, help="local checkout of the authors' ADPretrain repository")
    ap.add_argument('--out', default=None)
    a = ap.parse_args(argv)
    from adnb.adpretrain import angle_loss, norm_loss
    with authors_on_path(a.authors):
        import losses.norm_loss as NL, losses.angle_loss as AL
        rows = norm_rows(NL, norm_loss) + angle_rows(AL, angle_loss)
    note = ("seeded features, 512 positions, ~10 % anomalous, widths 40 and 112 (Lite0 blocks.2 / blocks.4), compressed norms 0.1-1.5. "
            "Repository read through the fork shirazzyy/ADPretrain (the author's upload). Not compared: projector, training loop.")
    write_record('adpretrain', REPO, a.authors, rows, 'python benchmarks/parity/adpretrain.py --authors ../authors/ADPretrain', note, a.out)

if __name__ == '__main__': main()
