"A plain (non-editable) install works outside the checkout: the wheel ships the experiment notebooks."
import json, os, shutil, subprocess, sys, venv
from pathlib import Path
import pytest
from conftest import ROOT, child_venv

pytestmark = pytest.mark.slow

def _source_copy(dest:Path)->Path:
    "The files a build needs, copied out of the checkout so the build leaves no build/ or egg-info in it."
    for f in ('pyproject.toml', 'setup.py', 'README.md'): shutil.copy2(ROOT/f, dest/f)
    ign = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints')
    shutil.copytree(ROOT/'adnb', dest/'adnb', ignore=ign)
    shutil.copytree(ROOT/'nbs'/'experiments', dest/'nbs'/'experiments', ignore=ign)
    shutil.copytree(ROOT/'nbs'/'reports', dest/'nbs'/'reports', ignore=ign)
    shutil.copytree(ROOT/'grids', dest/'grids', ignore=ign)
    shutil.copytree(ROOT/'reports'/'paper_tables', dest/'reports'/'paper_tables', ignore=shutil.ignore_patterns('build', '__pycache__'))
    return dest

def test_wheel_install_runs_outside_checkout(tmp_path):
    (tmp_path/'src').mkdir(); src = _source_copy(tmp_path/'src')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path/'dist'), str(src)],
                   check=True, capture_output=True, text=True)
    whl = next((tmp_path/'dist').glob('adnb-*.whl'))
    import zipfile
    names = zipfile.ZipFile(whl).namelist()
    shipped = sorted(n for n in names if n.startswith('adnb/experiments/'))
    assert shipped == sorted(f'adnb/experiments/{p.name}' for p in (ROOT/'nbs'/'experiments').glob('*.ipynb'))
    assert 'adnb/reports/index.ipynb' in names and 'adnb/grids/ci.yaml' in names   # the `adnb report` notebook, example grids
    assert sorted(n for n in names if n.startswith('adnb/paper_tables/')) == sorted(f'adnb/paper_tables/{p.name}' for p in (ROOT/'reports'/'paper_tables').glob('*.csv'))
    py, site = child_venv(tmp_path/'venv'); adnb = py.parent/'adnb'           # sees this interpreter's packages (venv or conda), not the base's
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(py), 'install', '--no-deps', '--ignore-installed', '-q', str(whl)],
                   check=True, capture_output=True, text=True)
    cwd = tmp_path/'elsewhere'; cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'} | {'ADNB_EXPERIMENTS': ''}   # nothing may point back at the checkout
    where = subprocess.run([str(py), '-c', 'import adnb, adnb.run; print(adnb.__file__); print(adnb.run.experiments_dir())'],
                           cwd=cwd, capture_output=True, text=True, check=True, env=env).stdout.split()
    assert where == [str(site/'adnb'/'__init__.py'), str(site/'adnb'/'experiments')]   # the wheel's adnb, not the checkout's
    ls = subprocess.run([str(adnb), 'list'], cwd=cwd, capture_output=True, text=True, env=env)
    assert ls.returncode == 0 and f"patchcore  ({site/'adnb'/'experiments'/'patchcore.ipynb'})" in ls.stdout.splitlines()
    r = subprocess.run([str(adnb), 'run', 'patchcore', '-p', 'image_size', '64', '-p', 'n_gallery', '2', '-p', 'tsne_points', '200',
                        '--no-progress'], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = next((cwd/'reports'/'patchcore').glob('*/results.json'))
    j = json.loads(res.read_text())
    assert j['experiment'] == 'patchcore' and j['params']['image_size'] == 64 and 0 <= j['results'][0]['image_auroc'] <= 1

def test_sdist_carries_experiments(tmp_path):
    "A wheel built from the sdist (what `python -m build` does by default) ships the notebooks too."
    (tmp_path/'src').mkdir(); src = _source_copy(tmp_path/'src')
    subprocess.run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(tmp_path/'dist'), str(src)],
                   check=True, capture_output=True, text=True)
    import tarfile, zipfile
    sd = [n for n in tarfile.open(next((tmp_path/'dist').glob('adnb-*.tar.gz'))).getnames() if n.endswith('.ipynb')]
    wh = [n for n in zipfile.ZipFile(next((tmp_path/'dist').glob('adnb-*.whl'))).namelist() if n.endswith('.ipynb')]
    names = sorted(p.name for p in (ROOT/'nbs'/'experiments').glob('*.ipynb'))
    assert sorted(Path(n).name for n in sd) == sorted([*names, 'index.ipynb'])
    assert sorted(wh) == sorted([*(f'adnb/experiments/{n}' for n in names), 'adnb/reports/index.ipynb'])
