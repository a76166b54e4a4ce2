"""A full disk half-way through a write leaves nothing truncated under a final name (issue 30): `adnb export`, `predict`,
`fit`, `batch` and an experiment's `write_results` write to a real, size-limited filesystem (a 1 MiB tmpfs, filled
until a few KiB are free). Needs root to mount; skipped cleanly elsewhere."""
import json, os, shutil, subprocess
from pathlib import Path
import pytest
import nbformat

@pytest.fixture
def small_disk(tmp_path):
    "A 1 MiB tmpfs mounted under tmp_path (skip where mounting is not allowed)."
    d = tmp_path/'disk'; d.mkdir()
    if os.name != 'posix' or not shutil.which('mount') or os.geteuid() != 0: pytest.skip('mounting a tmpfs needs root on Linux')
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(d)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs here: {r.stderr.strip()}')
    try: yield d
    finally:                                                  # a lazy unmount when a file is still open (a lock, a kernel)
        if subprocess.run(['umount', str(d)], capture_output=True).returncode: subprocess.run(['umount', '-l', str(d)], capture_output=True)

def fill(d:Path, leave:int):
    "Fill the filesystem of `d` until about `leave` bytes are free (a hidden filler file)."
    st = os.statvfs(d); free = st.f_bavail * st.f_frsize
    with open(d/'.filler', 'wb') as f: f.write(b'\0' * max(0, free - leave))

def visible(d:Path)->list[str]:
    "Every file and folder under `d` except the filler: what a user would find."
    return sorted(str(p.relative_to(d)) for p in d.rglob('*') if p.name != '.filler')

def refused(*argv)->str:
    from adnb.cli import main
    with pytest.raises(SystemExit) as e: main([str(a) for a in argv])
    assert isinstance(e.value.code, str) and e.value.code.startswith('adnb: ') and 'bug in adnb' not in e.value.code, e.value.code
    return e.value.code

def test_export_full_disk_leaves_no_truncated_html(tmp_path, small_disk):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Report'), nbformat.v4.new_code_cell('x')])
    nb.cells[1].outputs = [nbformat.v4.new_output('stream', name='stdout', text='y' * 300_000)]
    nbformat.write(nb, tmp_path/'r.ipynb'); fill(small_disk, 64 * 1024)
    msg = refused('export', tmp_path/'r.ipynb', '-o', small_disk/'r.html')
    assert 'No space left on device' in msg and visible(small_disk) == []

def test_predict_full_disk_leaves_no_maps_without_scores(small_disk, fitted_padim, puck):
    fill(small_disk, 48 * 1024)
    msg = refused('predict', fitted_padim, puck/'test', '--out', small_disk/'P')
    assert 'No space left on device' in msg and visible(small_disk) == []        # no PNG, no scores.csv, not even the folder
    (small_disk/'P').mkdir(); (small_disk/'P'/'mine.txt').write_text('keep')   # into an existing folder: it keeps its files
    msg = refused('predict', fitted_padim, puck/'test', '--out', small_disk/'P')
    assert visible(small_disk) == ['P', 'P/.adnb-predict.lock', 'P/mine.txt']

def test_fit_full_disk_leaves_no_model_or_temp(small_disk, puck):
    fill(small_disk, 16 * 1024)
    msg = refused('fit', 'padim', '--normal', puck/'train'/'good', '--out', small_disk/'m.pt', '--image-size', '64', '--d', '30',
                  '--weights', 'random')
    assert 'No space left on device' in msg and visible(small_disk) == []        # neither m.pt nor m.pt.tmp

def test_write_results_full_disk_leaves_no_truncated_results(small_disk):
    from adnb.experiment import write_results
    fill(small_disk, 8 * 1024)
    with pytest.raises(OSError, match='No space left'): write_results('x', {}, [dict(i=i, text='z' * 100) for i in range(500)], small_disk, env={})
    assert visible(small_disk) == []

def test_batch_full_disk_leaves_no_complete_looking_run(tmp_path, small_disk):
    "A batch whose folder fills up: its run fails (recorded where possible), no run folder appears, batch.json is whole JSON or absent."
    from test_batch import tiny_nb
    from adnb.runs import run_status
    nb = tiny_nb(tmp_path/'tiny.ipynb', body="import json\njson.dump(dict(blob='x' * 400_000, seed=seed), open('results.json', 'w'))")
    (tmp_path/'g.yaml').write_text(f"name: full\nexperiments:\n  - experiment: {nb}\n    axes: {{seed: [0, 1]}}\n")
    fill(small_disk, 160 * 1024)
    from adnb.cli import main
    with pytest.raises(SystemExit) as e: main(['batch', str(tmp_path/'g.yaml'), '--root', str(small_disk/'b'), '--no-progress'])
    assert e.value.code != 0 and 'bug in adnb' not in str(e.value.code)
    runs = [p for p in (small_disk/'b'/'tiny').iterdir()] if (small_disk/'b'/'tiny').exists() else []
    assert all(run_status(p)[0] for p in runs)                                    # whatever is there is a finished run
    if (small_disk/'b'/'batch.json').exists(): json.loads((small_disk/'b'/'batch.json').read_text())
    assert not [p for p in (small_disk/'b').rglob('*') if p.name.endswith('.tmp')]
