"""`--model-source release`: a version's model from its GitHub release, and why it is trusted.

promote.yml (and deploy.yml, for a version that has none yet) publishes the release
`model@vX.Y.Z` with the model the gate judged, `model.skops`, and its `model.json`. That is CI's
rebuild of the version's commit (`dvc repro --force`), which equals the committed model (the one
in the DVC remote, whose md5 dvc.lock records) only when CI reproduced it byte for byte. So for
a release asset the authority is **the sha256 in the version's annotated tag message**
(`model sha256: …`, written by `gitml promote` from the judged bytes), not dvc.lock:

1. the assets model.skops and model.json of release `model@VERSION` (gitml.io.github_release);
2. the file's sha256 must equal model.json's `model_sha256` (the two assets belong together);
3. when the tag records a sha256, the file's must equal it: a release whose assets were replaced
   after promote published them is refused. The md5 against dvc.lock is then not required (CI's
   file may differ from the committed one and still be the judged one);
4. when the tag records none (registered by hand, or by an older gitml), nothing vouches for
   a rebuilt file: its md5 must equal the one dvc.lock records at the version's commit (the file
   is the committed one), else it is refused.

The caller (gitml.serve.resolve) then checks model.json's schema hash against the schema at the
version's commit and the input contract, and loads the file with skops' allowlist, as for a
model read through DVC.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gitml import layout
from gitml.core.model_meta import ModelMeta
from gitml.errors import DataError
from gitml.io.git import locked_md5
from gitml.io.github_release import download_assets
from gitml.registry import versions as registry
from gitml.registry.servable import recorded_identity


def release_tag(version: str) -> str:
    return f"{registry.ARTIFACT}@{registry.normalise_version(version)}"


def model_from_release(
    repo: Path, found: registry.ModelVersion, github_repo: str
) -> tuple[bytes, bytes]:
    """(model.skops, model.json) of the version's release, checked as the module says."""
    tag = release_tag(found.version)
    model_name, meta_name = layout.MODEL.name, layout.MODEL_META.name
    assets = download_assets(github_repo, tag, (model_name, meta_name))
    raw, meta_raw = assets[model_name], assets[meta_name]
    where = f"release {tag} of {github_repo}"
    meta = ModelMeta.parse(meta_raw, f"{meta_name} of {where}")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != meta.model_sha256:
        raise DataError(
            f"{model_name} of {where} has sha256 {actual[:12]}…, but the release's {meta_name} "
            f"records {str(meta.model_sha256)[:12]}…: the assets do not belong together. "
            "Re-publish the release from the promote run's artifact, or serve with "
            "--model-source dvc"
        )
    recorded = recorded_identity(repo, found.version).sha256
    if recorded is not None:
        if actual != recorded:
            raise DataError(
                f"{model_name} of {where} has sha256 {actual[:12]}…, not the {recorded[:12]}… "
                f"recorded in the tag {tag}: not the model the gate judged (the release was "
                "changed after promote published it). Re-publish it from the promote run's "
                "artifact, or serve with --model-source dvc"
            )
        return raw, meta_raw
    locked = locked_md5(repo, found.commit, layout.MODEL)
    md5 = hashlib.md5(raw).hexdigest()  # DVC's content hash, not a security hash here
    if md5 != locked:
        raise DataError(
            f"the tag {tag} records no model sha256 and {model_name} of {where} is not the "
            f"committed model (md5 {md5[:12]}… vs dvc.lock's {str(locked)[:12]}…): nothing "
            "vouches for it. Serve with --model-source dvc, or register the version with "
            "`gitml promote` (which records the sha256)"
        )
    return raw, meta_raw
