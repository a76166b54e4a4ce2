"""Issue 30, "nothing lost, nothing silently wrong": one test per case, named after it, grouped by the issue's classes.
A refusal is one `adnb:` line naming the file, key or parameter, before expensive work, and nothing is written or lost."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
import nbformat
from conftest import ROOT

CLI = [sys.executable, '-c', 'from adnb.cli import main; main()']

def refused(*argv)->str:
    "The one-line message of a refused `adnb` command, run in this process (SystemExit with the text: exit status 1)."
    from adnb.cli import main
    with pytest.raises(SystemExit) as e: main([str(a) for a in argv])
    assert isinstance(e.value.code, str) and e.value.code.startswith('adnb: ') and '\n' not in e.value.code, e.value.code
    assert 'this is a bug in adnb' not in e.value.code, e.value.code
    return e.value.code

def tree(d:Path)->dict:
    "Every file under `d` with its bytes: to show that a refused command changed nothing."
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(Path(d).rglob('*')) if p.is_file()}

def report_nb(path:Path, states=None, exception=False)->Path:
    "A small executed-looking report; `states` (papermill cell states) makes it look like papermill ran it."
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Report'), nbformat.v4.new_code_cell('6*7'), nbformat.v4.new_code_cell('1')])
    nb.cells[1].outputs = [nbformat.v4.new_output('execute_result', {'text/plain': '42'}, execution_count=1)]
    if states:
        nb.metadata['papermill'] = dict(exception=exception)
        for c, s in zip([c for c in nb.cells if c.cell_type == 'code'], states): c.metadata['papermill'] = dict(status=s)
    path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path); return path

# --- overwrites and loss -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('target', ['html', 'results_json', 'notebook_itself', 'default_beside'])
def test_export_onto_existing_file_refused(tmp_path, target):
    "`adnb export NB -o EXISTING` replaces nothing: an earlier HTML, a results.json, the notebook itself (even with --overwrite)."
    nb = report_nb(tmp_path/'run'/'r.ipynb')
    out = {'html': tmp_path/'old.html', 'results_json': tmp_path/'run'/'results.json', 'notebook_itself': nb,
           'default_beside': tmp_path/'run'/'r.html'}[target]
    if target != 'notebook_itself': out.write_text('keep me')
    before = tree(tmp_path)
    args = ['export', nb] + ([] if target == 'default_beside' else ['-o', out])
    msg = refused(*args)
    assert str(out) in msg and ('is the notebook itself' in msg if target == 'notebook_itself' else 'exists; nothing was written' in msg)
    assert tree(tmp_path) == before
    if target in ('notebook_itself', 'results_json'):                              # --overwrite never replaces those
        assert 'notebook itself' in refused(*args, '--overwrite') or 'not an .html file' in refused(*args, '--overwrite')
        assert tree(tmp_path) == before
    else:
        from adnb.cli import main
        main([*map(str, args), '--overwrite']); assert '42' in out.read_text()     # asked for: replaced

def test_fit_onto_existing_model_refused_before_work(tmp_path, puck, monkeypatch):
    "`adnb fit --out EXISTING` is refused before any image is read (not after fitting); --overwrite replaces it."
    import adnb.predict
    def no_work(*a, **k): raise AssertionError('images were read before the refusal')
    monkeypatch.setattr(adnb.predict, 'list_images', no_work)
    (tmp_path/'m.pt').write_text('mine')
    msg = refused('fit', 'padim', '--normal', puck/'train'/'good', '--out', tmp_path/'m.pt', '--image-size', '64', '--d', '10')
    assert msg == f"adnb: {tmp_path/'m.pt'} exists; nothing was written: choose another name or pass --overwrite (overwrite=True) to replace it"
    assert (tmp_path/'m.pt').read_text() == 'mine'

def test_predict_does_not_replace_files_it_did_not_make(tmp_path, fitted_padim, puck):
    "A file in --out with a name the prediction would write (and no earlier prediction listing it) is never replaced."
    (tmp_path/'P').mkdir(); (tmp_path/'P'/'000_map.png').write_text('mine')
    msg = refused('predict', fitted_padim, puck/'test'/'good'/'000.png', '--out', tmp_path/'P', '--overwrite')
    assert str(tmp_path/'P'/'000_map.png') in msg and (tmp_path/'P'/'000_map.png').read_text() == 'mine'
    assert sorted(p.name for p in (tmp_path/'P').iterdir()) == ['.adnb-predict.lock', '000_map.png']

def test_write_results_never_half_written(tmp_path, monkeypatch):
    "results.json is written last and atomically: a write that fails leaves neither a truncated results.json nor a temporary file."
    from adnb.experiment import write_results
    import adnb.files as files
    real = files._sync
    def boom(p): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(files, '_sync', boom)
    (tmp_path/'run').mkdir()
    with pytest.raises(OSError, match='No space left'): write_results('x', {}, [dict(a=1)], tmp_path/'run', env={})
    assert list((tmp_path/'run').iterdir()) == []
    monkeypatch.setattr(files, '_sync', real)
    assert write_results('x', {}, [dict(a=1)], tmp_path/'run', env={}).name == 'results.json'

# --- killed runs that look finished ------------------------------------------------------------------------------------
def test_run_status_one_answer(tmp_path):
    "`run_status` is the rule: name, run.json, results.json, the notebook's cell states; each failure has its reason."
    from adnb.runs import run_status
    run = tmp_path/'patchcore'/'20260101-000000'
    report_nb(run/'patchcore.ipynb', ['completed', 'completed'])
    (run/'results.json').write_text('{}')
    assert run_status(run) == (False, 'no readable run.json (adnb writes it last, when a run finished)')
    (run/'run.json').write_text(json.dumps(dict(status='done', experiment='patchcore')))
    assert run_status(run)[0] is True
    report_nb(run/'patchcore.ipynb', ['completed', 'running'])
    assert run_status(run) == (False, 'code cell 2 of 2 is running (papermill), so the run stopped there')
    report_nb(run/'patchcore.ipynb', ['completed', 'completed'], exception=True)
    assert run_status(run) == (False, 'papermill recorded an error in the notebook')
    part = run.rename(run.with_name(run.name + '.partial'))
    assert run_status(part)[1].startswith('its name ends in .partial')

@pytest.mark.parametrize('how', ['partial_folder', 'cells_pending'])
def test_export_of_killed_run_refused(tmp_path, how, capsys):
    "`adnb export` of a SIGKILLed run (a .partial folder, or cells left pending) is refused; --partial marks it on its first line."
    from adnb.cli import main
    folder = tmp_path/'patchcore'/('20260101-000000.partial' if how == 'partial_folder' else '20260101-000000')
    nb = report_nb(folder/'patchcore.ipynb', ['completed', 'completed' if how == 'partial_folder' else 'pending'])
    (folder/'results.json').write_text('{}'); (folder/'parameters.json').write_text('{}')
    msg = refused('export', nb, '-o', tmp_path/'x.html')
    assert msg.startswith(f'adnb: {nb} is from a run that did not finish (') and 'nothing was written' in msg and '--partial' in msg
    assert not (tmp_path/'x.html').exists()
    main(['export', str(nb), '-o', str(tmp_path/'x.html'), '--partial'])
    html = (tmp_path/'x.html').read_text()
    assert 'Partial run, not a finished report' in html and '42' in html and 'marked partial' in capsys.readouterr().out
    assert 'Partial run' not in nb.read_text()                                      # the run's own notebook is untouched

def test_kernel_died_names_partial_report(tmp_path):
    "A kernel killed mid-run (as the OOM killer does): 'the kernel died (out of memory?)', the cell, the partial report, marked died."
    from adnb.run import ExperimentError, run_experiment
    from adnb.runs import run_status
    from test_bad_input import tiny_nb
    nb = tiny_nb(tmp_path/'tiny.ipynb', ("import os, signal", "os.kill(os.getpid(), signal.SIGKILL)"))
    with pytest.raises(ExperimentError) as e: run_experiment(nb, {}, reports=tmp_path/'rep', progress=False)
    report = next((tmp_path/'rep'/'tiny').glob('*.partial/tiny.ipynb'))
    assert str(e.value).startswith("experiment tiny: the kernel died (out of memory?) in code cell 4 (section 'Results');")   # papermill injects a cell
    assert str(e.value).endswith(f'the partial report is {report}') and 'DeadKernelError' not in str(e.value)
    book = nbformat.read(report, as_version=4)
    assert book.metadata.adnb.status == 'died' and book.cells[0].source.startswith('**The kernel died**')
    assert run_status(report.parent)[0] is False

# --- tampered or foreign models ----------------------------------------------------------------------------------------
def _tamper(src:Path, dst:Path, fn)->Path:
    ck = torch.load(src, weights_only=True); fn(ck); torch.save(ck, dst); return dst

TAMPER = {   # case -> (change to the checkpoint dict, words the refusal must hold)
    'nan_bank': (lambda c: c['state_dict']['memory_bank'].__setitem__((0, 0), float('nan')), 'memory_bank holds 1 NaN or infinite value(s)'),
    'empty_bank': (lambda c: c['state_dict'].__setitem__('memory_bank', torch.zeros(0, 8)), 'memory_bank is empty'),
    'bank_1d': (lambda c: c['state_dict'].__setitem__('memory_bank', c['state_dict']['memory_bank'][0]), 'memory_bank has shape'),
    'bank_wrong_width': (lambda c: c['state_dict'].__setitem__('memory_bank', torch.zeros(5, 3)), 'does not fit its backbone'),
    'nan_threshold': (lambda c: c['config']['meta']['threshold'].__setitem__('image', float('nan')), 'threshold image is nan, not a finite number'),
    'text_threshold': (lambda c: c['config']['meta']['threshold'].__setitem__('pixel', '0.5'), "threshold pixel is '0.5', not a finite number"),
    'image_size_0': (lambda c: c['config']['meta'].__setitem__('image_size', 0), 'meta image_size is 0, not a positive multiple of 8'),
    'config_key_from_newer_version': (lambda c: c['config'].__setitem__('attention_pool', True), "setting(s) ['attention_pool'] that adnb"),
    'no_threshold': (lambda c: c['config']['meta'].pop('threshold'), 'holds no decision threshold'),
}

@pytest.mark.parametrize('case', list(TAMPER))
def test_tampered_model_refused(tmp_path, fitted_patchcore, puck, case):
    "A model.pt changed after `adnb fit` is refused with the file and the key named, before any image is scored."
    fn, words = TAMPER[case]
    bad = _tamper(fitted_patchcore, tmp_path/'bad.pt', fn)
    msg = refused('predict', bad, puck/'test'/'good'/'000.png', '--out', tmp_path/'P')
    assert msg.startswith(f'adnb: {bad}') and words in msg, msg
    assert not (tmp_path/'P').exists()

def test_tampered_padim_shapes_refused(tmp_path, fitted_padim):
    from adnb.predict import load_fitted
    bad = _tamper(fitted_padim, tmp_path/'bad.pt', lambda c: c['state_dict'].__setitem__('inv_cov', c['state_dict']['inv_cov'][:, :2, :2]))
    with pytest.raises(ValueError, match=r'inv_cov has shape .* but mean .* needs'): load_fitted(bad)

# --- images ------------------------------------------------------------------------------------------------------------
def test_gif_webp_jpe_beside_pngs_named(tmp_path, fitted_padim, puck, capsys):
    "Files not read are named with the reason; .jpe, .jfif and .webp are read (JPEG and WebP)."
    from adnb.cli import main
    d = tmp_path/'imgs'; d.mkdir(); img = Image.open(puck/'test'/'good'/'000.png').convert('RGB')
    img.save(d/'a.png'); img.save(d/'b.jpe', 'JPEG'); img.save(d/'c.webp', 'WEBP', lossless=True); img.save(d/'d.gif'); (d/'notes.txt').write_text('x')
    main(['predict', str(fitted_padim), str(d), '--out', str(tmp_path/'P')])
    err = capsys.readouterr().err
    assert f'adnb: warning: skipped 2 file(s) in {d}: d.gif (image format .gif is not read: convert to PNG); notes.txt (not image files)' in err
    rows = (tmp_path/'P'/'scores.csv').read_text().splitlines()
    assert len(rows) == 4 and all(n in ''.join(rows) for n in ('a.png', 'b.jpe', 'c.webp'))

def png_header(path, w, h):
    "A PNG that declares (w, h) but holds one row: PIL reads the size from it; decoding it would fail (it is never decoded)."
    import struct, zlib
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    Path(path).write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(b'\0' * (3 * w + 1))) + chunk(b'IEND', b''))
    return Path(path)

def test_huge_image_14000px_refused_by_name(tmp_path, fitted_padim, puck):
    "Over PIL's decompression-bomb limit: refused from the header, the file named, nothing decoded or written."
    d = tmp_path/'imgs'; d.mkdir(); Image.open(puck/'test'/'good'/'000.png').save(d/'a.png'); png_header(d/'big.png', 14000, 14000)
    msg = refused('predict', fitted_padim, d, '--out', tmp_path/'P')
    assert msg.startswith(f"adnb: image {d/'big.png'} is 14000x14000 px (196 Mpx), over the 89 Mpx limit") and not (tmp_path/'P').exists()
    msg = refused('fit', 'padim', '--normal', d, '--out', tmp_path/'m.pt')
    assert f"{d/'big.png'} is 14000x14000 px" in msg and not (tmp_path/'m.pt').exists()

def test_8000px_image_small_machine_refused_by_name(tmp_path, fitted_padim, monkeypatch):
    "An 8000 px image where memory is short (2 GiB free here, by monkeypatch): refused by name before decoding."
    import adnb.datasets as ds
    monkeypatch.setattr(ds, '_free_memory', lambda: 2 * 2**30)
    png_header(tmp_path/'8k.png', 8000, 8000)
    msg = refused('predict', fitted_padim, tmp_path/'8k.png', '--out', tmp_path/'P')
    assert msg.startswith(f"adnb: image {tmp_path/'8k.png'} is 8000x8000 px (64 Mpx): reading it needs about 9.5 GiB, more than the 2.0 GiB")
    monkeypatch.setattr(ds, '_free_memory', lambda: 2**30)                     # experiments read it too (24 bytes a pixel): 1 GiB free
    with pytest.raises(ds.DatasetError, match=r'8k.png is 8000x8000 px \(64 Mpx\): reading it needs about 1.4 GiB'): ds.read_image(tmp_path/'8k.png')

# --- checkpoints and paths in experiments and batches ------------------------------------------------------------------
PATH_NB = ("pretrained = ''\nsave_pretrained = 'ck.pt'", "SPECS = {'pretrained': 'path', 'save_pretrained': 'path'}",
           "import json, os\nopen(save_pretrained, 'w').write('ck')\n"
           "json.dump(dict(pretrained=pretrained, exists=os.path.exists(pretrained), checkpoint=os.path.abspath(save_pretrained)), open('results.json', 'w'))")

def path_nb(path:Path)->Path:
    "An experiment with a `path` parameter it reads (pretrained) and one it writes (save_pretrained, default beside the report)."
    p, s, b = (nbformat.v4.new_code_cell(x) for x in PATH_NB)
    p.metadata['tags'] = ['parameters']; s.metadata['tags'] = ['parameter-specs']
    nb = nbformat.v4.new_notebook(cells=[p, s, b], metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')))
    path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path); return path

def test_relative_pretrained_resolved_where_typed(tmp_path, monkeypatch):
    "`-p pretrained ck/p.pt` typed in a folder means that folder's file, not one under the run folder the kernel starts in."
    from adnb.run import run_experiment
    nb = path_nb(tmp_path/'exp'/'paths.ipynb'); (tmp_path/'work'/'ck').mkdir(parents=True); (tmp_path/'work'/'ck'/'p.pt').write_text('x')
    monkeypatch.chdir(tmp_path/'work')
    out = run_experiment(nb, dict(pretrained='ck/p.pt'), reports=tmp_path/'rep', progress=False)
    r = json.loads((out/'results.json').read_text())
    assert r['pretrained'] == str(tmp_path/'work'/'ck'/'p.pt') and r['exists'] is True
    assert r['checkpoint'] == str(out/'ck.pt') and (out/'ck.pt').exists()       # the default stays beside the report, renamed with it

def test_batch_checkpoint_path_not_in_deleted_temp_folder(tmp_path):
    "A path a batch run records inside its folder points at the run's final folder, not the deleted temporary one."
    from adnb.batch import run_batch
    nb = path_nb(tmp_path/'paths.ipynb')
    (tmp_path/'g.yaml').write_text(f"name: ck\nexperiments:\n  - experiment: {nb}\n")
    s = run_batch(tmp_path/'g.yaml', tmp_path/'b', progress=False)
    ck = json.loads((tmp_path/'b'/s['runs'][0]['folder']/'results.json').read_text())['checkpoint']
    assert ck == str((tmp_path/'b'/s['runs'][0]['folder']/'ck.pt').resolve()) and Path(ck).read_text() == 'ck'

def test_batch_two_runs_sharing_a_checkpoint_path_refused(tmp_path):
    "Two runs of a grid that would write one save_pretrained file: refused before any run, naming the file."
    nb = path_nb(tmp_path/'paths.ipynb')
    (tmp_path/'g.yaml').write_text(f"name: ck\nexperiments:\n  - experiment: {nb}\n    axes: {{pretrained: ['', '{tmp_path}']}}\n"
                                   f"    fixed: {{save_pretrained: {tmp_path/'shared.pt'}}}\n")
    msg = refused('batch', tmp_path/'g.yaml', '--root', tmp_path/'b')
    assert f"two runs would write the same save_pretrained {tmp_path/'shared.pt'}" in msg and not (tmp_path/'b').exists()

@pytest.mark.parametrize('name', ['../../escape', '../x', 'a/b', '.hidden', '..'])
def test_grid_name_with_dotdot_cannot_escape_reports(tmp_path, name):
    (tmp_path/'g.yaml').write_text(f"name: '{name}'\nexperiments:\n  - experiment: patchcore\n")
    for extra in ([], ['--dry-run']):
        msg = refused('batch', tmp_path/'g.yaml', *extra)
        assert f"name {name!r} must be a plain folder name" in msg
    assert not any(p.name == 'escape' for p in tmp_path.parent.parent.iterdir())

@pytest.mark.parametrize('n', [0, 1, 3])
def test_tsne_points_0_works(n):
    "`-p tsne_points 0` (allowed by its spec) and other tiny counts: a t-SNE figure that says why it is empty, no error."
    from adnb.viz import tsne_figure
    rng = np.random.default_rng(0)
    f = tsne_figure(rng.normal(0, 1, (40, 8)), np.r_[np.zeros(30), np.ones(10)], n)
    assert len(f.data) == 0 and f.layout.annotations[0].text.startswith(f't-SNE skipped: {n} patch feature(s)')

# --- concurrency -------------------------------------------------------------------------------------------------------
def test_two_predicts_into_one_out_refused(tmp_path, fitted_padim, puck):
    "While one `adnb predict` writes into --out (it holds the folder's lock), a second into the same --out is refused at once."
    from adnb.files import folder_lock
    with folder_lock(tmp_path/'P', 'adnb predict', '.adnb-predict.lock'):
        msg = refused('predict', fitted_padim, puck/'test'/'good', '--out', tmp_path/'P')
    assert msg == f"adnb: {tmp_path/'P'} is in use by another adnb predict (pid {os.getpid()}); wait for it to finish or choose another folder"
    assert [p.name for p in (tmp_path/'P').iterdir()] == ['.adnb-predict.lock']

def _make(root): from adnb.run import make_report_dir; return str(make_report_dir(root, 'x', partial=True))

def test_report_folder_creation_race(tmp_path):
    "60 report folders created at once by 6 processes in the same second: 60 distinct folders, no error."
    import multiprocessing as mp
    with mp.get_context('fork').Pool(6) as pool: made = pool.map(_make, [tmp_path]*60)
    assert len(set(made)) == 60 and len(list((tmp_path/'x').iterdir())) == 60

# --- also --------------------------------------------------------------------------------------------------------------
def test_image_metrics_length_mismatch():
    from adnb.metrics import MetricError, image_metrics
    with pytest.raises(MetricError, match='image_metrics got 3 image scores but 2 labels'): image_metrics([.1, .5, .9], [0, 1])
    with pytest.raises(MetricError, match='1-D'): image_metrics(np.zeros((2, 2)), [0, 1])

def test_run_main_shim_removed():
    "The engine does not import the CLI (the last import circle): `adnb.run.main` is gone; `adnb` is `adnb.cli:main`."
    import adnb.run, tomllib
    assert not hasattr(adnb.run, 'main') and 'adnb.cli' not in Path(adnb.run.__file__).read_text()
    assert tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['scripts']['adnb'] == 'adnb.cli:main'

# --- cases the second fault audit (benchmarks/fault_audit.py, reports/records/fault_audit.json) found ----------------
def test_predict_refuses_a_bank_of_integers(tmp_path, fitted_patchcore):
    "A model.pt whose PatchCore bank holds integers (tampered) is refused with the file named, before any image is scored."
    import torch
    from adnb.predict import load_fitted
    ck = torch.load(fitted_patchcore, weights_only=False); ck['state_dict']['memory_bank'] = ck['state_dict']['memory_bank'].long()
    torch.save(ck, tmp_path/'bad.pt')
    with pytest.raises(ValueError, match=r'bad\.pt.*memory_bank holds torch\.int64'): load_fitted(tmp_path/'bad.pt')

def test_fit_negative_seed_names_the_option(tmp_path):
    from adnb.predict import fit_folder
    with pytest.raises(ValueError, match=r'seed \(--seed\) must be a non-negative integer, got -1'):
        fit_folder('padim', tmp_path, tmp_path/'m.pt', seed=-1)
    assert not (tmp_path/'m.pt').exists()
