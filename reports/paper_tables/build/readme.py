"""Rewrite the row counts in ../README.md (the 'file | rows | tables' table and the 'N numbers in all' sentence)."""
import re
from collections import Counter
from common import TABLES, read_csv

FILES = ('patchcore', 'padim', 'fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain')
num = lambda t: int(re.search(r'\d+', t).group())

def main():
    rows = {f: read_csv(TABLES/f'{f}.csv') for f in FILES}
    lines = ['| file | rows | tables (rows) |', '|---|---|---|']
    for f in FILES:
        c = Counter(r['table'] for r in rows[f])
        lines.append(f"| `{f}.csv` | {len(rows[f])} | " + ', '.join(f'{t} ({n})' for t, n in sorted(c.items(), key=lambda kv: (kv[0].split()[0], num(kv[0].split()[-1])))) + ' |')
    p = TABLES/'README.md'; s = p.read_text()
    s = re.sub(r'\| file \| rows \| tables \(rows\) \|\n(?:\|.*\|\n)+', '\n'.join(lines) + '\n', s)
    s = re.sub(r'\b\d+ numbers in all\b', f'{sum(map(len, rows.values()))} numbers in all', s)
    p.write_text(s)

if __name__ == '__main__': main()
