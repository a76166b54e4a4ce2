"""Refresh the stored output of each method lesson's `stage_table(...)` cell from the current stages_*.json records.

    python benchmarks/lesson_stage_outputs.py            # every nbs/1*_*.ipynb that has such a cell
    python benchmarks/lesson_stage_outputs.py --check    # exit 1 when a stored table differs from the records

The lessons show "where the time goes" with `adnb.docs.stage_table(METHOD)`, which reads reports/records. nbdev-test
runs the cell, but the notebook keeps the output it was saved with, and that is what the docs site, GitHub and a
reader who does not run the cell see. This writes the table the records give now into that cell's output (the same
`text/markdown` + `text/plain` pair Jupyter stores), so a refreshed record reaches the lesson without re-running it.
"""
from __future__ import annotations
import argparse, json, os, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def refresh(nb_path:Path, check:bool=False)->bool:
    "True when the notebook's stage_table output changed (or would change, with check)."
    from adnb.docs import stage_table
    nb = json.loads(nb_path.read_text()); changed = False
    for c in nb['cells']:
        src = ''.join(c['source'])
        m = re.search(r"stage_table\('([a-z]+)'\)", src)
        if c['cell_type'] != 'code' or not m: continue
        md = stage_table(m.group(1), ROOT/'reports'/'records').data
        out = [dict(output_type='execute_result', execution_count=None, metadata={},
                    data={'text/markdown': md.splitlines(keepends=True), 'text/plain': ['<IPython.core.display.Markdown object>']})]
        old = [o.get('data', {}).get('text/markdown') for o in c.get('outputs', [])]
        if old != [out[0]['data']['text/markdown']]: changed = True; c['outputs'] = out
    if changed and not check:
        tmp = nb_path.with_suffix('.ipynb.tmp'); tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n'); os.replace(tmp, nb_path)
    return changed

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0]); ap.add_argument('--check', action='store_true')
    a = ap.parse_args()
    stale = [p.name for p in sorted((ROOT/'nbs').glob('1*_*.ipynb')) if refresh(p, a.check)]
    print(('stale: ' if a.check else 'refreshed: ') + (', '.join(stale) or 'none'))
    sys.exit(1 if a.check and stale else 0)
