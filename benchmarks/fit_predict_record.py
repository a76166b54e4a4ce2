"""Re-make one method's entry of reports/records/fit_predict_bottle.json: `adnb fit` then `adnb predict`, as a user types them.

    python benchmarks/fit_predict_record.py patchcore --why "what changed" [--data ../shared/data/mvtec_ad_256] [--category bottle]

Runs the two CLI commands (defaults: 256 px, holdout 0.2, quantile 0.99, seed 0) into a temporary folder, reads the
saved model's thresholds and holdout scores and predict's scores.csv, and replaces the method's entry of the record.
The previous entry (its thresholds and flagged counts) goes into the record's `history`, so a lesson quotes only the
current numbers. Wall time and peak memory of each command are measured from this process (children's rusage).
"""
from __future__ import annotations
import argparse, csv, datetime, json, os, resource, shlex, subprocess, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT/'reports'/'records'/'fit_predict_bottle.json'

def run(argv:list[str])->tuple[float, int, str]:
    "Wall seconds, peak RSS of the child (KB) and its output; exits when the command fails."
    print('$', shlex.join(argv), flush=True); t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0; rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if p.returncode: raise SystemExit(f"fit_predict_record: `{shlex.join(argv)}` failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
    return wall, rss, (p.stdout + p.stderr).strip()

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('method', choices=['patchcore', 'padim']); ap.add_argument('--why', required=True)
    ap.add_argument('--data', default='../shared/data/mvtec_ad_256'); ap.add_argument('--category', default='bottle')
    a = ap.parse_args(argv)
    from adnb.predict import load_fitted
    root = Path(a.data)/a.category
    if not (root/'train'/'good').is_dir(): raise SystemExit(f"fit_predict_record: no {root/'train'/'good'} (the data is not here)")
    rec = json.loads(RECORD.read_text())
    with tempfile.TemporaryDirectory() as d:
        model, pred = Path(d)/'model.pt', Path(d)/'pred'
        fit = ['adnb', 'fit', a.method, '--normal', str(root/'train'/'good'), '--out', str(model)]
        prd = ['adnb', 'predict', str(model), str(root/'test'), '--out', str(pred)]
        fw, frss, flog = run(fit); pw, prss, plog = run(prd)
        t = load_fitted(model).meta['threshold']; n_fit = load_fitted(model).meta['n_fit']
        rows = list(csv.DictReader(open(pred/'scores.csv')))
    flagged = lambda rs: sum(r['is_anomalous'] == 'True' for r in rs)
    kind = lambda r: Path(r['path']).parent.name
    good = [r for r in rows if kind(r) == 'good']; bad = [r for r in rows if kind(r) != 'good']
    by = {}
    for r in bad: by.setdefault(kind(r), []).append(r)
    entry = dict(method=a.method, commands=[shlex.join(fit).replace(str(model), '/tmp/model.pt'),
                                            shlex.join(prd).replace(str(model), '/tmp/model.pt').replace(str(pred), '/tmp/pred')],
                 date=datetime.date.today().isoformat(), why=a.why, n_fit=n_fit, holdout_n=t['n'], quantile=t['quantile'],
                 image_threshold=t['image'], pixel_threshold=t['pixel'], provenance=t['provenance'],
                 holdout_scores_sorted=[round(s, 4) for s in sorted(t['scores'])],
                 test_good_flagged=f'{flagged(good)}/{len(good)}', test_defective_flagged=f'{flagged(bad)}/{len(bad)}',
                 frac_good_flagged=flagged(good) / len(good), frac_defective_flagged=flagged(bad) / len(bad),
                 defective_flagged_by_type={k: f'{flagged(v)}/{len(v)}' for k, v in sorted(by.items())},
                 good_scores_above_threshold=sorted(round(float(r['score']), 2) for r in good if r['is_anomalous'] == 'True'),
                 lowest_defective_score=round(min(float(r['score']) for r in bad), 2),
                 fit_wall_s=round(fw, 2), predict_wall_s=round(pw, 2), peak_rss_kb_children=prss,
                 threads=os.environ.get('OMP_NUM_THREADS') or 'torch default', log=[flog, plog])
    runs, hist = rec['runs'], rec.get('history', [])
    old = next((r for r in runs if r['method'] == a.method), None)
    if old: hist.append(dict(replaced=entry['date'], why=a.why, **{k: old.get(k) for k in ('method', 'commands', 'image_threshold', 'pixel_threshold',
                                                                                          'test_good_flagged', 'test_defective_flagged', 'defective_flagged_by_type')}))
    rec['runs'] = [entry if r['method'] == a.method else r for r in runs] + ([] if old else [entry]); rec['history'] = hist
    tmp = RECORD.with_suffix('.json.tmp'); tmp.write_text(json.dumps(rec, indent=1) + '\n'); os.replace(tmp, RECORD)
    print(f"{a.method}: threshold {t['image']:.2f}; good flagged {entry['test_good_flagged']}, defective {entry['test_defective_flagged']}; "
          f"fit {fw:.1f} s, predict {pw:.1f} s; wrote {RECORD.relative_to(ROOT)}")

if __name__ == '__main__': main()
