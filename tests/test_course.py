"""The course: every lesson has its learning goals, a See it work section with stored, captioned figures, exercises with
folded solutions and what to try next, within the size budget; the slow test runs every exercise with its solution."""
import base64, json, re
from pathlib import Path
import pytest

NBS = Path(__file__).parents[1]/'nbs'
LESSONS = ['10_patchcore', '11_padim', '12_fapm', '13_fbft', '14_dfm', '15_anomalydino', '16_costfilter', '17_adpretrain']
START = NBS/'course'/'00_start_here.ipynb'
MAX_BYTES = 1_500_000

def _nb(p): return json.loads(Path(p).read_text())
def _src(c): return ''.join(c['source'])
def _heads(nb): return [(_src(c).splitlines() or [''])[0] if c['cell_type'] == 'markdown' else None for c in nb['cells']]

def _section(nb, title):
    "Cells from the `## title` heading to the next `## ` heading."
    cells, on = [], False
    for c in nb['cells']:
        if c['cell_type'] == 'markdown' and _src(c).startswith('## '): on = _src(c).startswith(f'## {title}')
        elif on: cells.append(c)
    return cells

def _pngs(cells): return [o for c in cells for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]

@pytest.mark.parametrize('name', LESSONS)
def test_lesson_shape(name):
    p = NBS/f'{name}.ipynb'; nb = _nb(p); heads = _heads(nb)
    title = next(i for i, h in enumerate(heads) if h and h.startswith('# '))
    assert heads[title + 1] == '## Learning goals'                                   # right after the title
    order = [next(i for i, h in enumerate(heads) if h and h.startswith(f'## {t}'))
             for t in ('Learning goals', 'See it work', 'Measured on real data', 'Exercises', 'What to try next', 'Paper-vs-code ledger')]
    assert order == sorted(order), f'{name}: sections out of the lesson order {order}'
    assert p.stat().st_size <= MAX_BYTES, f'{name} is {p.stat().st_size:,} bytes'

@pytest.mark.parametrize('name', LESSONS)
def test_see_it_work_stores_captioned_figures(name):
    cells = _section(_nb(NBS/f'{name}.ipynb'), 'See it work')
    code = [c for c in cells if c['cell_type'] == 'code']
    assert 'embedded' in _src(code[0])                                               # runs on the embedded dataset
    pngs = _pngs(code)
    assert len(pngs) >= 3, f'{name}: {len(pngs)} stored PNG figures (maps, KDE, the method picture)'
    assert all(base64.b64decode(o['data']['image/png'])[:4] == b'\x89PNG' for o in pngs)
    for c in code:                                                                   # a caption right under every figure
        outs = c.get('outputs', [])
        for i, o in enumerate(outs):
            if 'image/png' in o.get('data', {}):
                nxt = outs[i + 1]['data'].get('text/plain', '') if i + 1 < len(outs) and 'data' in outs[i + 1] else ''
                assert str(nxt if isinstance(nxt, str) else ''.join(nxt)).startswith('Figure. '), f'{name}: a figure without caption'
    assert not [o for c in code for o in c.get('outputs', []) if o.get('output_type') == 'error']

@pytest.mark.parametrize('name', [*LESSONS, 'course/00_start_here'])
def test_exercises_have_checks_and_folded_solutions(name):
    nb = _nb(NBS/f'{name}.ipynb'); cells = _section(nb, 'Exercises')
    ex = [c for c in cells if c['cell_type'] == 'code' and _src(c).startswith('# Exercise')]
    assert 2 <= len(ex) <= 3
    for n, c in enumerate(ex, 1):
        s = _src(c); var = re.search(r'^(\w+) = None', s, re.M).group(1)
        assert f'if {var} is not None:' in s and 'assert ' in s and f"Exercise {n}: correct" in s
        i = cells.index(c); sol = _src(cells[i + 1])
        assert sol.startswith(f'<details><summary>Solution {n}</summary>') and f'{var} = ' in sol and sol.rstrip().endswith('</details>')
    nxt = next(_src(c) for c in nb['cells'] if _src(c).startswith('## What to try next'))
    assert 'adnb run' in nxt and ('-p ' in nxt or name.startswith('course'))     # points at experiment parameters

def test_start_here_and_reading_order():
    nb = _nb(START); heads = [h for h in _heads(nb) if h]
    for t in ('# Start here', '## How this course works', '## The task', '## The MVTec AD protocol', '## The metrics', '## Exercises', '## What to try next'):
        assert t in heads, t
    assert len(_pngs(nb['cells'])) >= 3 and START.stat().st_size <= MAX_BYTES
    from adnb.docs import COURSE
    readme = (NBS/'course'/'README.md').read_text()
    links = re.findall(r'\]\((?:\.\./)?([\w/]+)\.ipynb\)', readme)
    assert links == ['00_start_here', *COURSE[1:]]                                  # one reading order, README and site
    for l in links: assert (NBS/'course'/f'{l}.ipynb').exists() or (NBS/f'{l}.ipynb').exists(), l

def _run_with_solutions(path:Path)->str:
    "Execute a notebook like nbdev-test (from its folder, slow/cuda cells skipped), each exercise with its folded solution; all stdout."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from adnb.docs import directives
    nb = _nb(path); sh = CaptureShell(path=path.parent); out = []
    cells = nb['cells']
    with working_directory(path.parent):                                           # records are read as ../reports/...
        for i, c in enumerate(cells):
            if c['cell_type'] != 'code' or directives(_src(c)).keys() & {'slow', 'cuda'}: continue
            s = _src(c)
            if s.startswith('# Exercise'):
                var = re.search(r'^(\w+) = None.*$', s, re.M)
                sol = re.search(r'```python\n(.*?)\n```', _src(cells[i + 1]), re.S).group(1)
                s = s.replace(var.group(0), sol)
            for o in sh.run(s):
                if o.get('output_type') == 'error': raise AssertionError(f"{path.name} cell {i}: {o['ename']}: {o['evalue']}")
                if 'text' in o: out.append(''.join(o['text']))
    return ''.join(out)

@pytest.mark.slow
@pytest.mark.parametrize('path', [START, *[NBS/f'{n}.ipynb' for n in LESSONS]], ids=lambda p: p.stem)
def test_solutions_are_correct(path):
    out = _run_with_solutions(path)
    n = len([c for c in _nb(path)['cells'] if c['cell_type'] == 'code' and _src(c).startswith('# Exercise')])
    for k in range(1, n + 1): assert f'Exercise {k}: correct' in out, (k, out[-2000:])
