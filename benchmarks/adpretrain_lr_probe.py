"Learning-rate probe for ADPretrain pretraining on the held-out validation split of the pretraining pool (never the evaluation category)."
import json, sys, time, argparse, torch
from adnb.adpretrain import ADPretrain, pretrain
from adnb.datasets import make_embedded, load_records
ap = argparse.ArgumentParser(); ap.add_argument('--lrs', default='1e-4,1e-3,3e-3'); ap.add_argument('--steps', type=int, default=40)
ap.add_argument('--n_ref', type=int, default=512); ap.add_argument('--batch', type=int, default=32); ap.add_argument('--variant', default='code')
ap.add_argument('--out', default='reports/records/adpretrain_lr_probe.json'); a = ap.parse_args()
torch.set_num_threads(1)
root = make_embedded()
recs = [r for c in ('brick', 'grass', 'gravel', 'puck') for r in load_records('embedded', c, str(root))]
out = dict(command='OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/adpretrain_lr_probe.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
           note='Pretraining pool: embedded brick, grass, gravel, puck; 20 % of normals held out per category + one synthetic anomaly each = the validation split. '
                'Lite0 blocks.2+4, 256 -> 224, max_anchors 2048, seed 42. Selection by the held-out norm-AUROC after the probe steps (loss as tie-break).', runs=[])
for lr in [float(x) for x in a.lrs.split(',')]:
    m = ADPretrain(n_ref=a.n_ref, seed=42)
    h = pretrain(m, recs, 'bottle', epochs=1000, batch_size=a.batch, lr=lr, variant=a.variant, max_anchors=2048, max_steps=a.steps, seed=42, progress=True)
    H = [{k: v for k, v in e.items() if k != 'val_auroc_levels'} for e in h['history']]
    out['runs'].append(dict(lr=lr, steps=h['steps'], pretrain_s=h['pretrain_s'], scales=h['scales'], history=H))
    print(lr, 'val_auroc', [round(e['val_auroc'], 4) for e in H], 'val_loss', [round(e['val_loss'], 3) for e in H], flush=True)
    json.dump(out, open(a.out, 'w'), indent=1)
