import os
# OpenMP threads (torch, scikit-learn's t-SNE) that find no free core sleep instead of spinning: on a busy machine a spinning
# 2-thread t-SNE of 200 points took 34 s of CPU (8 min wall) against 1.6 s passive; the kernels the tests start inherit it
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'data'
MVTEC_256 = SHARED/'mvtec_ad_256'
MVTEC_XS = SHARED/'mvtec_ad_xs'

needs_bottle = pytest.mark.skipif(not (MVTEC_256/'bottle').is_dir(), reason=f'shared MVTec AD bottle not found at {MVTEC_256}')
needs_xs = pytest.mark.skipif(not (MVTEC_XS/'bottle').is_dir(), reason=f'shared MVTec AD xs bottle not found at {MVTEC_XS}')

@pytest.fixture(autouse=True)
def _isolate_settings(tmp_path, monkeypatch):
    "Tests never read the developer's settings.ini: an empty one in a temp dir, embedded data under tmp."
    s = tmp_path/'settings.ini'; s.write_text('[data]\n')
    monkeypatch.setenv('ADNB_SETTINGS', str(s))
    monkeypatch.setenv('ADNB_EMBEDDED', str(tmp_path/'embedded'))


def squares_folder(root, n_train=8, n_good=3, n_bad=3, size=64, seed=0):
    "A tiny plain-folder dataset (normal/, good/, bad/), no masks: grey noisy normals; anomalies carry a white 24 px square."
    rng = np.random.default_rng(seed)
    def img(bad):
        a = (128 + rng.normal(0, 4, (size, size, 3))).clip(0, 255).astype(np.uint8)
        if bad: a[20:44, 20:44] = 255
        return a
    for d, n, bad in (('normal', n_train, False), ('good', n_good, False), ('bad', n_bad, True)):
        (root/d).mkdir(parents=True)
        for i in range(n): Image.fromarray(img(bad)).save(root/d/f'{i:03d}.png')
    return root


def child_venv(path):
    """A venv whose python sees the packages of the interpreter running the tests, wherever they are installed (a venv, a
    conda env or the base interpreter), and nothing installed in editable mode: no system site-packages (which would
    be the *base* interpreter's, not the current venv's), and a .pth file listing this interpreter's site-packages
    folders as plain paths (their own .pth files, such as an editable adnb, are not run). Returns (python, site-packages)."""
    import subprocess, sys, venv
    venv.create(path, system_site_packages=False, with_pip=False, symlinks=os.name != 'nt')
    py = Path(path)/('Scripts/python.exe' if os.name == 'nt' else 'bin/python')
    site = Path(subprocess.check_output([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip())
    parents = [p for p in dict.fromkeys(sys.path) if p and Path(p).is_dir() and Path(p).name in ('site-packages', 'dist-packages')
               and Path(p).resolve() != site.resolve()]
    (site/'_adnb_tests_parent_env.pth').write_text(''.join(f'{p}\n' for p in parents))
    return py, site


@pytest.fixture(scope='session')
def puck(tmp_path_factory):
    "The embedded dataset's puck category (128 px images), made once per session."
    from adnb.datasets import make_embedded
    return make_embedded(tmp_path_factory.mktemp('emb'))/'puck'

@pytest.fixture(scope='session')
def fitted_padim(puck, tmp_path_factory):
    "A PaDiM fitted by `adnb fit` on the puck's good images (64 px, 30 channels, random weights): its model.pt, shared by the tests."
    from adnb.predict import fit_folder
    out = tmp_path_factory.mktemp('padim')/'m.pt'
    fit_folder('padim', puck/'train'/'good', out, image_size=64, d=30, weights='random'); return out

@pytest.fixture(scope='session')
def fitted_patchcore(puck, tmp_path_factory):
    "A PatchCore fitted by `adnb fit` on the puck's good images (64 px, random weights): its model.pt, shared by the tests."
    from adnb.predict import fit_folder
    out = tmp_path_factory.mktemp('patchcore')/'m.pt'
    fit_folder('patchcore', puck/'train'/'good', out, image_size=64, weights='random'); return out
