"""Fault audit (issue 30): bad input and faults across the CLI and the API, each outcome classified.

    python benchmarks/fault_audit.py [--out reports/records/fault_audit.json] [--only WORD] [--verbose]

Every case gives an input that must be refused (`refuse`) or that must work (`ok`), and the words a good refusal names
(the file, key or parameter). Outcomes:
  clear    refused with one `adnb:` line (or an exception of the library's error types) naming what is wrong, and the
           case's post-condition holds (nothing written, nothing lost)
  correct  an input that must work did, with the right result
  silent   exit 0 / no exception where a refusal was due, or a wrong result
  crash    a traceback, adnb's catch-all "unexpected ... this is a bug in adnb", or a Python error type (IndexError,
           TypeError, ...) from the API
  unclear  refused, but the message does not name the thing (or is not one `adnb:` line), or a post-condition failed
Runs on CPU in a few minutes (two tiny fitted models, a few kernels); needs root only for the full-disk cases (tmpfs).
"""
from __future__ import annotations
import argparse, contextlib, io, json, os, shutil, signal, struct, subprocess, sys, tempfile, time, traceback, zlib
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, '-c', 'from adnb.cli import main; main()']
CASES = []

def case(cls, name, expect='refuse', words=(), kind='cli'):
    "Register a case: the function returns argv (cli), a callable (api) or a (argv, kwargs) for a subprocess (sub)."
    def deco(fn): CASES.append(dict(cls=cls, name=name, expect=expect, words=tuple(words), kind=kind, fn=fn)); return fn
    return deco

# --- fixtures ------------------------------------------------------------------------------------------------------
class Ctx:
    "Scratch folder, embedded puck, fitted models, helpers; `t()` is a fresh folder per case."
    def __init__(self, base:Path):
        from adnb.datasets import make_embedded
        from adnb.predict import fit_folder
        self.base = base; self.n = 0
        (base/'settings.ini').write_text('[data]\n'); os.environ['ADNB_SETTINGS'] = str(base/'settings.ini')
        os.environ['ADNB_EMBEDDED'] = str(base/'embedded')
        self.puck = make_embedded(base/'emb')/'puck'
        self.good, self.test = self.puck/'train'/'good', self.puck/'test'
        self.img = self.test/'good'/'000.png'
        with contextlib.redirect_stderr(io.StringIO()):
            self.padim = fit_folder('padim', self.good, base/'padim.pt', image_size=64, d=30, weights='random')['out']
            self.pc = fit_folder('patchcore', self.good, base/'pc.pt', image_size=64, weights='random')['out']
    def t(self)->Path:
        self.n += 1; d = self.base/f'c{self.n:03d}'; d.mkdir(); return d

def report_nb(path:Path, states=None, exception=False, status=None)->Path:
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Report'), nbformat.v4.new_code_cell('6*7')])
    nb.cells[1].outputs = [nbformat.v4.new_output('execute_result', {'text/plain': '42'}, execution_count=1)]
    if states is not None:
        nb.metadata['papermill'] = dict(exception=exception)
        nb.cells[1].metadata['papermill'] = dict(status=states)
    if status: nb.metadata['adnb'] = dict(status=status)
    path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path); return path

def run_folder(d:Path, name='20260101-000000', partial=False, run=True, states='completed', status=None, results='{}', exception=False):
    f = d/'patchcore'/(name + ('.partial' if partial else '')); f.mkdir(parents=True)
    nb = report_nb(f/'patchcore.ipynb', states, exception, status)
    (f/'parameters.json').write_text('{}')
    if results is not None: (f/'results.json').write_text(results)
    if run: (f/'run.json').write_text(json.dumps(dict(status='done' if run is True else run, experiment='patchcore')))
    return nb

def png_header(path:Path, w:int, h:int)->Path:
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                     + chunk(b'IDAT', zlib.compress(b'\0' * (3 * w + 1))) + chunk(b'IEND', b''))
    return path

def tamper(c:Ctx, d:Path, fn, src=None)->Path:
    import torch
    ck = torch.load(src or c.pc, weights_only=True); fn(ck); torch.save(ck, d/'bad.pt'); return d/'bad.pt'

def tiny_nb(path:Path, body:str, params="seed = 0", specs=None)->Path:
    import nbformat
    p = nbformat.v4.new_code_cell(params); p.metadata['tags'] = ['parameters']
    cells = [p] + ([nbformat.v4.new_code_cell(specs)] if specs else []) + [nbformat.v4.new_code_cell(body)]
    if specs: cells[1].metadata['tags'] = ['parameter-specs']
    nb = nbformat.v4.new_notebook(cells=cells, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')))
    path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path); return path

def files(d:Path)->dict: return {str(p.relative_to(d)): p.stat().st_size for p in sorted(d.rglob('*')) if p.is_file()}

# --- overwrites and loss ---------------------------------------------------------------------------------------------
@case('overwrites', 'export -o an existing HTML file', words=('old.html', 'exists'))
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'old.html').write_text('keep'); return ['export', nb, '-o', d/'old.html'], lambda: (d/'old.html').read_text() == 'keep'
@case('overwrites', 'export -o an existing results.json', words=('results.json',))
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'results.json').write_text('{}'); return ['export', nb, '-o', d/'results.json'], lambda: (d/'results.json').read_text() == '{}'
@case('overwrites', 'export -o the notebook itself', words=('r.ipynb', 'notebook itself'))
def _(c, d): nb = report_nb(d/'r.ipynb'); s = nb.read_text(); return ['export', nb, '-o', nb], lambda: nb.read_text() == s
@case('overwrites', 'export -o the notebook itself --overwrite', words=('r.ipynb', 'notebook itself'))
def _(c, d): nb = report_nb(d/'r.ipynb'); s = nb.read_text(); return ['export', nb, '-o', nb, '--overwrite'], lambda: nb.read_text() == s
@case('overwrites', 'export -o results.json --overwrite (not HTML)', words=('results.json', '.html'))
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'results.json').write_text('{}'); return ['export', nb, '-o', d/'results.json', '--overwrite'], lambda: (d/'results.json').read_text() == '{}'
@case('overwrites', 'export beside the notebook where an HTML exists', words=('r.html', 'exists'))
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'r.html').write_text('keep'); return ['export', nb], lambda: (d/'r.html').read_text() == 'keep'
@case('overwrites', 'export -o an existing HTML --overwrite replaces it', expect='ok')
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'o.html').write_text('old'); return ['export', nb, '-o', d/'o.html', '--overwrite'], lambda: '42' in (d/'o.html').read_text()
@case('overwrites', 'export -o FOLDER/ where FOLDER/<stem>.html exists', words=('r.html', 'exists'))
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'o').mkdir(); (d/'o'/'r.html').write_text('keep'); return ['export', nb, '-o', f'{d}/o/'], lambda: (d/'o'/'r.html').read_text() == 'keep'
@case('overwrites', 'export -o another existing notebook', words=('other.ipynb', 'exists'))
def _(c, d): nb = report_nb(d/'r.ipynb'); o = report_nb(d/'other.ipynb'); s = o.read_text(); return ['export', nb, '-o', o], lambda: o.read_text() == s
@case('overwrites', 'export -o a symlink to the notebook --overwrite', words=('notebook itself',))
def _(c, d): nb = report_nb(d/'r.ipynb'); os.symlink(nb, d/'l.html'); s = nb.read_text(); return ['export', nb, '-o', d/'l.html', '--overwrite'], lambda: nb.read_text() == s
@case('overwrites', 'export -o a dangling symlink', words=('dangling.html', 'exists'))
def _(c, d): nb = report_nb(d/'r.ipynb'); os.symlink(d/'nowhere', d/'dangling.html'); return ['export', nb, '-o', d/'dangling.html'], lambda: not (d/'nowhere').exists()
@case('overwrites', 'export -o under a file', words=('afile', 'a file is in the way'))
def _(c, d): nb = report_nb(d/'r.ipynb'); (d/'afile').write_text('x'); return ['export', nb, '-o', d/'afile'/'r.html'], lambda: (d/'afile').read_text() == 'x'
@case('overwrites', 'export a JSON file that is not a notebook', words=('x.ipynb', 'not a Jupyter notebook'))
def _(c, d): (d/'x.ipynb').write_text('{"a": 1}'); return ['export', d/'x.ipynb'], lambda: not (d/'x.html').exists()
@case('overwrites', 'export a missing notebook', words=('nope.ipynb',))
def _(c, d): return ['export', d/'nope.ipynb'], None
@case('overwrites', 'export a plain notebook (not a run) works', expect='ok')
def _(c, d): nb = report_nb(d/'r.ipynb'); return ['export', nb], lambda: '42' in (d/'r.html').read_text()
@case('overwrites', 'fit --out an existing model', words=('m.pt', 'exists'))
def _(c, d): (d/'m.pt').write_text('mine'); return ['fit', 'padim', '--normal', c.good, '--out', d/'m.pt', '--image-size', '64', '--d', '10', '--weights', 'random'], lambda: (d/'m.pt').read_text() == 'mine'
@case('overwrites', 'fit --out an existing text file', words=('notes.txt', 'exists'))
def _(c, d): (d/'notes.txt').write_text('mine'); return ['fit', 'padim', '--normal', c.good, '--out', d/'notes.txt', '--weights', 'random'], lambda: (d/'notes.txt').read_text() == 'mine'
@case('overwrites', 'fit --out a folder', words=('is a folder',))
def _(c, d): return ['fit', 'padim', '--normal', c.good, '--out', d, '--weights', 'random'], None
@case('overwrites', 'fit --out under a file', words=('afile',))
def _(c, d): (d/'afile').write_text('x'); return ['fit', 'padim', '--normal', c.good, '--out', d/'afile'/'m.pt', '--weights', 'random'], lambda: (d/'afile').read_text() == 'x'
@case('overwrites', 'fit --out existing --overwrite replaces it', expect='ok')
def _(c, d): (d/'m.pt').write_text('old'); return ['fit', 'padim', '--normal', c.good, '--out', d/'m.pt', '--image-size', '64', '--d', '10', '--weights', 'random', '--overwrite'], lambda: (d/'m.pt').stat().st_size > 1000 and not [p for p in d.iterdir() if p.name.endswith('.tmp')]
@case('overwrites', 'predict into a folder with an earlier prediction', words=('earlier prediction', 'P'))
def _(c, d):
    from adnb.predict import predict_images
    predict_images(c.padim, c.img, d/'P'); before = files(d/'P')
    return ['predict', c.padim, c.test/'good', '--out', d/'P'], lambda: files(d/'P') == before
@case('overwrites', 'predict --out is a file', words=('afile', 'is a file'))
def _(c, d): (d/'afile').write_text('x'); return ['predict', c.padim, c.img, '--out', d/'afile'], lambda: (d/'afile').read_text() == 'x'
@case('overwrites', 'predict onto a file it did not make (same name as a map)', words=('000_map.png',))
def _(c, d): (d/'P').mkdir(); (d/'P'/'000_map.png').write_text('mine'); return ['predict', c.padim, c.img, '--out', d/'P'], lambda: (d/'P'/'000_map.png').read_text() == 'mine'
@case('overwrites', 'predict --overwrite onto a file it did not make', words=('000_overlay.png',))
def _(c, d): (d/'P').mkdir(); (d/'P'/'000_overlay.png').write_text('mine'); return ['predict', c.padim, c.img, '--out', d/'P', '--overwrite'], lambda: (d/'P'/'000_overlay.png').read_text() == 'mine'
@case('overwrites', 'predict --overwrite replaces the earlier prediction only', expect='ok')
def _(c, d):
    from adnb.predict import predict_images
    predict_images(c.padim, c.test, d/'P'); (d/'P'/'mine.txt').write_text('keep')
    return ['predict', c.padim, c.img, '--out', d/'P', '--overwrite'], lambda: len(list((d/'P').rglob('*.png'))) == 2 and (d/'P'/'mine.txt').exists() and len((d/'P'/'scores.csv').read_text().splitlines()) == 2
@case('overwrites', 'write_results twice into one folder keeps both', expect='ok', kind='api')
def _(c, d):
    from adnb.experiment import write_results
    def go(): write_results('x', {}, [dict(a=1)], d, env={}); write_results('x', {}, [dict(a=2)], d, env={})
    return go, lambda: sorted(p.name for p in d.iterdir()) == ['metrics-2.csv', 'metrics.csv', 'results-2.json', 'results.json']
@case('overwrites', 'write_atomic onto an existing file', words=('a.txt', 'exists'), kind='api')
def _(c, d):
    from adnb.files import write_atomic
    (d/'a.txt').write_text('one'); return (lambda: write_atomic(d/'a.txt', 'two')), lambda: (d/'a.txt').read_text() == 'one'
@case('overwrites', 'atomic write onto a folder', words=('is a folder',), kind='api')
def _(c, d):
    from adnb.files import write_atomic
    return (lambda: write_atomic(d, 'x')), None
@case('overwrites', 'a write that fails half-way leaves no file', words=('No space',), kind='api')
def _(c, d):
    from adnb.files import atomic_path
    def go():
        with atomic_path(d/'x.bin') as t: t.write_bytes(b'half'); raise OSError(28, 'No space left on device')
    return go, lambda: list(d.iterdir()) == []
@case('overwrites', 'save_checkpoint over an existing file (the API replaces)', expect='ok', kind='api')
def _(c, d):
    from adnb.backbones import save_checkpoint
    import torch
    (d/'c.pt').write_text('old')
    return (lambda: save_checkpoint(d/'c.pt', {'x': torch.zeros(2)}, {}, {})), lambda: (d/'c.pt').stat().st_size > 100 and len(list(d.iterdir())) == 1

# full disk: a real 1 MiB tmpfs (root only)
def small_disk(d:Path, leave:int)->Path|None:
    m = d/'disk'; m.mkdir()
    if os.geteuid() != 0 or subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(m)], capture_output=True).returncode: return None
    MOUNTS.append(m); st = os.statvfs(m)
    with open(m/'.filler', 'wb') as f: f.write(b'\0' * max(0, st.f_bavail * st.f_frsize - leave))
    return m
MOUNTS = []
def seen(m): return sorted(str(p.relative_to(m)) for p in m.rglob('*') if p.name != '.filler')

@case('overwrites', 'export onto a full disk', words=('No space left',))
def _(c, d):
    import nbformat
    nb = report_nb(d/'r.ipynb'); b = nbformat.read(nb, as_version=4); b.cells[1].outputs[0]['data']['text/plain'] = 'y' * 300_000; nbformat.write(b, nb)
    m = small_disk(d, 64 * 1024)
    return (['export', nb, '-o', m/'r.html'], lambda: seen(m) == []) if m else None
@case('overwrites', 'predict onto a full disk', words=('No space left',))
def _(c, d): m = small_disk(d, 48 * 1024); return (['predict', c.padim, c.test, '--out', m/'P'], lambda: seen(m) == []) if m else None
@case('overwrites', 'fit onto a full disk', words=('No space left',))
def _(c, d): m = small_disk(d, 16 * 1024); return (['fit', 'padim', '--normal', c.good, '--out', m/'m.pt', '--image-size', '64', '--d', '30', '--weights', 'random'], lambda: seen(m) == []) if m else None
@case('overwrites', 'write_results onto a full disk', words=('No space left',), kind='api')
def _(c, d):
    from adnb.experiment import write_results
    m = small_disk(d, 8 * 1024)
    return ((lambda: write_results('x', {}, [dict(i=i, t='z' * 100) for i in range(500)], m, env={})), lambda: seen(m) == []) if m else None
@case('overwrites', 'batch onto a full disk', words=('No space left on device', 'batch.json'))
def _(c, d):
    nb = tiny_nb(d/'tiny.ipynb', "import json\njson.dump(dict(blob='x' * 400_000), open('results.json', 'w'))")
    (d/'g.yaml').write_text(f"name: full\nexperiments:\n  - experiment: {nb}\n")
    m = small_disk(d, 160 * 1024)
    if not m: return None
    from adnb.runs import run_status
    ok = lambda: not (m/'b'/'tiny').exists() or all(run_status(p)[0] for p in (m/'b'/'tiny').iterdir())
    return ['batch', d/'g.yaml', '--root', m/'b', '--no-progress'], ok

# --- killed runs that look finished ----------------------------------------------------------------------------------
for nm, kw, w in [('a .partial run (SIGKILL)', dict(partial=True, run=False), '.partial'),
                  ('a run with a cell left running', dict(states='running'), 'running'),
                  ('a run with cells pending', dict(states='pending'), 'pending'),
                  ('a run whose papermill exception flag is set', dict(exception=True), 'papermill recorded an error'),
                  ('a run marked interrupted', dict(status='interrupted'), 'interrupted'),
                  ('a run marked died (OOM)', dict(status='died'), 'died'),
                  ('a run folder without run.json', dict(run=False), 'run.json'),
                  ('a run whose run.json says failed', dict(run='failed'), "status 'failed'"),
                  ('a run whose results.json is a list', dict(results='[]'), 'results.json'),
                  ('a run without results.json', dict(results=None), 'results.json')]:
    @case('killed runs', f'export {nm}', words=('did not finish', w, '--partial'))
    def _(c, d, kw=kw): nb = run_folder(d, **kw); return ['export', nb, '-o', d/'x.html'], lambda: not (d/'x.html').exists()
@case('killed runs', 'export a .partial run --partial: marked', expect='ok')
def _(c, d): nb = run_folder(d, partial=True, run=False); return ['export', nb, '-o', d/'x.html', '--partial'], lambda: 'Partial run, not a finished report' in (d/'x.html').read_text()
@case('killed runs', 'export a finished run', expect='ok')
def _(c, d): nb = run_folder(d); return ['export', nb, '-o', d/'x.html'], lambda: '42' in (d/'x.html').read_text() and 'Partial run' not in (d/'x.html').read_text()
@case('killed runs', 'export a papermill notebook copied out of its run, cells pending', words=('pending',))
def _(c, d): nb = report_nb(d/'r.ipynb', 'pending'); return ['export', nb], lambda: not (d/'r.html').exists()
for nm, mk, words in [('a .partial folder', lambda d: run_folder(d, partial=True).parent, '.partial'),
                      ("a run inside a batch's .failed folder", lambda d: (run_folder(d/'.failed'/'abc'), d/'.failed'/'abc'/'patchcore'/'20260101-000000')[1], 'temporary'),
                      ('a missing folder', lambda d: d/'nope', 'not a folder'),
                      ('a run whose notebook is missing', lambda d: (run_folder(d).unlink(), d/'patchcore'/'20260101-000000')[1], 'missing')]:
    @case('killed runs', f'run_status of {nm}', words=(words,), kind='api')
    def _(c, d, mk=mk):
        from adnb.runs import run_status
        f = mk(d)
        def go():
            ok, why = run_status(f)
            if ok: return 'complete'
            raise ValueError(why)
        return go, None
@case('killed runs', 'a kernel killed mid-run (OOM)', words=('the kernel died (out of memory?)', 'the partial report is', '.partial'), kind='api')
def _(c, d):
    from adnb.run import run_experiment
    nb = tiny_nb(d/'tiny.ipynb', "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    return (lambda: run_experiment(nb, {}, reports=d/'rep', progress=False)), lambda: not [p for p in (d/'rep'/'tiny').iterdir() if not p.name.endswith('.partial')]
@case('killed runs', 'adnb run SIGKILLed after results.json: not counted complete', words=(), kind='sub')
def _(c, d):
    nb = tiny_nb(d/'tiny.ipynb', "import json, time\njson.dump({'results': []}, open('results.json', 'w'))\nopen('written', 'w').write('1')\ntime.sleep(60)")
    def after(p):
        from adnb.runs import run_folders
        return all(not ok for _, ok, _ in run_folders(d/'rep'))
    return dict(argv=['run', nb, '--reports', d/'rep', '--no-progress'], kill_after=d/'rep'/'tiny', signal=signal.SIGKILL, after=after)
@case('killed runs', 'a cell that runs out of memory (MemoryError)', words=('MemoryError', 'the partial report is'), kind='api')
def _(c, d):
    from adnb.run import run_experiment
    nb = tiny_nb(d/'tiny.ipynb', "raise MemoryError('Unable to allocate 80.0 GiB')")
    return (lambda: run_experiment(nb, {}, reports=d/'rep', progress=False)), None

# --- tampered or foreign models --------------------------------------------------------------------------------------
def setv(path, value):
    def f(ck):
        o = ck
        for k in path[:-1]: o = o[k]
        if value is DEL: o.pop(path[-1])
        else: o[path[-1]] = value(o[path[-1]]) if callable(value) else value
    return f
DEL = object()
import math
T = ('config', 'meta', 'threshold')
TAMPERS = [('patchcore', 'bank holds NaN', ('state_dict', 'memory_bank'), lambda b: b.index_fill(0, __import__('torch').tensor([0]), float('nan')), 'NaN'),
           ('patchcore', 'bank holds inf', ('state_dict', 'memory_bank'), lambda b: b.index_fill(0, __import__('torch').tensor([1]), float('inf')), 'infinite'),
           ('patchcore', 'empty bank', ('state_dict', 'memory_bank'), lambda b: b[:0], 'empty'),
           ('patchcore', '1-D bank', ('state_dict', 'memory_bank'), lambda b: b[0], 'memory_bank has shape'),
           ('patchcore', '3-D bank', ('state_dict', 'memory_bank'), lambda b: b[None], 'memory_bank has shape'),
           ('patchcore', 'bank of the wrong width', ('state_dict', 'memory_bank'), lambda b: b[:, :5], 'does not fit its backbone'),
           ('patchcore', 'bank of integers', ('state_dict', 'memory_bank'), lambda b: b.long(), 'bad.pt'),
           ('patchcore', 'bank is not a tensor', ('state_dict', 'memory_bank'), 3, 'memory_bank'),
           ('patchcore', 'no memory_bank in the state', ('state_dict', 'memory_bank'), DEL, 'memory_bank'),
           ('patchcore', 'NaN image threshold', (*T, 'image'), float('nan'), 'threshold image'),
           ('patchcore', 'inf pixel threshold', (*T, 'pixel'), float('inf'), 'threshold pixel'),
           ('patchcore', 'text image threshold', (*T, 'image'), '0.5', 'threshold image'),
           ('patchcore', 'None pixel threshold', (*T, 'pixel'), None, 'threshold pixel'),
           ('patchcore', 'bool image threshold', (*T, 'image'), True, 'threshold image'),
           ('patchcore', 'NaN map_min', (*T, 'map_min'), float('nan'), 'threshold map_min'),
           ('patchcore', 'pixel threshold below map_min', (*T, 'map_min'), 1e9, 'below the lowest'),
           ('patchcore', 'threshold table missing', T, DEL, 'no decision threshold'),
           ('patchcore', 'threshold is a number', T, 0.5, 'meta threshold is a float'),
           ('patchcore', 'image size 0', ('config', 'meta', 'image_size'), 0, 'image_size is 0'),
           ('patchcore', 'image size -64', ('config', 'meta', 'image_size'), -64, 'image_size is -64'),
           ('patchcore', 'image size 100 (not a multiple of 8)', ('config', 'meta', 'image_size'), 100, 'image_size is 100'),
           ('patchcore', "image size '64'", ('config', 'meta', 'image_size'), '64', "image_size is '64'"),
           ('patchcore', 'crop 0', ('config', 'meta', 'crop'), 0, 'crop is 0'),
           ('patchcore', 'crop larger than the image size', ('config', 'meta', 'crop'), 128, 'crop is 128'),
           ('patchcore', 'config key from a newer adnb', ('config', 'attention_pool'), True, 'attention_pool'),
           ('patchcore', 'method unknown (fapm)', ('config', 'meta', 'method'), 'fapm', 'no decision threshold'),
           ('patchcore', 'meta is a list', ('config', 'meta'), [1], 'no decision threshold'),
           ('patchcore', 'other backbone weights (sha256)', ('weights_id', 'sha256'), 'f' * 64, 'was fitted with'),
           ('patchcore', 'checkpoint format 2 (a newer adnb)', ('adnb_checkpoint',), 2, 'format 2'),
           ('patchcore', 'not an adnb checkpoint (no marker)', ('adnb_checkpoint',), DEL, 'not written by save_checkpoint'),
           ('patchcore', 'no weights identity', ('weights_id',), DEL, 'weights_id'),
           ('padim', 'mean holds NaN', ('state_dict', 'mean'), lambda m: m.index_fill(0, __import__('torch').tensor([0]), float('nan')), 'mean holds'),
           ('padim', 'inv_cov of the wrong shape', ('state_dict', 'inv_cov'), lambda m: m[:, :2, :2], 'inv_cov has shape'),
           ('padim', 'channels as floats', ('state_dict', 'channels'), lambda ch: ch.float(), 'channels'),
           ('padim', 'grid that does not match', ('state_dict', 'grid'), lambda g: g * 2, 'grid'),
           ('padim', 'empty mean', ('state_dict', 'mean'), lambda m: m[:0], 'mean is empty'),
           ('padim', 'channel index out of range', ('state_dict', 'channels'), lambda ch: ch + 10_000, 'bad.pt'),
           ('padim', 'no grid', ('state_dict', 'grid'), DEL, 'grid')]
for method, nm, path, value, word in TAMPERS:
    @case('tampered models', f'predict with a {method} model.pt: {nm}', words=('bad.pt', word))
    def _(c, d, method=method, path=path, value=value):
        bad = tamper(c, d, setv(path, value), c.pc if method == 'patchcore' else c.padim)
        return ['predict', bad, c.img, '--out', d/'P'], lambda: not (d/'P').exists()
for nm, write, word in [('a truncated model.pt', lambda p, c: p.write_bytes(Path(c.pc).read_bytes()[:2000]), 'not a readable adnb checkpoint'),
                        ('an empty model.pt', lambda p, c: p.write_bytes(b''), 'not a readable adnb checkpoint'),
                        ('a text file as model.pt', lambda p, c: p.write_text('hello'), 'not a readable adnb checkpoint'),
                        ('a pickled list as model.pt', lambda p, c: __import__('torch').save([1, 2], p), 'not a readable adnb checkpoint'),
                        ('a folder as model.pt', lambda p, c: p.mkdir(), 'is a directory'),
                        ('a missing model.pt', lambda p, c: None, 'does not exist')]:
    @case('tampered models', f'predict with {nm}', words=('bad.pt', word))
    def _(c, d, write=write): write(d/'bad.pt', c); return ['predict', d/'bad.pt', c.img, '--out', d/'P'], lambda: not (d/'P').exists()
@case('tampered models', 'load_fitted of a tampered model (API)', words=('bad.pt', 'NaN'), kind='api')
def _(c, d):
    from adnb.predict import load_fitted
    bad = tamper(c, d, setv(('state_dict', 'memory_bank'), lambda b: b * float('nan')))
    return (lambda: load_fitted(bad)), None

# --- images ----------------------------------------------------------------------------------------------------------
def imgs(c, d, *names):
    from PIL import Image
    im = Image.open(c.img).convert('RGB'); f = d/'imgs'; f.mkdir(exist_ok=True)
    for n in names: im.save(f/n, **({'format': 'JPEG'} if n.endswith(('.jpe', '.jfif')) else {'lossless': True} if n.endswith('.webp') else {}))
    return f
def scored(d, n, *names):
    def ok():
        t = (d/'P'/'scores.csv').read_text(); return len(t.splitlines()) == n + 1 and all(x in t for x in names)
    return ok
@case('images', '.gif beside PNGs: named on stderr, PNGs scored', expect='ok', words=('d.gif', 'not read'))
def _(c, d): f = imgs(c, d, 'a.png', 'd.gif'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'a.png')
@case('images', '.webp, .jpe, .jfif beside PNGs are read', expect='ok')
def _(c, d): f = imgs(c, d, 'a.png', 'b.webp', 'c.jpe', 'e.jfif'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 4, 'b.webp', 'c.jpe', 'e.jfif')
@case('images', 'a text file beside PNGs: named on stderr', expect='ok', words=('notes.txt',))
def _(c, d): f = imgs(c, d, 'a.png'); (f/'notes.txt').write_text('x'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'a.png')
@case('images', 'a folder of GIFs only', words=('holds no images', 'd.gif'))
def _(c, d): f = imgs(c, d, 'd.gif'); return ['predict', c.padim, f, '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a folder of text files only (fit)', words=('holds no images', 'a.txt'))
def _(c, d): (d/'n').mkdir(); (d/'n'/'a.txt').write_text('x'); return ['fit', 'padim', '--normal', d/'n', '--out', d/'m.pt'], lambda: not (d/'m.pt').exists()
@case('images', 'a .gif named explicitly', words=('d.gif', 'not an image file'))
def _(c, d): f = imgs(c, d, 'd.gif'); return ['predict', c.padim, f/'d.gif', '--out', d/'P'], None
@case('images', 'a 14000 px image (over the decompression-bomb limit)', words=('big.png', '14000x14000'))
def _(c, d): f = imgs(c, d, 'a.png'); png_header(f/'big.png', 14000, 14000); return ['predict', c.padim, f, '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a 10000 px image (over 89 Mpx)', words=('big.png', '10000x10000'))
def _(c, d): f = imgs(c, d, 'a.png'); png_header(f/'big.png', 10000, 10000); return ['predict', c.padim, f, '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a 14000 px image in fit --normal', words=('big.png', '14000x14000'))
def _(c, d): f = imgs(c, d, 'a.png', 'b.png', 'c.png'); png_header(f/'big.png', 14000, 14000); return ['fit', 'padim', '--normal', f, '--out', d/'m.pt'], lambda: not (d/'m.pt').exists()
@case('images', 'an 8000 px image with 2 GiB free (predict)', words=('8k.png', '8000x8000', 'GiB'))
def _(c, d):
    import adnb.datasets as ds
    ds._free_memory = lambda: 2 * 2**30; png_header(d/'8k.png', 8000, 8000)
    return ['predict', c.padim, d/'8k.png', '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'an 8000 px image with 1 GiB free (read_image)', words=('8k.png', '8000x8000'), kind='api')
def _(c, d):
    import adnb.datasets as ds
    ds._free_memory = lambda: 2**30; png_header(d/'8k.png', 8000, 8000)
    return (lambda: ds.read_image(d/'8k.png')), None
@case('images', 'a 14000 px mask (read_mask_file)', words=('m.png', '14000x14000'), kind='api')
def _(c, d):
    from adnb.datasets import read_mask_file
    png_header(d/'m.png', 14000, 14000); return (lambda: read_mask_file(d/'m.png')), None
@case('images', 'ADNB_MAX_IMAGE_PIXELS=abc', words=('ADNB_MAX_IMAGE_PIXELS', 'abc'), kind='api')
def _(c, d):
    from adnb.datasets import read_image
    os.environ['ADNB_MAX_IMAGE_PIXELS'] = 'abc'; return (lambda: read_image(c.img)), None
@case('images', 'a corrupt PNG among good ones', words=('bad.png', 'cannot read'))
def _(c, d): f = imgs(c, d, 'a.png'); (f/'bad.png').write_bytes(b'\x89PNG\r\n\x1a\n broken'); return ['predict', c.padim, f, '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a zero-byte PNG', words=('z.png',))
def _(c, d): f = imgs(c, d, 'a.png'); (f/'z.png').write_bytes(b''); return ['predict', c.padim, f, '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a truncated JPEG', words=('t.jpg',))
def _(c, d):
    f = imgs(c, d, 'a.png'); imgs(c, d, 't.jpg'); b = (f/'t.jpg').read_bytes(); (f/'t.jpg').write_bytes(b[:len(b) // 3])
    return ['predict', c.padim, f, '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a float (mode F) TIFF', words=('f.tif', 'float pixels'))
def _(c, d):
    from PIL import Image
    import numpy as np
    Image.fromarray(np.zeros((32, 32), np.float32)).save(d/'f.tif'); return ['predict', c.padim, d/'f.tif', '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a PNG stored under a .jpg name', expect='ok')
def _(c, d): f = d/'imgs'; f.mkdir(); shutil.copy(c.img, f/'x.jpg'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'x.jpg')
@case('images', 'a 16-bit PNG', expect='ok')
def _(c, d):
    from PIL import Image
    import numpy as np
    f = d/'imgs'; f.mkdir(); Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 15).astype(np.uint16)).save(f/'g16.png')
    return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'g16.png')
@case('images', 'a 1x1 px image', expect='ok')
def _(c, d):
    from PIL import Image
    f = d/'imgs'; f.mkdir(); Image.new('RGB', (1, 1)).save(f/'one.png'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'one.png')
@case('images', 'a CMYK JPEG', expect='ok')
def _(c, d):
    from PIL import Image
    f = d/'imgs'; f.mkdir(); Image.open(c.img).convert('CMYK').save(f/'k.jpg'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'k.jpg')
@case('images', 'a palette PNG with transparency', expect='ok')
def _(c, d):
    from PIL import Image
    f = d/'imgs'; f.mkdir(); Image.open(c.img).convert('P').save(f/'p.png', transparency=0); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'p.png')
@case('images', 'a missing image path', words=('nope.png', 'does not exist'))
def _(c, d): return ['predict', c.padim, d/'nope.png', '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'an empty image folder', words=('holds no images',))
def _(c, d): (d/'e').mkdir(); return ['predict', c.padim, d/'e', '--out', d/'P'], lambda: not (d/'P').exists()
@case('images', 'a folder with a symlink loop', expect='ok')
def _(c, d): f = imgs(c, d, 'a.png'); os.symlink(f, f/'loop'); return ['predict', c.padim, f, '--out', d/'P'], scored(d, 1, 'a.png')
@case('images', 'fit on one good image (nothing left to fit)', words=('need at least',))
def _(c, d): f = imgs(c, d, 'a.png'); return ['fit', 'padim', '--normal', f, '--out', d/'m.pt'], lambda: not (d/'m.pt').exists()
@case('images', 'an MVTec category with a .gif beside its PNGs: a data warning', expect='ok', words=('x.gif',), kind='api')
def _(c, d):
    import warnings
    from adnb.datasets import load_records, write_layout_fixture
    root = write_layout_fixture(d/'mv', 'mvtec_ad'); test_good = root/'toy'/'test'/'good'
    shutil.copy(next(test_good.glob('*.png')), test_good/'x.gif')
    def go():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always'); load_records('mvtec_ad', 'toy', root)
        msg = ' '.join(str(x.message) for x in w)
        if 'x.gif' not in msg: raise AssertionError(f'no warning names x.gif: {msg!r}')
        return msg
    return go, None

# --- checkpoints and paths in experiments and batches ----------------------------------------------------------------
@case('paths', 'relative -p pretrained resolves where it was typed', expect='ok', kind='api')
def _(c, d):
    from adnb.run import find_experiment, path_keys, resolve_path_params
    (d/'ck').mkdir(); (d/'ck'/'p.pt').write_text('x')
    return (lambda: resolve_path_params(dict(pretrained='ck/p.pt'), d, keys=path_keys(find_experiment('adpretrain')))), None
@case('paths', 'relative -p pretrained seen by the kernel', expect='ok', kind='api')
def _(c, d):
    from adnb.run import run_experiment
    nb = tiny_nb(d/'e'/'p.ipynb', "import json, os\njson.dump(dict(ok=os.path.exists(pretrained)), open('results.json', 'w'))",
                 params="pretrained = ''", specs="SPECS = {'pretrained': 'path'}")
    (d/'w').mkdir(); (d/'w'/'p.pt').write_text('x')
    def go():
        old = os.getcwd(); os.chdir(d/'w')
        try: out = run_experiment(nb, dict(pretrained='p.pt'), reports=d/'rep', progress=False)
        finally: os.chdir(old)
        if not json.loads((out/'results.json').read_text())['ok']: raise AssertionError('the kernel did not find pretrained')
    return go, None
for nm in ['../../escape', '../x', 'a/b', '.hidden', '..', 'a b', '/abs']:
    @case('paths', f'grid name {nm!r}', words=(repr(nm), 'plain folder name'))
    def _(c, d, nm=nm): (d/'g.yaml').write_text(f"name: '{nm}'\nexperiments:\n  - experiment: patchcore\n"); return ['batch', d/'g.yaml', '--dry-run'], None
@case('paths', 'two runs of a grid writing one save_pretrained', words=('shared.pt', 'two runs'))
def _(c, d):
    (d/'g.yaml').write_text(f"name: s\nexperiments:\n  - experiment: adpretrain\n    axes: {{seed: [0, 1]}}\n    fixed: {{save_pretrained: {d/'shared.pt'}}}\n")
    return ['batch', d/'g.yaml', '--root', d/'b'], lambda: not (d/'b').exists()
@case('paths', 'a relative save_pretrained typed in a grid: each run writes its own beside its report', expect='ok')
def _(c, d):
    (d/'g.yaml').write_text("name: s\nexperiments:\n  - experiment: adpretrain\n    axes: {seed: [0, 1]}\n    fixed: {save_pretrained: ck.pt}\n")
    def own():
        runs = json.loads((d/'b'/'batch.json').read_text())['runs']
        return len(runs) == 2 and all((d/'b'/r['folder']/'ck.pt').is_file() for r in runs) and not (d/'ck.pt').exists()
    return ['batch', d/'g.yaml', '--root', d/'b'], own
@case('paths', 'a batch run records a checkpoint in its folder: the path is the final one', expect='ok', kind='api')
def _(c, d):
    from adnb.batch import run_batch
    nb = tiny_nb(d/'t.ipynb', "import json, os\nopen('ck.pt', 'w').write('x')\njson.dump(dict(ck=os.path.abspath('ck.pt')), open('results.json', 'w'))")
    (d/'g.yaml').write_text(f"name: ck\nexperiments:\n  - experiment: {nb}\n")
    def go():
        s = run_batch(d/'g.yaml', d/'b', progress=False)
        ck = json.loads((d/'b'/s['runs'][0]['folder']/'results.json').read_text())['ck']
        if not Path(ck).is_file(): raise AssertionError(f'recorded checkpoint {ck} does not exist')
    return go, None
@case('paths', 'tsne_figure with tsne_points 0', expect='ok', kind='api')
def _(c, d):
    import numpy as np
    from adnb.viz import tsne_figure
    return (lambda: tsne_figure(np.random.default_rng(0).normal(size=(40, 8)), np.r_[np.zeros(30), np.ones(10)], 0)), None
@case('paths', 'tsne_figure with tsne_points 2', expect='ok', kind='api')
def _(c, d):
    import numpy as np
    from adnb.viz import tsne_figure
    return (lambda: tsne_figure(np.random.default_rng(0).normal(size=(40, 8)), np.r_[np.zeros(30), np.ones(10)], 2)), None
@case('paths', '-p tsne_points -1', words=('tsne_points',))
def _(c, d): return ['run', 'patchcore', '-p', 'tsne_points', '-1', '--reports', d/'rep'], lambda: not (d/'rep').exists()
@case('paths', '-p data_root missing', words=('nowhere',))
def _(c, d): return ['run', 'patchcore', '-p', 'dataset', 'mvtec_ad', '-p', 'category', 'bottle', '-p', 'data_root', d/'nowhere', '--reports', d/'rep'], lambda: not (d/'rep').exists()
@case('paths', '-p data_root a symlink loop', words=('data_root', 'points to itself'))
def _(c, d): os.symlink('loop', d/'loop'); return ['run', 'patchcore', '-p', 'dataset', 'mvtec_ad', '-p', 'category', 'bottle', '-p', 'data_root', d/'loop'/'x', '--reports', d/'rep'], lambda: not (d/'rep').exists()
@case('paths', '-p category ../../x', words=('../../x',))
def _(c, d):
    from adnb.datasets import write_layout_fixture
    root = write_layout_fixture(d/'mv', 'mvtec_ad')
    return ['run', 'patchcore', '-p', 'dataset', 'mvtec_ad', '-p', 'category', '../../x', '-p', 'data_root', root, '--reports', d/'rep'], lambda: not (d/'rep').exists()
@case('paths', 'experiment named ../../x', words=('../../x',))
def _(c, d): return ['run', '../../x', '--reports', d/'rep'], lambda: not (d/'rep').exists()
@case('paths', '--reports is a file', words=('afile',))
def _(c, d): (d/'afile').write_text('x'); return ['run', 'patchcore', '--reports', d/'afile'], lambda: (d/'afile').read_text() == 'x'
@case('paths', 'batch --root under a file', words=('afile',))
def _(c, d): (d/'afile').write_text('x'); (d/'g.yaml').write_text("name: g\nexperiments:\n  - experiment: patchcore\n"); return ['batch', d/'g.yaml', '--root', d/'afile'/'b'], None
for nm, text, w in [('missing grid file', None, 'no grid file'), ('invalid YAML', 'name: [', 'not valid YAML'),
                    ('unknown top-level key', 'nam: g\nexperiments: []\n', "unknown key(s) ['nam']"),
                    ('no experiments', 'name: g\n', "'experiments'"),
                    ('zip lists of different lengths', 'experiments:\n  - experiment: patchcore\n    zip: {seed: [0, 1], image_size: [64]}\n', 'differ in length'),
                    ('axis that is not a list', 'experiments:\n  - experiment: patchcore\n    axes: {seed: 3}\n', 'axis seed'),
                    ('unknown experiment', 'experiments:\n  - experiment: nope\n', "unknown experiment 'nope'"),
                    ('unknown parameter', 'experiments:\n  - experiment: patchcore\n    fixed: {categry: x}\n', 'categry'),
                    ('bad parameter value', 'experiments:\n  - experiment: patchcore\n    axes: {image_size: [64, -5]}\n', 'image_size'),
                    ('parameter in two axes', 'experiments:\n  - experiment: patchcore\n    axes: {seed: [0]}\n    zip: {seed: [1]}\n', 'more than one axis'),
                    ('unknown resource key', 'resources: {gpus: 1}\nexperiments:\n  - experiment: patchcore\n', "['gpus']")]:
    @case('paths', f'grid: {nm}', words=(w,))
    def _(c, d, text=text):
        if text is not None: (d/'g.yaml').write_text(text)
        return ['batch', d/'g.yaml', '--root', d/'b'], lambda: not (d/'b').exists()
@case('paths', 'batch --jobs 0', words=('--jobs',))
def _(c, d): (d/'g.yaml').write_text("name: g\nexperiments:\n  - experiment: patchcore\n"); return ['batch', d/'g.yaml', '--root', d/'b', '--jobs', '0'], None
@case('paths', 'batch --retries -1', words=('--retries',))
def _(c, d): (d/'g.yaml').write_text("name: g\nexperiments:\n  - experiment: patchcore\n"); return ['batch', d/'g.yaml', '--root', d/'b', '--retries', '-1'], None
for nm, args, w in [('unknown parameter', ['-p', 'categry', 'x'], 'categry'), ('image_size -5', ['-p', 'image_size', '-5'], 'image_size'),
                    ('image_size abc', ['-p', 'image_size', 'abc'], 'image_size'), ('crop larger than image_size', ['-p', 'image_size', '64', '-p', 'crop', '128'], 'crop'),
                    ('seed -1', ['-p', 'seed', '-1'], 'seed'), ('coreset_ratio 0', ['-p', 'coreset_ratio', '0'], 'coreset_ratio'),
                    ('coreset_ratio 2', ['-p', 'coreset_ratio', '2'], 'coreset_ratio'), ('layers as a string', ['-p', 'layers', 'blocks.2'], 'layers'),
                    ('method fapm', ['-p', 'method', 'fapm'], 'method'), ('profile big', ['-p', 'profile', 'big'], 'profile'),
                    ('dataset nope', ['-p', 'dataset', 'nope'], 'dataset'), ('n_gallery -1', ['-p', 'n_gallery', '-1'], 'n_gallery'),
                    ('batch_size 0', ['-p', 'batch_size', '0'], 'batch_size'), ('option --dataset', ['--dataset', 'mvtec_ad'], '-p dataset')]:
    @case('paths', f'adnb run patchcore: {nm}', words=(w,))
    def _(c, d, args=args): return ['run', 'patchcore', *args, '--reports', d/'rep'], lambda: not (d/'rep').exists()
for exp, args, w in [('dfm', ['-p', 'epochs', '0'], 'epochs'), ('dfm', ['-p', 'shots', '[0, 2]'], 'shots'), ('dfm', ['-p', 'seeds', '[]'], 'seeds'),
                     ('fbft', ['-p', 'epochs', '-1'], 'epochs'), ('fapm', ['-p', 'image_size', '12'], 'image_size'),
                     ('adpretrain', ['-p', 'detectors', "['knn']"], 'detectors'), ('adpretrain', ['-p', 'fewshot', '[0]'], 'fewshot'),
                     ('costfilter', ['-p', 'image_size', '0'], 'image_size')]:
    @case('paths', f'adnb run {exp}: {" ".join(args[1:])}', words=(w,))
    def _(c, d, exp=exp, args=args): return ['run', exp, *args, '--reports', d/'rep'], lambda: not (d/'rep').exists()

# --- fit / predict options -------------------------------------------------------------------------------------------
for nm, args, w in [('--image-size 0', ['--image-size', '0'], 'image_size'), ('--image-size 12', ['--image-size', '12'], 'image_size'),
                    ('--crop 300', ['--crop', '300'], 'crop'), ('--crop 0', ['--crop', '0'], 'crop'), ('--holdout 0', ['--holdout', '0'], 'holdout'),
                    ('--holdout 1', ['--holdout', '1'], 'holdout'), ('--quantile 0', ['--quantile', '0'], 'quantile'),
                    ('--quantile 1.5', ['--quantile', '1.5'], 'quantile'), ('--d 0', ['--d', '0'], '--d'),
                    ('--coreset-ratio 0', ['--coreset-ratio', '0'], 'coreset'), ('--coreset-ratio 1.5', ['--coreset-ratio', '1.5'], 'coreset'),
                    ('--batch-size 0', ['--batch-size', '0'], 'batch'), ('--backbone nope', ['--backbone', 'nope'], 'nope'),
                    ('--layers nope', ['--layers', 'nope'], 'nope'), ('--weights missing file', ['--weights', '/nowhere/w.pth'], '/nowhere/w.pth'),
                    ('--device tpu', ['--device', 'tpu'], 'tpu'), ('--seed -1', ['--seed', '-1'], 'seed')]:
    @case('fit and predict options', f'fit {nm}', words=(w,))
    def _(c, d, args=args):
        m = 'padim' if '--d' in args else 'patchcore'
        size = [] if any(x in args for x in ('--image-size', '--crop')) else ['--image-size', '64']
        return ['fit', m, '--normal', c.good, '--out', d/'m.pt', *size, *args], lambda: not (d/'m.pt').exists()
for nm, args, w in [('--batch-size 0', ['--batch-size', '0'], 'batch'), ('--device tpu', ['--device', 'tpu'], 'tpu'),
                    ('--device cuda without a GPU', ['--device', 'cuda:7'], 'cuda')]:
    @case('fit and predict options', f'predict {nm}', words=(w,))
    def _(c, d, args=args): return ['predict', c.padim, c.img, '--out', d/'P', *args], lambda: not (d/'P').exists()

# --- concurrency -----------------------------------------------------------------------------------------------------
@case('concurrency', 'two adnb predict into one --out at the same time', kind='sub', words=('in use by another adnb predict', 'earlier prediction'))
def _(c, d): return dict(parallel=[['predict', c.padim, c.test, '--out', d/'P'], ['predict', c.padim, c.test, '--out', d/'P']],
                         after=lambda ps: len((d/'P'/'scores.csv').read_text().splitlines()) == 16 and len(list((d/'P').rglob('*.png'))) == 30)
@case('concurrency', 'predict while another holds the --out lock', words=('in use by another adnb predict',))
def _(c, d):
    from adnb.files import folder_lock
    LOCKS.append(folder_lock(d/'P', 'adnb predict', '.adnb-predict.lock')); LOCKS[-1].__enter__()
    return ['predict', c.padim, c.img, '--out', d/'P'], lambda: [p.name for p in (d/'P').iterdir()] == ['.adnb-predict.lock']
LOCKS = []
@case('concurrency', '60 report folders created at once by 6 processes', expect='ok', kind='api')
def _(c, d):
    import multiprocessing as mp
    from adnb.run import make_report_dir
    def go():
        with mp.get_context('fork').Pool(6) as p: made = p.starmap(make_report_dir, [(d, 'x', True)] * 60)
        if len(set(made)) != 60: raise AssertionError(f'{60 - len(set(made))} folders shared')
    return go, None
@case('concurrency', '60 adnb run processes at once: each gets its report folder', expect='ok', kind='sub')
def _(c, d):
    code = ("import sys\nfrom adnb.run import make_report_dir\nprint(make_report_dir(sys.argv[1], 'x', partial=True))")
    return dict(raw=[[sys.executable, '-c', code, str(d)]] * 60, after=lambda ps: all(p.returncode == 0 for p in ps) and len({p.stdout for p in ps}) == 60)
@case('concurrency', 'a second batch into a folder a batch is running in', words=('another adnb batch is running',))
def _(c, d):
    import fcntl
    (d/'b').mkdir(); fd = os.open(d/'b'/'.batch.lock', os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); FDS.append(fd)
    (d/'g.yaml').write_text("name: g\nexperiments:\n  - experiment: patchcore\n"); return ['batch', d/'g.yaml', '--root', d/'b'], None
FDS = []
@case('concurrency', 'write_results from 8 threads into one folder', expect='ok', kind='api')
def _(c, d):
    from concurrent.futures import ThreadPoolExecutor
    from adnb.experiment import write_results
    def go():
        with ThreadPoolExecutor(8) as ex: rs = list(ex.map(lambda i: write_results('x', {}, [dict(i=i)], d, env={}), range(8)))
        if len(set(rs)) != 8 or len(list(d.glob('metrics*.csv'))) != 8: raise AssertionError('results collided')
    return go, None

# --- metrics ---------------------------------------------------------------------------------------------------------
import numpy as _np
for nm, args, w in [('image_metrics scores/labels of different lengths', ([.1, .5, .9], [0, 1]), '3 image scores but 2 labels'),
                    ('image_metrics 2-D scores', (_np.zeros((2, 2)), [0, 1]), '1-D'),
                    ('image_metrics NaN score', ([.1, float('nan')], [0, 1]), 'NaN'),
                    ('image_metrics labels not binary', ([.1, .2], [0, 2]), 'binary'),
                    ('image_metrics one class only', ([.1, .2], [0, 0]), 'no anomalous'),
                    ('image_metrics empty', ([], []), 'no anomalous')]:
    @case('metrics', nm, words=(w,), kind='api')
    def _(c, d, args=args):
        from adnb.metrics import image_metrics
        return (lambda: image_metrics(*args)), None
@case('metrics', 'evaluate with fewer maps than scores', words=('2 image scores but 1 maps',), kind='api')
def _(c, d):
    from adnb.metrics import evaluate
    return (lambda: evaluate([.1, .9], [0, 1], [_np.zeros((4, 4))], [_np.zeros((4, 4), int)])), None
@case('metrics', 'pixel_metrics map and mask of different shapes', words=('shape',), kind='api')
def _(c, d):
    from adnb.metrics import pixel_metrics
    return (lambda: pixel_metrics([_np.zeros((4, 4)), _np.ones((4, 4))], [_np.zeros((4, 5), int), _np.ones((4, 4), int)])), None

# --- runner ----------------------------------------------------------------------------------------------------------
API_ERRORS = (ValueError, OSError, KeyError)

def classify_text(expect, words, text, ok_after):
    if 'this is a bug in adnb' in text or 'Traceback' in text: return 'crash'
    if not all(w in text for w in words): return 'unclear'
    return 'clear' if ok_after else 'unclear'

def run_cli(argv, after):
    from adnb.cli import main
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
        code = 0 if code is None else code
    except SystemExit as e: code = e.code
    except BaseException: return 'crash', traceback.format_exc()[-800:]
    return code, (out.getvalue(), err.getvalue())

def run_case(cs, c:Ctx):
    d = c.t(); saved = dict(os.environ)
    import adnb.datasets as ds
    free = ds._free_memory
    try:
        spec = cs['fn'](c, d)
        if spec is None: return 'skipped', 'needs root to mount a tmpfs'
        if cs['kind'] == 'cli':
            argv, after = spec; code, text = run_cli(argv, after)
            if code == 'crash': return 'crash', text
            out, err = text; ok_after = after is None or _safe(after)
            if cs['expect'] == 'ok':
                good = code == 0 and ok_after and all(w in out + err for w in cs['words'])
                return ('correct' if good else 'unclear' if isinstance(code, str) else 'silent'), (err or out)[-500:]
            if code in (0, None): return 'silent', out[-300:]
            msg = code if isinstance(code, str) else (err.strip() + '\n' + out.strip()).strip()
            return classify_text('refuse', cs['words'], msg, ok_after), msg[:400]
        if cs['kind'] == 'api':
            fn, after = spec
            try: r = fn()
            except API_ERRORS as e:
                if cs['expect'] == 'ok': return 'unclear', f'{type(e).__name__}: {e}'[:400]
                return classify_text('refuse', cs['words'], str(e), after is None or _safe(after)), f'{type(e).__name__}: {e}'[:400]
            except AssertionError as e: return ('silent' if cs['expect'] == 'ok' else 'crash'), f'AssertionError: {e}'[:400]
            except BaseException as e: return 'crash', f'{type(e).__name__}: {e}'[:400]
            if cs['expect'] == 'ok':
                good = (after is None or _safe(after)) and all(w in str(r) for w in cs['words'])
                return ('correct' if good else 'silent'), str(r)[:200]
            return 'silent', f'returned {str(r)[:200]}'
        return run_sub(cs, spec)
    finally:
        os.environ.clear(); os.environ.update(saved); ds._free_memory = free
        while LOCKS: LOCKS.pop().__exit__(None, None, None)
        while FDS: os.close(FDS.pop())
        while MOUNTS: subprocess.run(['umount', str(MOUNTS.pop())], capture_output=True)

def _safe(f):
    try: return bool(f())
    except Exception: return False

def run_sub(cs, spec):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    if 'parallel' in spec or 'raw' in spec:
        cmds = [CLI + [str(a) for a in argv] for argv in spec['parallel']] if 'parallel' in spec else spec['raw']
        ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for cmd in cmds]
        res = [p.communicate(timeout=300) for p in ps]
        done = [subprocess.CompletedProcess(p.args, p.returncode, o, e) for p, (o, e) in zip(ps, res)]
        if 'raw' in spec: return ('correct' if _safe(lambda: spec['after'](done)) else 'silent'), ''
        errs = [p.stderr.strip() for p in done if p.returncode != 0]
        if any('Traceback' in e or 'bug in adnb' in e for e in errs): return 'crash', errs[0][-400:]
        if sum(p.returncode == 0 for p in done) != 1: return 'silent', f'{[p.returncode for p in done]}'
        good = all(e.startswith('adnb: ') and e.count('\n') == 0 and any(w in e for w in cs['words']) for e in errs)
        return ('clear' if good and _safe(lambda: spec['after'](done)) else 'unclear'), errs[0][:400]
    p = subprocess.Popen(CLI + [str(a) for a in spec['argv']], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    t0 = time.time()
    while not list(Path(spec['kill_after']).glob('*/written')):
        if p.poll() is not None or time.time() - t0 > 120: return 'crash', 'the run did not reach the kill point'
        time.sleep(0.2)
    os.killpg(p.pid, spec['signal']); p.communicate(timeout=60)
    for k in Path(spec['kill_after']).glob('*/kernel.pid'): pass
    import psutil
    for q in psutil.process_iter(['cmdline']):
        try:
            if 'ipykernel' in ' '.join(q.info['cmdline'] or []) and str(spec['kill_after']) in ' '.join(q.cwd() or ''): q.kill()
        except psutil.Error: pass
    return ('clear' if _safe(lambda: spec['after'](p)) else 'silent'), f'rc {p.returncode}'

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='reports/records/fault_audit.json'); ap.add_argument('--only', default=None)
    ap.add_argument('--verbose', action='store_true')
    a = ap.parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    t0 = time.time(); base = Path(tempfile.mkdtemp(prefix='adnb-audit-'))
    try:
        c = Ctx(base); rows = []
        for cs in [x for x in CASES if not a.only or a.only in x['name'] or a.only == x['cls']]:
            t = time.time()
            kind, detail = run_case(cs, c)
            rows.append(dict(cls=cs['cls'], case=cs['name'], expect=cs['expect'], outcome=kind, seconds=round(time.time() - t, 2), detail=detail))
            if a.verbose or kind not in ('clear', 'correct'): print(f"{kind:8} {cs['cls']:<24} {cs['name']}\n         {str(detail)[:300]}", flush=True)
    finally: shutil.rmtree(base, ignore_errors=True)
    counts = {k: sum(r['outcome'] == k for r in rows) for k in ('clear', 'correct', 'silent', 'crash', 'unclear', 'skipped')}
    by_cls = {}
    for r in rows: by_cls.setdefault(r['cls'], {}).setdefault(r['outcome'], 0); by_cls[r['cls']][r['outcome']] += 1
    print(f"{len(rows)} cases: " + ', '.join(f'{k} {v}' for k, v in counts.items()) + f" ({time.time() - t0:.0f} s)")
    if a.only: return
    import adnb, platform
    rec = dict(name='fault_audit', issue=30, command='python benchmarks/fault_audit.py', date=datetime.now().isoformat(timespec='seconds'),
               adnb=adnb.__version__, python=platform.python_version(), machine='shared 2-core CPU machine, load average at start '
               + ' '.join(f'{x:.2f}' for x in os.getloadavg()), seconds=round(time.time() - t0), n_cases=len(rows), counts=counts, by_class=by_cls,
               outcomes='clear: one line naming the file/key/parameter and nothing written or lost; correct: an input that must work did; '
                        'silent: exit 0 / no error where a refusal was due, or a wrong result; crash: a traceback, the catch-all "bug in adnb" '
                        'line or a Python error type from the API; unclear: refused without naming the thing, or a post-condition failed; '
                        'skipped: the full-disk cases need root to mount a tmpfs',
               cases=rows)
    out = ROOT/a.out
    old = json.loads(out.read_text()) if out.exists() else None
    if old: rec['history'] = old.get('history', []) + [dict(date=old.get('date'), what='previous run of this audit', counts=old.get('counts'), n_cases=old.get('n_cases'))]
    out.write_text(json.dumps(rec, indent=1, default=str) + '\n'); print(f'wrote {out}')

if __name__ == '__main__': main()
