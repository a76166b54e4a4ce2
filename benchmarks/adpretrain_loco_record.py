"""Condense the leave-one-category-out ADPretrain grid (grids/adpretrain_loco.yaml) into reports/records/adpretrain_loco.json:
per-seed rows (category, detector, features = arm, seed, metrics, n_test, CPU seconds), the paired differences of every
arm against residual-only (mean and sample sd over seeds, per category and detector, and over categories), the CPU
cost of each arm and a summary of every pretraining (steps, seconds, held-out norm-AUROC at init and at the end).

    python benchmarks/adpretrain_loco_record.py --root /tmp/adp_loco/batch [--out reports/records/adpretrain_loco.json]
"""
import argparse, json, statistics, time
from pathlib import Path

METRICS = ('image_auroc', 'pixel_auroc', 'pixel_ap', 'aupro_30')
KEEP = ('category', 'detector', 'features', 'arm', 'expid', 'seed', 'pretrain_seed', 'setting', 'shots', 'n_refs', *METRICS, 'image_ap',
        'aupro_5', 'n_test', 'n_train', 'refs', 'scale', 'fit_s', 'eval_s', 'ms_per_image', 'pretrain_s', 'pretrain_steps', 'pretrain_categories',
        'backbone', 'image_size', 'crop', 'profile', 'method')
BASE = 'residual'

def sd(xs): return statistics.stdev(xs) if len(xs) >= 2 else None

def paired(rows:list, arm:str, base:str=BASE, setting:str='full', shots=None)->list:
    "arm − base per seed (same category, detector, seed, setting), then mean and sample sd over seeds; also over categories (per seed first)."
    key = lambda r: (r['category'], r['detector'], r['seed'])
    sel = lambda f: {key(r): r for r in rows if r['features'] == f and r['setting'] == setting and (shots is None or r['shots'] == shots)}
    A, B = sel(arm), sel(base); out = []
    for m in METRICS:
        d = {k: A[k][m] - B[k][m] for k in A if k in B and A[k].get(m) is not None and B[k].get(m) is not None}
        for det in sorted({k[1] for k in d}):
            cats = sorted({k[0] for k in d if k[1] == det})
            for c in cats:
                v = [d[k] for k in sorted(d) if k[:2] == (c, det)]
                out.append(dict(comparison=f'{arm} - {base}', setting=setting, shots=shots, metric=m, detector=det, category=c, n_seeds=len(v),
                                mean=statistics.fmean(v), sd=sd(v), per_seed=v))
            seeds = sorted({k[2] for k in d if k[1] == det and all((c, det, k[2]) in d for c in cats)})
            if len(cats) > 1 and seeds:
                v = [statistics.fmean(d[(c, det, s)] for c in cats) for s in seeds]
                out.append(dict(comparison=f'{arm} - {base}', setting=setting, shots=shots, metric=m, detector=det, category='mean:' + ','.join(cats),
                                n_seeds=len(v), mean=statistics.fmean(v), sd=sd(v), per_seed=v))
    return out

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--root', required=True); ap.add_argument('--out', default='reports/records/adpretrain_loco.json')
    ap.add_argument('--grid', default='grids/adpretrain_loco.yaml'); a = ap.parse_args()
    runs = sorted(Path(a.root).glob('adpretrain/*/results.json'))
    rows, pre, cost, params = [], [], {}, None
    for p in runs:
        r = json.loads(p.read_text()); run = json.loads((p.parent/'run.json').read_text()) if (p.parent/'run.json').exists() else {}
        P = r['params']; params = params or P
        for x in r['results']:
            rows.append({k: x.get(k) for k in KEEP} | dict(dataset='mvtec_ad', run=p.parent.name))
        arms = sorted({x['features'] for x in r['results']})
        c = cost.setdefault(' + '.join(arms), dict(runs=0, run_s=[], pretrain_s=[], eval_s={}))
        c['runs'] += 1; c['run_s'].append(run.get('seconds'))
        if r['pretrain'].get('steps'): c['pretrain_s'].append(r['pretrain']['pretrain_s'])
        for f in arms:                                   # seconds of fitting + scoring every detector on this feature set, per run
            c['eval_s'].setdefault(f, []).append(sum(x['eval_s'] for x in r['results'] if x['features'] == f))
        if r['pretrain'].get('steps'):
            H = r['pretrain']['history']
            pre.append(dict(category=P['category'], seed=P['seed'], pretrain_seed=P['pretrain_seed'], features=P['pretrained_label'], variant=r['pretrain']['variant'],
                            lr=r['pretrain']['lr'], steps=r['pretrain']['steps'], pretrain_s=r['pretrain']['pretrain_s'], n_items=r['pretrain'].get('n_items'),
                            n_val=r['pretrain'].get('n_val'), categories=r['pretrain']['categories'], sources=r['pretrain'].get('sources'),
                            textures=r['pretrain'].get('textures'), category_scales=r['pretrain'].get('category_scales'),
                            val_auroc_residual=H[0].get('val_auroc_residual'), val_auroc=[e.get('val_auroc') for e in H],
                            val_loss=[e.get('val_loss') for e in H], loss=[e.get('loss') for e in H], run=p.parent.name))
    arms = sorted({r['features'] for r in rows} - {BASE})
    summary = [x for f in arms for x in paired(rows, f)]
    summary += [x for f in ('pretrained-paper', 'pretrained-ours') if f in arms for x in paired(rows, f, 'residual+random-projector')]
    summary += [x for K in sorted({r['shots'] for r in rows if r['setting'] == 'fewshot'}) for f in arms for x in paired(rows, f, setting='fewshot', shots=K)]
    for c in cost.values():
        c['eval_s'] = {f: dict(mean_per_run=statistics.fmean(v), total=sum(v)) for f, v in c['eval_s'].items()}
        c['run_s'] = dict(mean=statistics.fmean(x for x in c['run_s'] if x), total=sum(x for x in c['run_s'] if x)) if any(c['run_s']) else None
        c['pretrain_s'] = dict(mean=statistics.fmean(c['pretrain_s']), total=sum(c['pretrain_s'])) if c['pretrain_s'] else None
    rec = dict(experiment='adpretrain',
               command=f"OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 adnb batch {a.grid} --root BATCH --no-progress && python benchmarks/adpretrain_loco_record.py --root BATCH",
               date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), n_runs=len(runs),
               params={k: params.get(k) for k in ('profile', 'dataset', 'backbone', 'layers', 'image_size', 'crop', 'n_ref', 'batch_size', 'max_steps',
                                                   'max_anchors', 'scale', 'scale_images', 'refs', 'shots', 'fewshot', 'fewshot_detectors', 'detectors',
                                                   'coreset_ratio', 'num_neighbors', 'padim_d', 'featurenorm_norm', 'sigma', 'metric', 'synthetic',
                                                   'textures', 'val_frac')} | dict(data_root='../shared/data/mvtec_ad_256', pretrain_root='../shared/data') if params else {},
               results=rows, paired=summary, cost=cost, pretraining=pre)
    Path(a.out).write_text(json.dumps(rec, indent=1, default=str))
    print(f'{len(runs)} runs, {len(rows)} rows -> {a.out}')
    for x in summary:
        if x['setting'] == 'full' and x['category'].startswith('mean') and x['metric'] in ('image_auroc', 'aupro_30'):
            print(f"{x['comparison']:45s} {x['detector']:11s} {x['metric']:11s} {x['mean']:+.3f} ± {x['sd'] if x['sd'] is None else round(x['sd'], 3)} ({x['n_seeds']} seeds)")

if __name__ == '__main__': main()
