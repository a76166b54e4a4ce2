"""Re-execute chosen cells of a lesson and store their fresh outputs, after the records they read have changed.

    python benchmarks/refresh_cell_outputs.py nbs/12_fapm.ipynb b7e12c04 [CELL_ID ...] [--setup "import ..."]

A lesson cell such as `pd.DataFrame(json.loads(Path('../reports/records/X.json').read_text()))` shows a record; the
notebook keeps the output it was saved with, and that is what the docs site and a reader who does not run it see.
This runs, in a fresh kernel from the notebook's folder, the notebook's `#| export` and import cells (definitions
only: cells whose first line is `#| export`, or that only import), an optional `--setup` line, then the chosen cells,
and writes their outputs back (atomically). It refuses a cell id the notebook does not have, and a cell that raises.
"""
from __future__ import annotations
import argparse, json, os, re, sys
from pathlib import Path

def _is_setup(src:str)->bool:
    lines = [l for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#')]
    return src.lstrip().startswith('#| export') or (bool(lines) and all(re.match(r'\s*(from\s+\S+\s+)?import\s', l) for l in lines))

def refresh(nb_path:Path, ids:list[str], setup:str='')->None:
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(nb_path, as_version=4)
    byid = {c.get('id'): c for c in nb.cells}
    if missing := [i for i in ids if i not in byid]: raise SystemExit(f"refresh_cell_outputs: {nb_path} has no cell {missing[0]!r}")
    cells = [nbformat.v4.new_code_cell(c.source) for c in nb.cells if c.cell_type == 'code' and c.get('id') not in ids and _is_setup(c.source)]
    if setup: cells.append(nbformat.v4.new_code_cell(setup))
    run = [nbformat.v4.new_code_cell(byid[i].source) for i in ids]
    tmp = nbformat.v4.new_notebook(cells=cells + run, metadata=nb.metadata)
    NotebookClient(tmp, timeout=600, resources={'metadata': {'path': str(nb_path.parent)}}).execute()
    for i, c in zip(ids, run):
        if err := [o for o in c.outputs if o.output_type == 'error']: raise SystemExit(f"refresh_cell_outputs: cell {i} raised {err[0].ename}: {err[0].evalue}")
        for o in c.outputs:
            if 'execution_count' in o: o['execution_count'] = None
        byid[i].outputs = c.outputs; byid[i].execution_count = None
    out = nb_path.with_suffix('.ipynb.tmp'); nbformat.write(nb, out); os.replace(out, nb_path)
    print(f"{nb_path}: refreshed {', '.join(ids)}")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('notebook'); ap.add_argument('cells', nargs='+'); ap.add_argument('--setup', default='')
    a = ap.parse_args()
    refresh(Path(a.notebook), a.cells, a.setup)
