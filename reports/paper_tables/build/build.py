"""Rebuild reports/paper_tables/*.csv: keep the rows transcribed before (issue 15), apply the fixes of `fixes.py`,
and (re)generate the tables added in issue 20 from the papers' text (`costfilter.py`, `fbft.py`, `adpretrain.py`).

  cd reports/paper_tables/build && python build.py && python readme.py      (ADNB_PAPERS: folder of the papers' .txt)

Idempotent: rows of a generated (table, metric) are dropped before the generator adds them again."""
import sys
from collections import Counter
from common import TABLES, KEY, read_csv, write_csv, paper_text
import costfilter, fbft, adpretrain, fixes, checks

FILES = ('patchcore', 'padim', 'fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain')
PAPER_OF = lambda table: {'FAPM': 'fapm', 'FBFT': 'fbft', 'DFM': 'dfm', 'CostFilter': 'costfilter', 'ADPretrain': 'adpretrain'}[table.split()[0]]

def main()->int:
    rows = {f: [fixes.fix(r) for r in read_csv(TABLES/f'{f}.csv')] for f in FILES}
    every = [r for f in FILES for r in rows[f]]
    new = costfilter.build(rows['costfilter']) + fbft.build(every) + adpretrain.build(every)
    gen = {(r['table'], r['metric']) for r in new}
    for f in FILES: rows[f] = [r for r in rows[f] if (r['table'], r['metric']) not in gen]
    for r in new: rows[r['paper']].append(r)
    every = [r for f in FILES for r in rows[f]]
    checks.means(new)
    checks.across(every, 'CostFilter Table 2', 'CostFilter Table 9'); checks.across(every, 'CostFilter Table 2', 'CostFilter Table 10')
    texts = {p: paper_text(p) for p in ('fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain')}
    missing = [r for r in new if not checks.found(r, texts[PAPER_OF(r['table'])])]
    dup = [k for k, n in Counter(tuple(r[c] for c in KEY) for r in every).items() if n > 1]
    if missing or dup:
        print(f'{len(missing)} value(s) not found verbatim, {len(dup)} duplicate key(s):', *(missing[:5] + dup[:5]), sep='\n  '); return 1
    for f in FILES: write_csv(TABLES/f'{f}.csv', rows[f])
    print(f'{len(every)} rows ({len(new)} generated):', dict(Counter(r['paper'] for r in every)))
    return 0

if __name__ == '__main__': sys.exit(main())
