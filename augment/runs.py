"""The run directory: atomic writes, content hashes, and the manifest that makes stages resumable.

A stage is recorded in manifest.json with the hash of its inputs and the files it wrote. A rerun
skips a stage whose record matches and whose outputs still exist, so a crash loses at most the
stage that was running; every file appears under its final name only once it is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from augment.errors import UserError

MANIFEST = "manifest.json"
SPLIT_NAMES = ("train", "validation", "test")
STAGES = ("tabular", "text", "synthesize")  # after prepare, in order; each depends on the ones before
TABULAR_DIR = "models/tabular"
TEXT_DIR = "models/text"
STAGE_FOLDERS = {"tabular": (TABULAR_DIR,), "text": (TEXT_DIR,), "synthesize": ("rounds", "report")}
# Columns this tool adds to synthetic rows (provenance, filter scores): an input may not carry them.
PROVENANCE_COLUMNS = ("is_synthetic", "generator", "synthetic_id", "score_p_real")
SCORE_COLUMNS = ("admission_probability", "text_ngram_overlap", "text_rating", "distance_to_closest_train",
                 "reject_reason", "admitted")
RESERVED_COLUMNS = frozenset(PROVENANCE_COLUMNS + SCORE_COLUMNS)
TEMPORARY = re.compile(r"^\..*?[.-](?P<host>\w+)-(?P<pid>\d+)\.\w+(\.tmp)?$")  # see _owner
VERSIONED_PACKAGES = ("behavior-augment", "numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch",
                      "transformers", "peft")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{_owner()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's owner-only mode would hide the output from other users
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename == str(tmp):  # name the user's path, not our hidden temporary
            exc.filename = str(path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def staging_folder(parent: str | Path, prefix: str) -> Path:
    """A new hidden folder in `parent` to fill and then rename into place, with a plain folder's mode."""
    staging = Path(tempfile.mkdtemp(prefix=f"{prefix}{_owner()}.", dir=parent))
    os.chmod(staging, 0o777 & ~_umask())
    return staging


def _owner() -> str:
    """host-pid, in every temporary's name, so a later run can tell a dead writer's leftovers."""
    return f"{_host()}-{os.getpid()}"


def _host() -> str:
    return re.sub(r"\W", "_", socket.gethostname())


def remove_stale_temporaries(folder: str | Path, recursive: bool = True) -> int:
    """Remove temporaries (files and staging folders) left in `folder` by processes of this host that
    no longer run (a kill during a save); those of live processes or other hosts are left alone."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    host = _host()
    removed = 0
    for path in list(folder.rglob(".*") if recursive else folder.glob(".*")):
        match = TEMPORARY.match(path.name)
        if not match or match["host"] != host or _alive(int(match["pid"])):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically: a reader sees the old file or the new one, never a part."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def value_hash(value: Any) -> str:
    """A stable hash of any JSON-able value (configs, input hashes) for stage records."""
    text = json.dumps(value, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def peak_memory_mb(reset: bool = False) -> float | None:
    """This process's peak resident memory in MB since it started or since the last reset (Linux's
    VmHWM; None elsewhere). `reset` starts a new peak, so each stage's record holds its own."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    peak = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    if reset:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux 4.0 and later)
    return round(int(peak) / 1024, 1) if peak else None


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on, for provenance."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def provenance(inputs: dict[str, str | Path] | None = None) -> dict[str, Any]:
    """How a result came about: the command line, the date, this tool's and its packages' versions,
    and each input file's absolute path and sha256 (DataFrames and missing files are skipped)."""
    from augment import __version__

    return {
        "command": sys.argv,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tool_version": __version__,
        "versions": package_versions(),
        "inputs": {name: {"path": str(Path(path).resolve()), "sha256": file_hash(path)}
                   for name, path in (inputs or {}).items() if isinstance(path, str | Path) and Path(path).is_file()},
    }


class RunDir:
    """One run's folder and its manifest."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def file(self, *parts: str) -> Path:
        return self.path.joinpath(*parts)

    @property
    def manifest_path(self) -> Path:
        return self.file(MANIFEST)

    def manifest(self) -> dict[str, Any]:
        if self.manifest_path.is_file():
            return read_json(self.manifest_path)
        return {"stages": {}}

    def update_manifest(self, **fields: Any) -> None:
        manifest = self.manifest()
        manifest.update(fields)
        manifest.setdefault("versions", package_versions())
        manifest.setdefault("command", sys.argv)
        write_json(self.manifest_path, manifest)

    def stage_is_current(self, stage: str, inputs_hash: str) -> bool:
        """True when `stage` finished with these inputs and all its outputs are still present."""
        record = self.manifest().get("stages", {}).get(stage)
        if not record or record.get("inputs_hash") != inputs_hash or record.get("status") != "done":
            return False
        return all(self.file(name).exists() for name in record.get("outputs", []))

    def record_stage(self, stage: str, inputs_hash: str, outputs: list[str], started: float, **info: Any) -> None:
        manifest = self.manifest()
        manifest.setdefault("stages", {})[stage] = {
            "status": "done",
            "inputs_hash": inputs_hash,
            "outputs": outputs,
            "seconds": round(time.time() - started, 2),
            "peak_rss_mb": peak_memory_mb(reset=True),
            **info,
        }
        manifest["versions"] = package_versions()
        write_json(self.manifest_path, manifest)

    def invalidate_stages(self, stages: tuple[str, ...]) -> None:
        """Forget `stages` and remove what they wrote: they were fit on data that is no longer the run's."""
        manifest = self.manifest()
        records = manifest.get("stages", {})
        dropped = [name for name in stages if name in records]
        for name in dropped:
            for output in records.pop(name).get("outputs", []):
                self.file(output).unlink(missing_ok=True)
        for name in stages:
            for folder in STAGE_FOLDERS[name]:
                shutil.rmtree(self.file(folder), ignore_errors=True)
        if dropped:
            write_json(self.manifest_path, manifest)

    def own_files(self) -> list[Path]:
        """Every file and folder the run's stages wrote (and the manifest): no output may replace one."""
        stages = self.manifest().get("stages", {})
        names = {MANIFEST, "schema.json", "preprocess.json", "split", "models", "rounds", "report"}
        names.update(output for record in stages.values() for output in record.get("outputs", []))
        return [self.file(name) for name in sorted(names)]

    def refuse_own(self, path: str | Path, flag: str = "--out") -> None:
        """A UserError if `path` is, or lies inside, one of the run's own files."""
        target = Path(path).resolve()
        for own in self.own_files():
            own = own.resolve()
            if target == own or own in target.parents:
                raise UserError(f"{flag} {path}: is the run's own {own.relative_to(self.path.resolve())}; "
                                "write the output elsewhere")

    def require(self, *parts: str, hint: str) -> Path:
        path = self.file(*parts)
        if not path.exists():
            raise UserError(f"{path}: not found; {hint}")
        return path
