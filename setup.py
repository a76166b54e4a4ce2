"""Build step: ship the experiment notebooks inside the package, so `adnb run NAME` works after a plain `pip install .`.

`nbs/experiments/*.ipynb` are copied into the build folder as `adnb/experiments/*.ipynb` (package data of the wheel);
nothing is written into the source `adnb/` folder. Editable installs skip the copy: they use the checkout's notebooks.
Everything else about the package is declared in pyproject.toml."""
from pathlib import Path
import shutil
from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
EXPERIMENTS = HERE/'nbs'/'experiments'

class build_py_with_experiments(build_py):
    "build_py, plus the experiment notebooks as adnb/experiments/*.ipynb in the build folder."
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False): return
        nbs = sorted(EXPERIMENTS.glob('*.ipynb'))
        if not nbs: raise SystemExit(f'adnb build: no experiment notebooks in {EXPERIMENTS}; the wheel would lack `adnb run` experiments')
        dest = Path(self.build_lib)/'adnb'/'experiments'
        dest.mkdir(parents=True, exist_ok=True)
        for nb in nbs: shutil.copy2(nb, dest/nb.name)

    def get_outputs(self, include_bytecode=True):
        extra = [] if getattr(self, 'editable_mode', False) else [str(Path(self.build_lib)/'adnb'/'experiments'/p.name) for p in EXPERIMENTS.glob('*.ipynb')]
        return super().get_outputs(include_bytecode) + extra

class sdist_with_experiments(sdist):
    "sdist, plus nbs/experiments/*.ipynb so a wheel built from the sdist has them too."
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, [*files, *(str(p.relative_to(HERE)) for p in sorted(EXPERIMENTS.glob('*.ipynb')))])

setup(cmdclass={'build_py': build_py_with_experiments, 'sdist': sdist_with_experiments})
