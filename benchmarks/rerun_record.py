"""Re-run a record's `adnb run` command with the current code and rewrite the record, keeping the old numbers.

    python benchmarks/rerun_record.py NAME [NAME ...] --why "what changed" [--seeds 0,1,2] [--dry-run]

NAME is a file in reports/records (without .json) whose `command` is an `adnb run ...` line. The command is made
rerunnable first (a leading `flock LOCK` or `env VAR=VALUE ...` and `--reports DIR` dropped, absolute paths to the shared data made relative),
run from the repository root into a temporary reports folder, and its `results.json` replaces the record's
`results`, `params`, `env` and `profile`; `note` says why it was re-run, `about` keeps the first note (what the run
is: data, protocol, set-up). The previous values go into the record's `history` list (date, the reason,
the old command, the old result rows' metrics), so a lesson quotes only the current numbers and the old ones stay
findable. With `--seeds`, the command is run once per seed (`-p seed S`) and every seed's rows are kept
(`seed` field in each row), so metrics on small test sets come with their coreset-seed spread.
"""
from __future__ import annotations
import argparse, datetime, json, os, re, shlex, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT/'reports'/'records'
METRICS = ('image_auroc', 'image_ap', 'pixel_auroc', 'pixel_ap', 'aupro_30', 'aupro_5')

def rerunnable(cmd:str)->list[str]:
    "The record's command as an argv for this checkout: no flock prefix, no --reports, shared data paths relative."
    cmd = re.sub(r'^(?:\S*/)?flock\s+\S+\s+', '', cmd.strip())
    cmd = re.sub(r'^env\s+(?:[A-Z_][A-Z0-9_]*=\S*\s+)+', '', cmd)    # `env OMP_NUM_THREADS=1 ... adnb run`: thread caps are the caller's to set
    cmd = re.sub(r'/work/shared/', '../shared/', cmd)
    argv = shlex.split(cmd)
    if argv[:2] != ['adnb', 'run']: raise SystemExit(f"rerun_record: the command is not `adnb run ...`: {cmd}")
    out, skip = [], False
    for a in argv:
        if skip: skip = False; continue
        if a == '--reports': skip = True; continue
        if a == '--no-progress': continue
        out.append(a)
    return out

def with_seed(argv:list[str], seed:int)->list[str]:
    "argv with `-p seed SEED` (replacing one already there)."
    out, i = [], 0
    while i < len(argv):
        if argv[i] in ('-p', '--param') and i + 2 < len(argv) + 1 and argv[i+1] == 'seed': i += 3; continue
        out.append(argv[i]); i += 1
    return out + ['-p', 'seed', str(seed)]

def run(argv:list[str])->dict:
    "Run one `adnb run` into a temporary reports folder; its results.json."
    with tempfile.TemporaryDirectory() as d:
        full = argv + ['--reports', d, '--no-progress']
        print('$', shlex.join(full), flush=True)
        p = subprocess.run(full, cwd=ROOT)
        if p.returncode: raise SystemExit(f"rerun_record: the command failed (exit {p.returncode})")
        found = sorted(Path(d).rglob('results.json'))
        if len(found) != 1: raise SystemExit(f"rerun_record: expected one results.json under the run folder, found {len(found)}")
        return json.loads(found[0].read_text())

def summary(rows:list)->list:
    "The metric part of each result row (what history keeps)."
    keep = ('category', 'method', 'row', 'protocol', 'detector', 'features', 'seed', 'shots', 'setting')
    return [{k: r[k] for k in keep + METRICS if k in r} for r in rows]

def rerun(name:str, why:str, seeds:list[int]|None=None, dry:bool=False)->Path:
    path = RECORDS/f'{name}.json'
    rec = json.loads(path.read_text())
    if 'command' not in rec: raise SystemExit(f"rerun_record: {path} has no `command`")
    argv = rerunnable(rec['command'])
    runs = [(s, with_seed(argv, s)) for s in seeds] if seeds else [(None, argv)]
    if dry:
        for _, a in runs: print(shlex.join(a))
        return path
    res = [(s, run(a)) for s, a in runs]
    rows = [dict(r, seed=s) if s is not None else r for s, out in res for r in out['results']]
    old = dict(date=rec.get('date'), replaced=datetime.date.today().isoformat(), why=why, command=rec['command'],
               note=rec.get('note'), results=summary(rec.get('results', [])))
    new = {k: v for k, v in rec.items() if k not in ('results', 'params', 'env', 'profile', 'history', 'note', 'date', 'command')}
    first = res[0][1]
    about = rec.get('about') or (rec.get('note') if rec.get('note') and not rec.get('history') else None)   # what the run is (set-up), kept across re-runs
    if about: new['about'] = about
    new.update(command=shlex.join(argv), date=datetime.date.today().isoformat(), note=why,
               experiment=first.get('experiment', rec.get('experiment')), profile=first.get('profile'), params=first.get('params'),
               env=first.get('env'), results=rows)
    for k, v in first.items():                     # tables and extras the experiment writes beside the rows (seed 0's)
        if k not in ('results', 'params', 'env', 'profile', 'experiment') and k in rec: new[k] = v
    if seeds: new.update(seeds=seeds, seeds_note=f"the command was run once per seed with `-p seed S` (python benchmarks/rerun_record.py {name} --seeds {','.join(map(str, seeds))})")
    new['history'] = rec.get('history', []) + [old]
    tmp = path.with_suffix('.json.tmp'); tmp.write_text(json.dumps(new, indent=1) + '\n'); os.replace(tmp, path)
    print(f'wrote {path.relative_to(ROOT)}: {len(rows)} rows')
    return path

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('names', nargs='+'); ap.add_argument('--why', required=True)
    ap.add_argument('--seeds', default=None, help='comma-separated seeds, e.g. 0,1,2'); ap.add_argument('--dry-run', action='store_true')
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(',')] if a.seeds else None
    for n in a.names: rerun(n, a.why, seeds, a.dry_run)
