import os
from pathlib import Path
import pytest

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
