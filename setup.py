"""Build step: ship the notebooks `adnb` executes inside the package, so `adnb run NAME` and `adnb report` work after a
plain `pip install .`.

- `nbs/experiments/*.ipynb` -> `adnb/experiments/*.ipynb` (required: a wheel without them cannot run experiments);
- `nbs/reports/*.ipynb` -> `adnb/reports/*.ipynb` (the `adnb report` notebook) and
  `reports/paper_tables/*.csv` -> `adnb/paper_tables/*.csv` (the papers' numbers it compares with) and
  `grids/*.yaml` -> `adnb/grids/*.yaml` (the example grids of `adnb batch`), when present.

They are copied into the build folder (package data of the wheel); nothing is written into the source `adnb/` folder.
Editable installs skip the copy: they use the checkout's files. Everything else is declared in pyproject.toml."""
from pathlib import Path
import shutil
from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
EXPERIMENTS = HERE/'nbs'/'experiments'
# (source folder, glob, folder inside the adnb package, required)
SHIPPED = ((EXPERIMENTS, '*.ipynb', 'experiments', True),
           (HERE/'nbs'/'reports', '*.ipynb', 'reports', False),
           (HERE/'reports'/'paper_tables', '*.csv', 'paper_tables', False),
           (HERE/'grids', '*.yaml', 'grids', False))

def _files(src:Path, pattern:str)->list[Path]: return sorted(src.glob(pattern))

class build_py_with_experiments(build_py):
    "build_py, plus the experiment and report notebooks and the paper tables inside the build folder's adnb/."
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False): return
        for src, pattern, name, required in SHIPPED:
            fs = _files(src, pattern)
            if not fs and required: raise SystemExit(f'adnb build: no {pattern} in {src}; the wheel would lack `adnb run` experiments')
            dest = Path(self.build_lib)/'adnb'/name
            if fs: dest.mkdir(parents=True, exist_ok=True)
            for f in fs: shutil.copy2(f, dest/f.name)

    def get_outputs(self, include_bytecode=True):
        if getattr(self, 'editable_mode', False): return super().get_outputs(include_bytecode)
        extra = [str(Path(self.build_lib)/'adnb'/name/f.name) for src, pattern, name, _ in SHIPPED for f in _files(src, pattern)]
        return super().get_outputs(include_bytecode) + extra

class sdist_with_experiments(sdist):
    "sdist, plus the shipped notebooks and tables, so a wheel built from the sdist has them too."
    def make_release_tree(self, base_dir, files):
        extra = [str(f.relative_to(HERE)) for src, pattern, _, _ in SHIPPED for f in _files(src, pattern)]
        super().make_release_tree(base_dir, [*files, *extra])

setup(cmdclass={'build_py': build_py_with_experiments, 'sdist': sdist_with_experiments})
